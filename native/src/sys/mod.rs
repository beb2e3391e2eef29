//! Hand-written FFI declarations. Nothing else in the crate declares `extern` items.
pub mod libc;
pub mod napi;
