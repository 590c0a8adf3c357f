(module
  (memory (export "memory") 1000)
  (func (export "mica_alloc") (param i32) (result i32) (i32.const 0)))
