//! Node-API declarations, copied from node's `js_native_api.h`, `js_native_api_types.h`
//! and `node_api.h` (checked against /usr/include/node of Node 20 and the published docs).
//! Only N-API version <= 8 functions are declared. The symbols are resolved from the
//! `node` executable when the addon is dlopen()ed (the shared object is linked with
//! undefined symbols allowed, which is the default for GNU ld shared objects).
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_void};

#[repr(C)]
pub struct napi_env__ {
    _p: [u8; 0],
}
#[repr(C)]
pub struct napi_value__ {
    _p: [u8; 0],
}
#[repr(C)]
pub struct napi_callback_info__ {
    _p: [u8; 0],
}
/// `typedef struct napi_env__* napi_env;`
pub type napi_env = *mut napi_env__;
/// `typedef struct napi_value__* napi_value;`
pub type napi_value = *mut napi_value__;
/// `typedef struct napi_callback_info__* napi_callback_info;`
pub type napi_callback_info = *mut napi_callback_info__;

/// `napi_status` is a C enum: `int`-sized.
pub type napi_status = i32;
pub const NAPI_OK: napi_status = 0;
pub const NAPI_PENDING_EXCEPTION: napi_status = 10;

/// `napi_valuetype` (C enum).
pub type napi_valuetype = i32;
pub const NAPI_UNDEFINED: napi_valuetype = 0;
pub const NAPI_NULL: napi_valuetype = 1;
pub const NAPI_BOOLEAN: napi_valuetype = 2;
pub const NAPI_NUMBER: napi_valuetype = 3;
pub const NAPI_STRING: napi_valuetype = 4;
pub const NAPI_OBJECT: napi_valuetype = 6;
pub const NAPI_EXTERNAL: napi_valuetype = 8;

/// `napi_typedarray_type` (C enum).
pub type napi_typedarray_type = i32;

/// `typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);`
pub type napi_callback = Option<unsafe extern "C" fn(env: napi_env, info: napi_callback_info) -> napi_value>;
/// `typedef void (*napi_finalize)(napi_env env, void* finalize_data, void* finalize_hint);`
/// (`node_api_basic_finalize` is the same type unless NAPI_EXPERIMENTAL is defined.)
pub type napi_finalize = Option<unsafe extern "C" fn(env: napi_env, finalize_data: *mut c_void, finalize_hint: *mut c_void)>;

extern "C" {
    // ---- js_native_api.h ----
    pub fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value) -> napi_status;
    pub fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
    pub fn napi_create_uint32(env: napi_env, value: u32, result: *mut napi_value) -> napi_status;
    pub fn napi_create_int64(env: napi_env, value: i64, result: *mut napi_value) -> napi_status;
    pub fn napi_create_string_utf8(env: napi_env, str_: *const c_char, length: usize, result: *mut napi_value) -> napi_status;
    pub fn napi_create_function(
        env: napi_env,
        utf8name: *const c_char,
        length: usize,
        cb: napi_callback,
        data: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_create_type_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_create_range_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
    pub fn napi_typeof(env: napi_env, value: napi_value, result: *mut napi_valuetype) -> napi_status;
    pub fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    pub fn napi_get_value_int64(env: napi_env, value: napi_value, result: *mut i64) -> napi_status;
    pub fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize, result: *mut usize) -> napi_status;
    pub fn napi_set_named_property(env: napi_env, object: napi_value, utf8name: *const c_char, value: napi_value) -> napi_status;
    pub fn napi_get_cb_info(
        env: napi_env,
        cbinfo: napi_callback_info,
        argc: *mut usize,
        argv: *mut napi_value,
        this_arg: *mut napi_value,
        data: *mut *mut c_void,
    ) -> napi_status;
    pub fn napi_create_external(
        env: napi_env,
        data: *mut c_void,
        finalize_cb: napi_finalize,
        finalize_hint: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_get_value_external(env: napi_env, value: napi_value, result: *mut *mut c_void) -> napi_status;
    pub fn napi_throw(env: napi_env, error: napi_value) -> napi_status;
    pub fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
    pub fn napi_is_typedarray(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    pub fn napi_get_typedarray_info(
        env: napi_env,
        typedarray: napi_value,
        type_: *mut napi_typedarray_type,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut napi_value,
        byte_offset: *mut usize,
    ) -> napi_status;

    // ---- node_api.h ----
    pub fn napi_create_buffer(env: napi_env, length: usize, data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
    pub fn napi_create_external_buffer(
        env: napi_env,
        length: usize,
        data: *mut c_void,
        finalize_cb: napi_finalize,
        finalize_hint: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
}
