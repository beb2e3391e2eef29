//! segd native addon (raw Node-API, zero dependencies). The JS surface is private: it is
//! wrapped by `src/native/index.ts`, which is the only supported caller.
//!
//! What the addon exports is the `exports!` calls in `init()` below, and nothing else says it:
//! `ADDON_EXPORTS` and `BENCH_EXPORTS` in src/native/index.ts name the same exports for
//! TypeScript (its `RawAddon` type is derived from them), and test/native-api.test.ts and
//! test/native-bench.test.ts load each build and compare what it really exports with them.
//! A handle is a napi external owning one reference to a mapping (`Handle` below).
//!
//! All `unsafe` FFI is confined to `sys` (declarations), `napi` (safe wrapper), `mapping`
//! and `sigbus`; each block carries a SAFETY comment.

// Inside an `unsafe fn` every unsafe operation still needs its own block and SAFETY comment.
#![deny(unsafe_op_in_unsafe_fn)]

mod crc;
mod errno;
mod mapping;
mod napi;
mod sigbus;
mod sys;

use mapping::Region;
use napi::{callback, Cx, Error, Result};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use sys::napi::{napi_callback_info, napi_env, napi_value};

const HANDLE_MAGIC: u64 = 0x5345_4744_4d41_5031; // "SEGDMAP1"

/// What a JS handle owns: one reference to the region until close() / GC.
struct Handle {
    magic: u64,
    region: RefCell<Option<Arc<Region>>>,
}

/// Handles whose JS object is not finalized yet, on every thread: each costs native memory even
/// after close(), until its thread's GC and event loop run the finalizer (a leak detector).
static HANDLES: AtomicUsize = AtomicUsize::new(0);

impl Drop for Handle {
    fn drop(&mut self) {
        HANDLES.fetch_sub(1, Ordering::Relaxed);
    }
}

fn handle(cx: &Cx) -> Result<&Handle> {
    let p = cx.external_arg(0)? as *const Handle;
    // SAFETY: externals reach this function only through src/native/index.ts, which passes handles
    // created by `new_handle` (the raw exports are private). The external keeps the Box alive
    // for at least the duration of this call; the magic check catches gross misuse.
    let h = unsafe { &*p };
    if h.magic != HANDLE_MAGIC {
        return Err(Error::Type("expected a native mapping handle".into()));
    }
    Ok(h)
}

fn region(cx: &Cx) -> Result<Arc<Region>> {
    handle(cx)?.region.borrow().clone().ok_or_else(|| Error::Custom {
        code: "ERR_SEGD_CLOSED",
        message: "the mapping handle was closed".into(),
    })
}

fn new_handle(env: napi_env, r: Arc<Region>) -> Result<napi_value> {
    HANDLES.fetch_add(1, Ordering::Relaxed); // before the Box exists: its Drop, even on failure, subtracts
    napi::external_box(env, Box::new(Handle { magic: HANDLE_MAGIC, region: RefCell::new(Some(r)) }))
}

fn map_impl(cx: &Cx) -> Result<napi_value> {
    let path = cx.string_arg(0, "path")?;
    let r = Region::open(&path)?;
    new_handle(cx.env, Arc::new(r))
}

fn adopt_impl(cx: &Cx) -> Result<napi_value> {
    let id = cx.index_arg(0, "token")?;
    let r = mapping::unpark(id)?;
    new_handle(cx.env, r)
}

fn size_impl(cx: &Cx) -> Result<napi_value> {
    napi::number(cx.env, region(cx)?.len() as f64)
}

fn slice_impl(cx: &Cx) -> Result<napi_value> {
    let r = region(cx)?;
    let offset = cx.index_arg(1, "offset")?;
    let length = cx.index_arg(2, "length")?;
    let (off, len) = r.check_range(offset, length)?;
    if len == 0 {
        return napi::empty_buffer(cx.env);
    }
    let p = r.ptr_at(off);
    // The Buffer's finalizer drops this Arc: the mapping outlives every view of it.
    napi::external_buffer(cx.env, p, len, Box::new(r))
}

