(module
  (import "env" "open" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "mica_alloc") (param i32) (result i32) (i32.const 0)))
