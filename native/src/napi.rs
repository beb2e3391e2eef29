//! Small safe layer over the raw Node-API declarations in `sys::napi`.
//!
//! * Every status is turned into a `Result`.
//! * Errors are thrown as JS exceptions shaped like Node's own (`code`, `errno`, `syscall`, `path`).
//! * **No panic crosses the FFI boundary**: every exported callback is built by [`callback`],
//!   whose body runs inside `std::panic::catch_unwind` (the crate keeps `panic = "unwind"`).
//!   A caught panic becomes a thrown JS `Error` with code `ERR_SEGD_NATIVE_PANIC`.
//!   Finalizers run through [`guard_finalizer`], which swallows (and reports) a panic: a
//!   finalizer cannot throw. If a panic were to escape anyway, `extern "C"` makes Rust abort
//!   the process rather than unwind through Node's C++ frames (never UB).

use crate::sys::napi as sys;
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

pub use sys::{napi_env, napi_value};

/// Errors produced by the addon. Converted into a JS exception by [`throw`].
#[derive(Debug)]
pub enum Error {
    /// A JS exception is already pending (from a failed napi call): just return.
    Pending,
    /// A napi call failed with this status and no exception is pending.
    Status(&'static str, sys::napi_status),
    /// An OS error, shaped like Node's fs errors.
    Os { errno: i32, syscall: &'static str, path: Option<String> },
    /// `RangeError` with `code: 'ERR_OUT_OF_RANGE'`.
    Range(String),
    /// `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`.
    Type(String),
    /// Plain `Error` with a custom code.
    Custom { code: &'static str, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

#[inline]
fn check(what: &'static str, env: napi_env, status: sys::napi_status) -> Result<()> {
    if status == sys::NAPI_OK {
        return Ok(());
    }
    let mut pending = false;
    // SAFETY: env is the live env of the current callback; `pending` is a valid out pointer.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending || status == sys::NAPI_PENDING_EXCEPTION {
        Err(Error::Pending)
    } else {
        Err(Error::Status(what, status))
    }
}

/// The environment + arguments of one JS -> native call. Only lives for the call.
pub struct Cx {
    pub env: napi_env,
    args: [napi_value; 4],
    argc: usize,
}

impl Cx {
    pub fn arg(&self, i: usize) -> napi_value {
        if i < self.argc && i < self.args.len() {
            self.args[i]
        } else {
            ptr::null_mut()
        }
    }

    pub fn type_of(&self, v: napi_value) -> Result<sys::napi_valuetype> {
        if v.is_null() {
            return Ok(sys::NAPI_UNDEFINED);
        }
        let mut t = 0;
        // SAFETY: v is a live handle of this call's scope; t is a valid out pointer.
        check("napi_typeof", self.env, unsafe { sys::napi_typeof(self.env, v, &mut t) })?;
        Ok(t)
    }

    pub fn is_nullish(&self, v: napi_value) -> Result<bool> {
        let t = self.type_of(v)?;
        Ok(t == sys::NAPI_UNDEFINED || t == sys::NAPI_NULL)
    }

    pub fn f64_arg(&self, i: usize, name: &str) -> Result<f64> {
        let v = self.arg(i);
        if self.type_of(v)? != sys::NAPI_NUMBER {
            return Err(Error::Type(format!("The \"{name}\" argument must be of type number")));
        }
        let mut out = 0.0;
        // SAFETY: v is a number handle of this call's scope.
        check("napi_get_value_double", self.env, unsafe { sys::napi_get_value_double(self.env, v, &mut out) })?;
        Ok(out)
    }

    /// An optional boolean argument: absent, undefined or null is false.
    pub fn opt_bool_arg(&self, i: usize, name: &str) -> Result<bool> {
        let v = self.arg(i);
        if self.is_nullish(v)? {
            return Ok(false);
        }
        if self.type_of(v)? != sys::NAPI_BOOLEAN {
            return Err(Error::Type(format!("The \"{name}\" argument must be of type boolean")));
        }
        let mut out = false;
        // SAFETY: v is a boolean handle of this call's scope; out is a valid out pointer.
        check("napi_get_value_bool", self.env, unsafe { sys::napi_get_value_bool(self.env, v, &mut out) })?;
        Ok(out)
    }

    /// A non-negative safe integer argument (like Node's validateInteger).
    pub fn index_arg(&self, i: usize, name: &str) -> Result<u64> {
        let x = self.f64_arg(i, name)?;
        if !(x.is_finite() && x.fract() == 0.0 && (0.0..=9007199254740991.0).contains(&x)) {
            return Err(Error::Range(format!(
                "The value of \"{name}\" is out of range. It must be an integer >= 0 and <= 9007199254740991. Received {}",
                fmt_num(x)
            )));
        }
        Ok(x as u64)
    }

    /// Optional index: undefined/null -> default.
    pub fn opt_index_arg(&self, i: usize, name: &str, default: u64) -> Result<u64> {
        if self.is_nullish(self.arg(i))? {
            Ok(default)
        } else {
            self.index_arg(i, name)
        }
    }

    /// Optional uint32 seed.
    pub fn opt_u32_arg(&self, i: usize, name: &str) -> Result<u32> {
        if self.is_nullish(self.arg(i))? {
            return Ok(0);
        }
        let x = self.f64_arg(i, name)?;
        if !(x.is_finite() && x.fract() == 0.0 && (0.0..=4294967295.0).contains(&x)) {
            return Err(Error::Range(format!(
                "The value of \"{name}\" is out of range. It must be >= 0 and <= 4294967295. Received {}",
                fmt_num(x)
            )));
        }
        Ok(x as u32)
    }

    pub fn string_arg(&self, i: usize, name: &str) -> Result<String> {
        let v = self.arg(i);
        if self.type_of(v)? != sys::NAPI_STRING {
            return Err(Error::Type(format!("The \"{name}\" argument must be of type string")));
        }
        let mut len = 0usize;
        // SAFETY: null buffer + size 0 asks only for the length (documented behaviour).
        check("napi_get_value_string_utf8", self.env, unsafe {
            sys::napi_get_value_string_utf8(self.env, v, ptr::null_mut(), 0, &mut len)
        })?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        // SAFETY: buf has len+1 writable bytes, as announced in bufsize.
        check("napi_get_value_string_utf8", self.env, unsafe {
            sys::napi_get_value_string_utf8(self.env, v, buf.as_mut_ptr() as *mut c_char, buf.len(), &mut written)
        })?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| Error::Type(format!("The \"{name}\" argument is not valid UTF-8")))
    }

    /// The bytes of a TypedArray/Buffer argument, as (pointer, byte length). The memory is
    /// owned by V8 and stays valid for the duration of this call (no JS runs meanwhile).
    pub fn bytes_arg(&self, i: usize, name: &str) -> Result<(*mut u8, usize)> {
        let v = self.arg(i);
        let mut is_ta = false;
        if !v.is_null() {
            // SAFETY: v is a live handle; out pointer valid.
            check("napi_is_typedarray", self.env, unsafe { sys::napi_is_typedarray(self.env, v, &mut is_ta) })?;
        }
        if !is_ta {
            return Err(Error::Type(format!(
                "The \"{name}\" argument must be an instance of Buffer, TypedArray, or Uint8Array"
            )));
        }
        let mut ty = 0;
        let mut len = 0usize;
        let mut data: *mut c_void = ptr::null_mut();
        let mut ab: napi_value = ptr::null_mut();
        let mut off = 0usize;
        // SAFETY: v is a typed array (checked above); all out pointers are valid.
        check("napi_get_typedarray_info", self.env, unsafe {
            sys::napi_get_typedarray_info(self.env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off)
        })?;
        let elem = match ty {
            0..=2 => 1,  // int8, uint8, uint8_clamped
            3 | 4 => 2,  // int16, uint16
            5..=7 => 4,  // int32, uint32, float32
            _ => 8,      // float64, bigint64, biguint64
        };
        let bytes = len.checked_mul(elem).ok_or_else(|| Error::Range("typed array too large".into()))?;
        // `data` already includes byte_offset (documented). May be null for length 0.
        Ok((data as *mut u8, bytes))
    }

    pub fn external_arg(&self, i: usize) -> Result<*mut c_void> {
        let v = self.arg(i);
        if self.type_of(v)? != sys::NAPI_EXTERNAL {
            return Err(Error::Type("expected a native mapping handle".into()));
        }
        let mut p: *mut c_void = ptr::null_mut();
        // SAFETY: v is an external (checked above); out pointer valid.
        check("napi_get_value_external", self.env, unsafe { sys::napi_get_value_external(self.env, v, &mut p) })?;
        Ok(p)
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e21 {
        format!("{}", x as i128)
    } else {
        format!("{x}")
    }
}

// ---------- value constructors ----------

pub fn undefined(env: napi_env) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: env live, out pointer valid.
    check("napi_get_undefined", env, unsafe { sys::napi_get_undefined(env, &mut v) })?;
    Ok(v)
}

pub fn boolean(env: napi_env, b: bool) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: env live, out pointer valid.
    check("napi_get_boolean", env, unsafe { sys::napi_get_boolean(env, b, &mut v) })?;
    Ok(v)
}

pub fn number(env: napi_env, x: f64) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: env live, out pointer valid.
    check("napi_create_double", env, unsafe { sys::napi_create_double(env, x, &mut v) })?;
    Ok(v)
}