/// Whole-mapping Buffer (one external buffer per JS handle; src/native/index.ts slices it with
/// subarray). V8 accounts the external bytes once per view instead of once per slice, which
/// keeps large-range slicing from triggering a GC every ~64 MiB of slices.
fn view_impl(cx: &Cx) -> Result<napi_value> {
    let r = region(cx)?;
    if r.len() == 0 {
        return napi::empty_buffer(cx.env);
    }
    let p = r.ptr_at(0);
    let len = r.len();
    napi::external_buffer(cx.env, p, len, Box::new(r))
}

fn warm_impl(cx: &Cx) -> Result<napi_value> {
    region(cx)?.warm()?;
    napi::undefined(cx.env)
}

fn resident_impl(cx: &Cx) -> Result<napi_value> {
    let r = region(cx)?;
    let (off, len) = r.check_range(cx.index_arg(1, "offset")?, cx.index_arg(2, "length")?)?;
    napi::boolean(cx.env, r.resident(off, len)?)
}

fn crc32c_map_impl(cx: &Cx) -> Result<napi_value> {
    let r = region(cx)?;
    let offset = cx.opt_index_arg(1, "offset", 0)?;
    let size = r.len() as u64;
    let length = cx.opt_index_arg(2, "length", size.saturating_sub(offset))?;
    let (off, len) = r.check_range(offset, length)?;
    let seed = cx.opt_u32_arg(3, "seed")?;
    r.check_poison()?;
    // SAFETY: [off, off+len) lies inside the mapping (check_range) and `r` keeps it mapped for
    // this call. A page that vanished under it (a truncated file) faults, and the SIGBUS guard
    // maps a zero page there, so every address stays readable; that its bytes may change while
    // read is within crc32c's contract.
    let crc = unsafe { crc::crc32c(seed, r.ptr_at(off), len) };
    r.check_poison()?; // a truncation fault during the pass means the result is garbage
    napi::uint32(cx.env, crc)
}

fn poisoned_impl(cx: &Cx) -> Result<napi_value> {
    let h = handle(cx)?;
    let p = h.region.borrow().as_ref().is_some_and(|r| r.poisoned());
    napi::boolean(cx.env, p)
}

fn transfer_impl(cx: &Cx) -> Result<napi_value> {
    let id = mapping::park(region(cx)?);
    napi::number(cx.env, id as f64)
}

fn close_impl(cx: &Cx) -> Result<napi_value> {
    let h = handle(cx)?;
    let r = h.region.borrow_mut().take();
    drop(r);
    napi::undefined(cx.env)
}

/// pread into a typed array until it is full or the file ends, looping on short reads and EINTR;
/// no allocation. With `nowait`, preadv2(RWF_NOWAIT): the read stops at the first page that is
/// not in the page cache (or at once where the kernel or file system cannot promise that), so
/// the event loop copies resident bytes and never waits on the disk. Returns the bytes read.
fn read_at_impl(cx: &Cx) -> Result<napi_value> {
    let fd = cx.index_arg(0, "fd")?;
    if fd > i32::MAX as u64 {
        return Err(Error::Range(format!("The value of \"fd\" is out of range. It must be >= 0 && <= 2147483647. Received {fd}")));
    }
    let (buf, cap) = cx.bytes_arg(1, "buffer")?;
    let pos = cx.index_arg(2, "position")?;
    let nowait = cx.opt_bool_arg(3, "nowait")?;
    if nowait && cap > 0 && !all_cached(fd as i32, pos, cap) {
        return napi::number(cx.env, 0.0);
    }
    let mut filled = 0usize;
    while filled < cap {
        let at = (pos + filled as u64) as i64;
        let iov = sys::libc::iovec { iov_base: buf.wrapping_add(filled) as *mut std::ffi::c_void, iov_len: cap - filled };
        // SAFETY: buf..buf+cap is the typed array's live, writable backing store for the
        // duration of this synchronous call; the read writes at most cap-filled bytes at
        // buf+filled, which is what `iov` describes.
        let n = unsafe {
            if nowait {
                sys::libc::preadv2(fd as i32, &iov, 1, at, sys::libc::RWF_NOWAIT)
            } else {
                sys::libc::pread(fd as i32, iov.iov_base, iov.iov_len, at)
            }
        };
        if n < 0 {
            let e = errno::last();
            if e == sys::libc::EINTR {
                continue;
            }
            // Not resident, or no RWF_NOWAIT here (EOPNOTSUPP, an old kernel's EINVAL): the
            // caller reads the rest off the event loop.
            if nowait && (e == sys::libc::EAGAIN || e == sys::libc::EOPNOTSUPP || e == sys::libc::EINVAL) {
                break;
            }
            return Err(Error::Os { errno: e, syscall: "read", path: None });
        }
        if n == 0 {
            break;
        }
        filled += n as usize;
    }
    napi::number(cx.env, filled as f64)
}

