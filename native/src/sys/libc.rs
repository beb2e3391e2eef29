//! The few libc functions/structs we need, declared by hand for x86_64/aarch64 Linux (glibc).
//! open/fstat/close go through `std::fs::File` (safe), so they are not declared here.
//! Everything declared here is used: an unused declaration is a warning, not a spare.
#![allow(non_camel_case_types)]

// The struct layouts and constants below are glibc's on 64-bit Linux for these two
// architectures, copied by hand (there is no libc crate to get them from). On any other target
// they would be silently wrong, so refuse to build there instead.
#[cfg(not(all(target_os = "linux", target_env = "gnu", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!(
    "segd-native declares libc by hand for Linux glibc on x86_64 and aarch64 only (src/sys/libc.rs); \
     another target needs its own, checked declarations"
);

use std::ffi::{c_int, c_long, c_uchar, c_void};

pub type size_t = usize;
pub type off_t = i64;

pub const PROT_READ: c_int = 0x1;
pub const PROT_WRITE: c_int = 0x2;
pub const MAP_SHARED: c_int = 0x01;
pub const MAP_PRIVATE: c_int = 0x02;
pub const MAP_FIXED: c_int = 0x10;
pub const MAP_ANONYMOUS: c_int = 0x20;
pub const MAP_FAILED: *mut c_void = !0usize as *mut c_void;
pub const MADV_WILLNEED: c_int = 3;
pub const MADV_POPULATE_READ: c_int = 22; // Linux 5.14
pub const _SC_PAGESIZE: c_int = 30;

pub const SIGBUS: c_int = 7;
pub const SA_SIGINFO: c_int = 0x0000_0004;
pub const SA_ONSTACK: c_int = 0x0800_0000;
pub const SA_RESTART: c_int = 0x1000_0000;
pub const SIG_DFL: usize = 0;
pub const SIG_IGN: usize = 1;

// errno values (asm-generic/errno-base.h and errno.h, shared by x86_64 and aarch64): the ones
// the addon raises itself or names for Node (src/errno.rs).
pub const EPERM: c_int = 1;
pub const ENOENT: c_int = 2;
pub const EINTR: c_int = 4;
pub const EIO: c_int = 5;
pub const ENXIO: c_int = 6;
pub const E2BIG: c_int = 7;
pub const EBADF: c_int = 9;
pub const EAGAIN: c_int = 11;
pub const ENOMEM: c_int = 12;
pub const EACCES: c_int = 13;
pub const EFAULT: c_int = 14;
pub const EBUSY: c_int = 16;
pub const EEXIST: c_int = 17;
pub const ENODEV: c_int = 19;
pub const ENOTDIR: c_int = 20;
pub const EISDIR: c_int = 21;
pub const EINVAL: c_int = 22;
pub const ENFILE: c_int = 23;
pub const EMFILE: c_int = 24;
pub const ETXTBSY: c_int = 26;
pub const EFBIG: c_int = 27;
pub const ESPIPE: c_int = 29;
pub const EROFS: c_int = 30;
pub const ENAMETOOLONG: c_int = 36;
pub const ENOSYS: c_int = 38;
pub const ELOOP: c_int = 40;
pub const EOVERFLOW: c_int = 75;
pub const ENOTSUP: c_int = 95;
pub const EOPNOTSUPP: c_int = ENOTSUP; // the same number on Linux

pub const RLIMIT_NOFILE: c_int = 7;

/// cachestat(2) (Linux 6.5), the same number on x86_64 and aarch64 (the generic syscall table).
pub const SYS_CACHESTAT: c_long = 451;

/// cachestat's range (linux/mman.h): `len` 0 means to the end of the file.
#[repr(C)]
pub struct cachestat_range {
    pub off: u64,
    pub len: u64,
}

/// cachestat's answer (linux/mman.h), counted in pages.
#[repr(C)]
#[derive(Default)]
pub struct cachestat {
    pub nr_cache: u64,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_evicted: u64,
    pub nr_recently_evicted: u64,
}

/// preadv2 flag (linux/fs.h): fail with EAGAIN instead of waiting for the disk.
pub const RWF_NOWAIT: c_int = 0x0000_0008;

/// `struct iovec`.
#[repr(C)]
pub struct iovec {
    pub iov_base: *mut c_void,
    pub iov_len: size_t,
}

/// `struct rlimit` (two `rlim_t`, 64-bit on LP64).
#[repr(C)]
pub struct rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

/// glibc `sigset_t`: 1024 bits.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sigset_t {
    pub val: [u64; 16],
}

/// glibc `struct sigaction` on Linux x86_64/aarch64:
/// `{ union { sighandler_t; void (*)(int, siginfo_t*, void*) } ; sigset_t sa_mask; int sa_flags; void (*sa_restorer)(void); }`
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sigaction_t {
    pub sa_sigaction: usize,
    pub sa_mask: sigset_t,
    pub sa_flags: c_int,
    pub sa_restorer: usize,
}

/// Prefix of the kernel `siginfo_t` (128 bytes total): si_signo, si_errno, si_code, padding,
/// then the union whose first member for SIGSEGV/SIGBUS is `void *si_addr` (offset 16 on LP64).
#[repr(C)]
pub struct siginfo_t {
    pub si_signo: c_int,
    pub si_errno: c_int,
    pub si_code: c_int,
    _pad0: c_int,
    pub si_addr: *mut c_void,
    _rest: [u64; 13],
}

extern "C" {
    pub fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, offset: off_t) -> *mut c_void;
    pub fn munmap(addr: *mut c_void, len: size_t) -> c_int;
    pub fn madvise(addr: *mut c_void, len: size_t, advice: c_int) -> c_int;
    pub fn mincore(addr: *mut c_void, len: size_t, vec: *mut c_uchar) -> c_int;
    pub fn pread(fd: c_int, buf: *mut c_void, count: size_t, offset: off_t) -> isize;
    pub fn preadv2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> isize;
    pub fn sysconf(name: c_int) -> c_long;
    pub fn syscall(num: c_long, ...) -> c_long;
    pub fn sigaction(signum: c_int, act: *const sigaction_t, oldact: *mut sigaction_t) -> c_int;
    pub fn sigemptyset(set: *mut sigset_t) -> c_int;
    pub fn __errno_location() -> *mut c_int;
    pub fn raise(sig: c_int) -> c_int;
    pub fn getrlimit(resource: c_int, rlim: *mut rlimit) -> c_int;
    pub fn setrlimit(resource: c_int, rlim: *const rlimit) -> c_int;
}
