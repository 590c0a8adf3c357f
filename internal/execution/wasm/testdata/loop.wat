;; An endless loop, and a loop of n iterations, for fuel tests.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "mica_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "mica_execute_operation") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))
  ;; counts down from the u32 at the input pointer
  (func (export "mica_finalize") (param $p i32) (param i32) (result i32)
    (local $i i32)
    (local.set $i (i32.load (local.get $p)))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.const 0))
  ;; grows memory by the u32 at the input pointer, traps if that fails
  (func (export "mica_instantiate") (param $p i32) (param i32) (result i32)
    (if (i32.eq (memory.grow (i32.load (local.get $p))) (i32.const -1))
      (then unreachable))
    (i32.const 0)))