/// Anonymous memory behind an `alignedBuffer`: it starts at a page boundary, which satisfies
/// O_DIRECT on any device whose logical block is at most 4 KiB, and the kernel fills each page
/// with zeros on first touch, so a buffer costs memory only where reads fill it (a cgroup at its
/// limit is not charged for a whole 1 MiB step that a 256 KiB file never fills).
struct Anonymous {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

impl Drop for Anonymous {
    fn drop(&mut self) {
        // SAFETY: ptr..ptr+len is the mapping made in aligned_buffer_impl, unmapped once, when
        // the one Buffer viewing it is finalized.
        unsafe { sys::libc::munmap(self.ptr, self.len) };
    }
}

/// A Buffer of `size` bytes whose memory starts at a page boundary, so that it can take an
/// O_DIRECT read (Node's own Buffers are malloc'd and are not aligned).
fn aligned_buffer_impl(cx: &Cx) -> Result<napi_value> {
    let size = cx.index_arg(0, "size")?;
    if size == 0 || size > 1 << 30 {
        return Err(Error::Range(format!("The value of \"size\" is out of range. It must be > 0 && <= 1073741824. Received {size}")));
    }
    let len = size as usize;
    // SAFETY: a new private anonymous mapping; no existing memory is named or touched.
    let ptr = unsafe {
        sys::libc::mmap(std::ptr::null_mut(), len, sys::libc::PROT_READ | sys::libc::PROT_WRITE, sys::libc::MAP_PRIVATE | sys::libc::MAP_ANONYMOUS, -1, 0)
    };
    if ptr == sys::libc::MAP_FAILED {
        return Err(Error::Os { errno: errno::last(), syscall: "mmap", path: None });
    }
    napi::external_buffer(cx.env, ptr as *mut u8, len, Box::new(Anonymous { ptr, len }))
}

/// cachestat(2) is missing (a kernel before 6.5, or a seccomp filter): stop asking.
static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// Whether every page of [pos, pos + len) is in the page cache, by cachestat(2), which only
/// looks. Asked before a RWF_NOWAIT read because that read is not free when pages are missing:
/// the kernel still allocates their readahead folios on the calling thread, and in a memory
/// cgroup at its limit that allocation reclaims synchronously, on the event loop. Where
/// cachestat is unavailable the answer is yes, and RWF_NOWAIT alone decides as before.
fn all_cached(fd: i32, pos: u64, len: usize) -> bool {
    if NO_CACHESTAT.load(Ordering::Relaxed) {
        return true;
    }
    let range = sys::libc::cachestat_range { off: pos, len: len as u64 };
    let mut cs = sys::libc::cachestat::default();
    // SAFETY: both pointers are to live locals of the layouts cachestat(2) reads and writes.
    let r = unsafe { sys::libc::syscall(sys::libc::SYS_CACHESTAT, fd, &range as *const _, &mut cs as *mut _, 0u32) };
    if r != 0 {
        if errno::last() == sys::libc::ENOSYS {
            NO_CACHESTAT.store(true, Ordering::Relaxed);
        }
        return true;
    }
    let page = sigbus::page_size() as u64;
    let pages = (pos + len as u64 - 1) / page - pos / page + 1;
    cs.nr_cache >= pages
}

fn crc32c_impl(cx: &Cx) -> Result<napi_value> {
    let (p, len) = cx.bytes_arg(0, "data")?;
    let seed = cx.opt_u32_arg(1, "seed")?;
    // SAFETY: the typed array's backing store is readable for `len` bytes during this
    // synchronous call (no JS runs, so nothing can detach or free it); when it is a
    // SharedArrayBuffer another thread may write it meanwhile, which crc32c's contract allows.
    napi::uint32(cx.env, unsafe { crc::crc32c(seed, p, len) })
}

#[cfg(feature = "bench")]
fn crc32c_portable_impl(cx: &Cx) -> Result<napi_value> {
    let (p, len) = cx.bytes_arg(0, "data")?;
    let seed = cx.opt_u32_arg(1, "seed")?;
    // SAFETY: as in crc32c_impl.
    napi::uint32(cx.env, unsafe { crc::crc32c_portable(seed, p, len) })
}

fn faults_impl(cx: &Cx) -> Result<napi_value> {
    napi::number(cx.env, sigbus::faults() as f64)
}

fn handles_impl(cx: &Cx) -> Result<napi_value> {
    napi::number(cx.env, HANDLES.load(Ordering::Relaxed) as f64)
}
/// Raises the soft descriptor limit to the hard one (what every server wants: the soft default
/// of 1024 is for programs that use select()), and returns the soft limit now in force.
fn raise_file_limit_impl(cx: &Cx) -> Result<napi_value> {
    let mut lim = sys::libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `struct rlimit` into the valid, exclusive `lim`.
    if unsafe { sys::libc::getrlimit(sys::libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(Error::Os { errno: errno::last(), syscall: "getrlimit", path: None });
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = sys::libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit only reads the `struct rlimit` behind the valid pointer.
        if unsafe { sys::libc::setrlimit(sys::libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    napi::number(cx.env, lim.rlim_cur as f64)
}

macro_rules! exports {
    ($env:expr, $exports:expr, $( $name:literal => $body:ident ),* $(,)?) => {{
        $(
            {
                unsafe extern "C" fn cb(env: napi_env, info: napi_callback_info) -> napi_value {
                    callback(env, info, $body)
                }
                napi::export_fn($env, $exports, $name, cb)?;
            }
        )*
    }};
}

fn init(env: napi_env, exports: napi_value) -> Result<napi_value> {
    exports!(env, exports,
        "map" => map_impl,
        "adopt" => adopt_impl,
        "size" => size_impl,
        "slice" => slice_impl,
        "view" => view_impl,
        "warm" => warm_impl,
        "resident" => resident_impl,
        "crc32cMap" => crc32c_map_impl,
        "poisoned" => poisoned_impl,
        "transfer" => transfer_impl,
        "close" => close_impl,
        "crc32c" => crc32c_impl,
        "sigbusFaults" => faults_impl,
        "liveHandles" => handles_impl,
        "raiseFileLimit" => raise_file_limit_impl,
        "readAt" => read_at_impl,
        "alignedBuffer" => aligned_buffer_impl,
    );
    // Comparisons for bench/native.ts (and their tests), never shipped: `--features bench`.
    #[cfg(feature = "bench")]
    exports!(env, exports,
        "crc32cPortable" => crc32c_portable_impl,
    );
    napi::set(env, exports, "crcImpl", napi::string(env, crc::implementation())?)?;
    Ok(exports)
}

/// Module registration, called once per Node environment (main thread and each worker).
///
/// # Safety
/// Called by Node with a live `env` and `exports` object, on that env's JS thread.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init(env, exports)));
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            napi::throw(env, e);
            std::ptr::null_mut()
        }
        Err(_) => {
            napi::throw(env, Error::Custom { code: "ERR_SEGD_NATIVE_PANIC", message: "segd native addon panicked during init".into() });
            std::ptr::null_mut()
        }
    }
}

/// Highest Node-API version this addon uses (<= 8 so one binary loads on Node 20 and 24).
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    8
}