pub fn uint32(env: napi_env, x: u32) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: env live, out pointer valid.
    check("napi_create_uint32", env, unsafe { sys::napi_create_uint32(env, x, &mut v) })?;
    Ok(v)
}

pub fn string(env: napi_env, s: &str) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    // SAFETY: (ptr, len) describe a valid UTF-8 byte range; out pointer valid.
    check("napi_create_string_utf8", env, unsafe {
        sys::napi_create_string_utf8(env, s.as_ptr() as *const c_char, s.len(), &mut v)
    })?;
    Ok(v)
}

pub fn set(env: napi_env, obj: napi_value, name: &str, value: napi_value) -> Result<()> {
    let c = CString::new(name).map_err(|_| Error::Type("bad property name".into()))?;
    // SAFETY: obj/value are live handles; c is NUL-terminated.
    check("napi_set_named_property", env, unsafe { sys::napi_set_named_property(env, obj, c.as_ptr(), value) })
}

/// A JS Buffer copying nothing: length-0 Buffer (V8 dislikes external zero-length stores).
pub fn empty_buffer(env: napi_env) -> Result<napi_value> {
    let mut v = ptr::null_mut();
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: env live, out pointers valid.
    check("napi_create_buffer", env, unsafe { sys::napi_create_buffer(env, 0, &mut data, &mut v) })?;
    Ok(v)
}

