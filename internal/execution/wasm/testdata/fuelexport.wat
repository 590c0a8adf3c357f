(module
  (global (export "mica_fuel") i32 (i32.const 0))
  (memory (export "memory") 1)
  (func (export "mica_alloc") (param i32) (result i32) (i32.const 0)))
