;; STAND-IN POLICY MODULE — not compiled from Rego, not produced by `opa build`.
;;
;; No `opa` binary can be installed on the machines these tests run on, so this
;; hand-written WebAssembly text implements the exports of OPA's policy ABI
;; (version 1.2) that @open-policy-agent/opa-wasm calls, with a small fixed
;; decision per entrypoint. It is assembled at test time with the `wabt` npm
;; package (see assemble.ts); no .wasm is ever committed.
;;
;; What it does NOT do: parse JSON. A "value" here is a box {ptr, len} around
;; the JSON text it was given, and the decisions look at the raw input bytes:
;; `standin/allow` is true iff the input text contains the byte sequence
;; "action":"read" — a key/value pair at any depth (inside a JSON string the
;; quotes would be escaped, so a header value cannot fake it). That is enough
;; to prove the sidecar's input reaches the policy and the answer comes back.
;;
;; Entrypoints (ids are what `entrypoints()` reports):
;;   0 standin/allow      boolean result, true iff "action":"read" is in the input
;;   1 standin/decision   OPA-Envoy style object: allow with headers, or deny 429 with reason/body
;;   2 standin/garbage    a string result (not a decision)
;;   3 standin/trap       executes `unreachable` (a WASM trap)
;;   4 standin/grow       allocates 1 MiB at a time until memory cannot grow; malloc then
;;                        calls opa_abort, as OPA's own allocator does
;;   5 standin/data       echoes the data document it was given
;;   6 standin/input      echoes the input document it was given
;;   7 standin/undefined  an empty result set (the rule is undefined)
;; Any other id aborts through opa_abort, like a real module.
(module
  (import "env" "memory" (memory 2))
  (import "env" "opa_abort" (func $opa_abort (param i32)))
  (import "env" "opa_println" (func $opa_println (param i32)))

  (global (export "opa_wasm_abi_version") i32 (i32.const 1))
  ;; assemble.ts rewrites this to 1 to exercise opa-wasm's pre-1.2 path
  ;; (opa_eval_ctx_* + eval) instead of the opa_eval fast path.
  (global (export "opa_wasm_abi_minor_version") i32 (i32.const 2))
  (global $heap (mut i32) (i32.const 8192))

  (data (i32.const 1024) "{\"standin/allow\":0,\"standin/decision\":1,\"standin/garbage\":2,\"standin/trap\":3,\"standin/grow\":4,\"standin/data\":5,\"standin/input\":6,\"standin/undefined\":7}\00")
  (data (i32.const 1536) "{}\00")
  (data (i32.const 1792) "\"action\":\"read\"\00")
  (data (i32.const 2048) "[{\"result\":true}]\00")
  (data (i32.const 2304) "[{\"result\":false}]\00")
  (data (i32.const 2560) "[{\"result\":{\"allowed\":true,\"headers\":{\"x-standin\":\"yes\"},\"response_headers_to_add\":{\"x-standin-resp\":\"1\"}}}]\00")
  (data (i32.const 3072) "[{\"result\":{\"allowed\":false,\"reason\":\"Not Readable!\",\"http_status\":429,\"headers\":{\"retry-after\":\"7\"},\"body\":\"nope\"}}]\00")
  (data (i32.const 3584) "[{\"result\":\"not a decision\"}]\00")
  (data (i32.const 3840) "[]\00")
  (data (i32.const 4096) "[{\"result\":\00")
  (data (i32.const 4352) "}]\00")
  (data (i32.const 4608) "null\00")
  (data (i32.const 4864) "opa_malloc: out of memory\00")
  (data (i32.const 5120) "standin: invalid entrypoint\00")

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; Bump allocator on the shared heap; grows memory when it must and aborts
  ;; when the host's memory maximum refuses to grow (the sidecar's cap).
  (func $malloc (export "opa_malloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $need i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (local.set $need
          (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)) (memory.size)))
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then (call $opa_abort (i32.const 4864)) (unreachable)))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "opa_free") (param $ptr i32))
  (func (export "opa_heap_ptr_get") (result i32) (global.get $heap))
  (func (export "opa_heap_ptr_set") (param $p i32) (global.set $heap (local.get $p)))

  (func $copy (param $dst i32) (param $src i32) (param $len i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i)) (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; A value: 8 bytes {text ptr, text len}.
  (func $box (param $ptr i32) (param $len i32) (result i32)
    (local $cell i32)
    (local.set $cell (call $malloc (i32.const 8)))
    (i32.store (local.get $cell) (local.get $ptr))
    (i32.store offset=4 (local.get $cell) (local.get $len))
    (local.get $cell))

  (func $static (param $ptr i32) (result i32)
    (call $box (local.get $ptr) (call $strlen (local.get $ptr))))

  (func $parse (export "opa_json_parse") (param $ptr i32) (param $len i32) (result i32)
    (call $box (local.get $ptr) (local.get $len)))
  (func (export "opa_value_parse") (param $ptr i32) (param $len i32) (result i32)
    (call $box (local.get $ptr) (local.get $len)))

  (func $dump (export "opa_json_dump") (param $cell i32) (result i32)
    (local $len i32) (local $dst i32)
    (local.set $len (i32.load offset=4 (local.get $cell)))
    (local.set $dst (call $malloc (i32.add (local.get $len) (i32.const 1))))
    (call $copy (local.get $dst) (i32.load (local.get $cell)) (local.get $len))
    (i32.store8 (i32.add (local.get $dst) (local.get $len)) (i32.const 0))
    (local.get $dst))
  (func (export "opa_value_dump") (param $cell i32) (result i32)
    (call $dump (local.get $cell)))

  ;; Patching values in place is not something a text box can do: report
  ;; OPA_ERR_INTERNAL (1). opa-wasm does not call these.
  (func (export "opa_value_add_path") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "opa_value_remove_path") (param i32 i32) (result i32) (i32.const 1))

  (func (export "builtins") (result i32) (call $static (i32.const 1536)))
  (func (export "entrypoints") (result i32) (call $static (i32.const 1024)))

  (func $contains (param $cell i32) (param $needle i32) (result i32)
    (local $hay i32) (local $hlen i32) (local $nlen i32) (local $i i32) (local $j i32)
    (if (i32.eqz (local.get $cell)) (then (return (i32.const 0))))
    (local.set $hay (i32.load (local.get $cell)))
    (local.set $hlen (i32.load offset=4 (local.get $cell)))
    (local.set $nlen (call $strlen (local.get $needle)))
    (if (i32.lt_u (local.get $hlen) (local.get $nlen)) (then (return (i32.const 0))))
    (block $notfound
      (loop $outer
        (br_if $notfound (i32.gt_u (local.get $i) (i32.sub (local.get $hlen) (local.get $nlen))))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nlen)) (then (return (i32.const 1))))
            (br_if $mismatch
              (i32.ne
                (i32.load8_u (i32.add (local.get $hay) (i32.add (local.get $i) (local.get $j))))
                (i32.load8_u (i32.add (local.get $needle) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  ;; [{"result": <value text or null>}]
  (func $wrap (param $cell i32) (result i32)
    (local $vptr i32) (local $vlen i32) (local $plen i32) (local $slen i32) (local $out i32)
    (if (i32.eqz (local.get $cell))
      (then (local.set $vptr (i32.const 4608)) (local.set $vlen (i32.const 4)))
      (else
        (local.set $vptr (i32.load (local.get $cell)))
        (local.set $vlen (i32.load offset=4 (local.get $cell)))))
    (local.set $plen (call $strlen (i32.const 4096)))
    (local.set $slen (call $strlen (i32.const 4352)))
    (local.set $out (call $malloc (i32.add (i32.add (local.get $plen) (local.get $vlen)) (local.get $slen))))
    (call $copy (local.get $out) (i32.const 4096) (local.get $plen))
    (call $copy (i32.add (local.get $out) (local.get $plen)) (local.get $vptr) (local.get $vlen))
    (call $copy (i32.add (local.get $out) (i32.add (local.get $plen) (local.get $vlen))) (i32.const 4352) (local.get $slen))
    (call $box (local.get $out) (i32.add (i32.add (local.get $plen) (local.get $vlen)) (local.get $slen))))

  (func $decide (param $ep i32) (param $input i32) (param $data i32) (result i32)
    (if (i32.eq (local.get $ep) (i32.const 0))
      (then (return
        (if (result i32) (call $contains (local.get $input) (i32.const 1792))
          (then (call $static (i32.const 2048)))
          (else (call $static (i32.const 2304)))))))
    (if (i32.eq (local.get $ep) (i32.const 1))
      (then (return
        (if (result i32) (call $contains (local.get $input) (i32.const 1792))
          (then (call $static (i32.const 2560)))
          (else (call $static (i32.const 3072)))))))
    (if (i32.eq (local.get $ep) (i32.const 2)) (then (return (call $static (i32.const 3584)))))
    (if (i32.eq (local.get $ep) (i32.const 3)) (then (unreachable)))
    (if (i32.eq (local.get $ep) (i32.const 4))
      (then (loop $more (drop (call $malloc (i32.const 1048576))) (br $more))))
    (if (i32.eq (local.get $ep) (i32.const 5)) (then (return (call $wrap (local.get $data)))))
    (if (i32.eq (local.get $ep) (i32.const 6)) (then (return (call $wrap (local.get $input)))))
    (if (i32.eq (local.get $ep) (i32.const 7)) (then (return (call $static (i32.const 3840)))))
    (call $opa_abort (i32.const 5120))
    (unreachable))

  ;; ABI 1.0/1.1 path: an evaluation context of 16 bytes {input, data, entrypoint, result}.
  (func (export "opa_eval_ctx_new") (result i32)
    (local $ctx i32)
    (local.set $ctx (call $malloc (i32.const 16)))
    (i32.store (local.get $ctx) (i32.const 0))
    (i32.store offset=4 (local.get $ctx) (i32.const 0))
    (i32.store offset=8 (local.get $ctx) (i32.const 0))
    (i32.store offset=12 (local.get $ctx) (i32.const 0))
    (local.get $ctx))
  (func (export "opa_eval_ctx_set_input") (param $ctx i32) (param $v i32)
    (i32.store (local.get $ctx) (local.get $v)))
  (func (export "opa_eval_ctx_set_data") (param $ctx i32) (param $v i32)
    (i32.store offset=4 (local.get $ctx) (local.get $v)))
  (func (export "opa_eval_ctx_set_entrypoint") (param $ctx i32) (param $ep i32)
    (i32.store offset=8 (local.get $ctx) (local.get $ep)))
  (func (export "opa_eval_ctx_get_result") (param $ctx i32) (result i32)
    (i32.load offset=12 (local.get $ctx)))
  (func (export "eval") (param $ctx i32) (result i32)
    (i32.store offset=12 (local.get $ctx)
      (call $decide
        (i32.load offset=8 (local.get $ctx))
        (i32.load (local.get $ctx))
        (i32.load offset=4 (local.get $ctx))))
    (i32.const 0))

  ;; ABI 1.2 fast path: input JSON already written at $input_ptr by the host;
  ;; returns the address of the result set as NUL-terminated JSON.
  (func (export "opa_eval")
    (param $reserved i32) (param $ep i32) (param $data i32) (param $input_ptr i32) (param $input_len i32)
    (param $heap_ptr i32) (param $format i32) (result i32)
    (local $input i32)
    (global.set $heap (local.get $heap_ptr))
    (if (i32.ne (local.get $input_len) (i32.const 0))
      (then (local.set $input (call $box (local.get $input_ptr) (local.get $input_len)))))
    (call $dump (call $decide (local.get $ep) (local.get $input) (local.get $data))))
)