/// An external value owning `Box<T>`; dropped by its finalizer on GC / env teardown.
pub fn external_box<T: 'static>(env: napi_env, value: Box<T>) -> Result<napi_value> {
    unsafe extern "C" fn fin<T>(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
        guard_finalizer(|| {
            // SAFETY: `data` is the pointer produced by Box::into_raw below, finalized exactly once.
            drop(unsafe { Box::from_raw(data as *mut T) });
        });
    }
    let raw = Box::into_raw(value);
    let mut v = ptr::null_mut();
    // SAFETY: raw is a valid heap pointer whose ownership passes to the finalizer on success.
    let st = unsafe { sys::napi_create_external(env, raw as *mut c_void, Some(fin::<T>), ptr::null_mut(), &mut v) };
    if let Err(e) = check("napi_create_external", env, st) {
        // SAFETY: creation failed, so the finalizer will never run: we still own raw.
        drop(unsafe { Box::from_raw(raw) });
        return Err(e);
    }
    Ok(v)
}

/// A Buffer viewing `len` bytes at `data`, kept alive by `owner` (dropped by the finalizer).
pub fn external_buffer<T: 'static>(env: napi_env, data: *mut u8, len: usize, owner: Box<T>) -> Result<napi_value> {
    unsafe extern "C" fn fin<T>(_env: napi_env, _data: *mut c_void, hint: *mut c_void) {
        guard_finalizer(|| {
            // SAFETY: hint is the Box::into_raw pointer below, finalized exactly once.
            drop(unsafe { Box::from_raw(hint as *mut T) });
        });
    }
    let raw = Box::into_raw(owner);
    let mut v = ptr::null_mut();
    // SAFETY: data..data+len stays valid until the finalizer drops `owner` (caller contract).
    let st = unsafe { sys::napi_create_external_buffer(env, len, data as *mut c_void, Some(fin::<T>), raw as *mut c_void, &mut v) };
    if let Err(e) = check("napi_create_external_buffer", env, st) {
        // SAFETY: creation failed, the finalizer will not run: we still own raw.
        drop(unsafe { Box::from_raw(raw) });
        return Err(e);
    }
    Ok(v)
}

// ---------- errors ----------

fn make_error(env: napi_env, err: &Error) -> Result<napi_value> {
    enum Kind {
        Error,
        Range,
        Type,
    }
    let (kind, code, message) = match err {
        Error::Pending => return Err(Error::Pending),
        Error::Status(what, st) => (Kind::Error, "ERR_SEGD_NAPI".to_string(), format!("{what} failed with napi_status {st}")),
        Error::Os { errno, syscall, path } => {
            let (code, desc) = crate::errno::describe(*errno);
            let msg = match path {
                Some(p) => format!("{code}: {desc}, {syscall} '{p}'"),
                None => format!("{code}: {desc}, {syscall}"),
            };
            (Kind::Error, code, msg)
        }
        Error::Range(m) => (Kind::Range, "ERR_OUT_OF_RANGE".to_string(), m.clone()),
        Error::Type(m) => (Kind::Type, "ERR_INVALID_ARG_TYPE".to_string(), m.clone()),
        Error::Custom { code, message } => (Kind::Error, code.to_string(), message.clone()),
    };
    let code_v = string(env, &code)?;
    let msg_v = string(env, &message)?;
    let mut e = ptr::null_mut();
    // SAFETY: code_v/msg_v are live string handles; out pointer valid.
    let st = unsafe {
        match kind {
            Kind::Error => sys::napi_create_error(env, code_v, msg_v, &mut e),
            Kind::Range => sys::napi_create_range_error(env, code_v, msg_v, &mut e),
            Kind::Type => sys::napi_create_type_error(env, code_v, msg_v, &mut e),
        }
    };
    check("napi_create_error", env, st)?;
    if let Error::Os { errno, syscall, path } = err {
        set(env, e, "errno", number(env, -(*errno as f64))?)?;
        set(env, e, "syscall", string(env, syscall)?)?;
        if let Some(p) = path {
            set(env, e, "path", string(env, p)?)?;
        }
    }
    Ok(e)
}

/// Throw `err` as a JS exception unless one is already pending.
pub fn throw(env: napi_env, err: Error) {
    let mut pending = false;
    // SAFETY: env is live; out pointer valid.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending {
        return;
    }
    if let Ok(e) = make_error(env, &err) {
        // SAFETY: e is a live error handle.
        unsafe { sys::napi_throw(env, e) };
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Run a JS-callable body: collects up to 4 arguments, catches panics and turns
/// `Err`/panics into thrown JS exceptions. This is THE no-panic-across-FFI guarantee:
/// every `extern "C"` callback in the crate is a one-line call to this function.
pub fn callback(env: sys::napi_env, info: sys::napi_callback_info, body: fn(&Cx) -> Result<napi_value>) -> napi_value {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut cx = Cx { env, args: [ptr::null_mut(); 4], argc: 4 };
        // SAFETY: env/info come straight from Node for this call; argv has room for argc (4) values.
        check("napi_get_cb_info", env, unsafe {
            sys::napi_get_cb_info(env, info, &mut cx.argc, cx.args.as_mut_ptr(), ptr::null_mut(), ptr::null_mut())
        })?;
        body(&cx)
    }));
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            throw(env, e);
            ptr::null_mut()
        }
        Err(p) => {
            let msg = panic_message(&*p);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                throw(env, Error::Custom { code: "ERR_SEGD_NATIVE_PANIC", message: format!("segd native addon panicked: {msg}") })
            }));
            ptr::null_mut()
        }
    }
}

/// Finalizers cannot throw: swallow a panic (reported on stderr).
pub fn guard_finalizer(f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        let msg = panic_message(&*p);
        let _ = catch_unwind(|| eprintln!("segd native: panic in finalizer: {msg}"));
    }
}

/// Define `name` on `exports` as a function calling `cb`.
pub fn export_fn(env: napi_env, exports: napi_value, name: &str, cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> napi_value) -> Result<()> {
    let mut f = ptr::null_mut();
    // SAFETY: (name ptr, len) valid UTF-8; cb is a valid extern "C" function with the napi_callback ABI.
    check("napi_create_function", env, unsafe {
        sys::napi_create_function(env, name.as_ptr() as *const c_char, name.len(), Some(cb), ptr::null_mut(), &mut f)
    })?;
    set(env, exports, name, f)
}
