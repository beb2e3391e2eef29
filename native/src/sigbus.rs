//! Truncation safety: a process-wide SIGBUS handler that repairs faults inside our mappings.
//!
//! Design (decided over the "copy into addon-owned memory" alternative, which would cost a
//! copy per range and defeat the zero-copy design):
//! * A fixed, statically allocated registry of `SLOTS` live mappings (`base`, `len`, `poisoned`
//!   as atomics). Registration/unregistration happen on JS threads with plain atomic ops; the
//!   handler only does atomic loads/stores: no malloc, no locks, async-signal-safe.
//! * The handler is installed once, at the first `map()`, with SA_SIGINFO|SA_ONSTACK|SA_RESTART
//!   (no SA_NODEFER: a second SIGBUS inside the handler is a genuine bug and must not recurse).
//! * When `si_addr` falls inside a registered mapping it maps an anonymous, zero-filled,
//!   read-only region MAP_FIXED over [faulting page, end of mapping), sets the mapping's poison
//!   flag and returns: the faulting load is re-executed and reads zeros. Pages before the
//!   faulting page are left alone (they may still be valid; if not they fault and are repaired
//!   the same way). The process survives; `poisoned` turns true; `warm()`/`crc32c()` throw.
//! * Any other SIGBUS is chained to the previously installed handler; if that was SIG_DFL/SIG_IGN
//!   the default disposition is restored and the signal re-raised/re-executed, so genuine bugs
//!   still kill the process with SIGBUS.
//!
//! Kernel-side copies (write(2)/sendfile from such memory) get EFAULT instead of a signal.

use crate::sys::libc as c;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

/// Matches the kernel's default vm.max_map_count (65530): we can never hold more mappings.
pub const SLOTS: usize = 65536;
const CLAIMED: usize = usize::MAX;

struct Slot {
    base: AtomicUsize,
    len: AtomicUsize,
    poisoned: AtomicBool,
}

static REGISTRY: [Slot; SLOTS] = [const { Slot { base: AtomicUsize::new(0), len: AtomicUsize::new(0), poisoned: AtomicBool::new(false) } }; SLOTS];
static HINT: AtomicUsize = AtomicUsize::new(0);
/// One past the highest slot ever used: bounds the handler's scan.
static HIGH: AtomicUsize = AtomicUsize::new(0);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static OLD_HANDLER: AtomicUsize = AtomicUsize::new(c::SIG_DFL);
static OLD_FLAGS: AtomicI32 = AtomicI32::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

pub fn page_size() -> usize {
    PAGE.load(Ordering::Relaxed)
}

/// Number of SIGBUS faults repaired so far (process-wide).
pub fn faults() -> u64 {
    FAULTS.load(Ordering::Relaxed)
}

fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Install the handler (idempotent). Returns false if sigaction failed.
pub fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf is thread-safe and has no memory-safety preconditions.
        let ps = unsafe { c::sysconf(c::_SC_PAGESIZE) };
        if ps > 0 {
            PAGE.store(ps as usize, Ordering::Relaxed);
        }
        // SAFETY: zeroed sigaction_t is a valid "empty" value (all-integer struct).
        let mut old: c::sigaction_t = unsafe { std::mem::zeroed() };
        // SAFETY: query-only call (act = null), `old` is a valid out pointer.
        if unsafe { c::sigaction(c::SIGBUS, std::ptr::null(), &mut old) } != 0 {
            return;
        }
        OLD_HANDLER.store(old.sa_sigaction, Ordering::SeqCst);
        OLD_FLAGS.store(old.sa_flags, Ordering::SeqCst);
        // SAFETY: as above.
        let mut act: c::sigaction_t = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_sigbus as *const () as usize;
        act.sa_flags = c::SA_SIGINFO | c::SA_ONSTACK | c::SA_RESTART;
        // SAFETY: act.sa_mask is a valid sigset_t to initialize.
        unsafe { c::sigemptyset(&mut act.sa_mask) };
        // SAFETY: act is fully initialized; the handler is an extern "C" fn with the SA_SIGINFO ABI.
        if unsafe { c::sigaction(c::SIGBUS, &act, std::ptr::null_mut()) } == 0 {
            INSTALLED.store(true, Ordering::SeqCst);
        }
    });
    installed()
}

/// Register a live mapping; returns its slot, or None when the registry is full.
pub fn register(base: usize, len: usize) -> Option<usize> {
    let start = HINT.load(Ordering::Relaxed);
    for k in 0..SLOTS {
        let i = (start + k) % SLOTS;
        let s = &REGISTRY[i];
        if s.base.load(Ordering::Relaxed) == 0
            && s.base.compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            s.poisoned.store(false, Ordering::Relaxed);
            s.len.store(len, Ordering::Relaxed);
            s.base.store(base, Ordering::Release);
            HINT.store((i + 1) % SLOTS, Ordering::Relaxed);
            HIGH.fetch_max(i + 1, Ordering::AcqRel);
            return Some(i);
        }
    }
    None
}

/// Forget a mapping (called before munmap, when no reference can touch it anymore).
pub fn unregister(slot: usize) {
    let s = &REGISTRY[slot];
    s.base.store(CLAIMED, Ordering::Release);
    s.len.store(0, Ordering::Relaxed);
    s.poisoned.store(false, Ordering::Relaxed);
    s.base.store(0, Ordering::Release);
}

pub fn is_poisoned(slot: usize) -> bool {
    REGISTRY[slot].poisoned.load(Ordering::Acquire)
}

/// The signal handler. Async-signal-safe: only atomics, mmap(2), sigaction(2), raise(3).
extern "C" fn on_sigbus(sig: c_int, info: *mut c::siginfo_t, ctx: *mut c_void) {
    // SAFETY: __errno_location returns this thread's errno slot; saved and restored around the
    // syscalls below so the interrupted code does not observe a changed errno.
    let errno_slot = unsafe { c::__errno_location() };
    // SAFETY: errno_slot is a valid thread-local pointer.
    let saved_errno = unsafe { *errno_slot };
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr as usize) };
    if code > 0 && repair(addr) {
        // SAFETY: see above.
        unsafe { *errno_slot = saved_errno };
        return;
    }
    chain(sig, info, ctx);
    // SAFETY: see above.
    unsafe { *errno_slot = saved_errno };
}

fn repair(addr: usize) -> bool {
    let page = PAGE.load(Ordering::Relaxed);
    let high = HIGH.load(Ordering::Acquire).min(SLOTS);
    for s in REGISTRY[..high].iter() {
        let base = s.base.load(Ordering::Acquire);
        if base == 0 || base == CLAIMED {
            continue;
        }
        let len = s.len.load(Ordering::Relaxed);
        if addr < base || addr - base >= len {
            continue;
        }
        let start = addr & !(page - 1);
        let end = (base + len + page - 1) & !(page - 1);
        // SAFETY: [start, end) lies inside a mapping we own (registered, not yet unmapped);
        // replacing it with anonymous zero pages keeps the address range valid for every
        // Buffer that views it. mmap is a plain syscall, safe to call from a signal handler.
        let r = unsafe {
            c::mmap(start as *mut c_void, end - start, c::PROT_READ, c::MAP_PRIVATE | c::MAP_ANONYMOUS | c::MAP_FIXED, -1, 0)
        };
        if r == c::MAP_FAILED {
            return false;
        }
        s.poisoned.store(true, Ordering::Release);
        FAULTS.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    false
}

/// Not ours: behave as if we were never installed.
fn chain(sig: c_int, info: *mut c::siginfo_t, ctx: *mut c_void) {
    let old = OLD_HANDLER.load(Ordering::SeqCst);
    let flags = OLD_FLAGS.load(Ordering::SeqCst);
    if old == c::SIG_DFL || old == c::SIG_IGN {
        // Restore the default action. A hardware fault re-executes the faulting instruction
        // on return and now kills the process (with the usual core/exit status 135).
        // SAFETY: zeroed sigaction_t with handler SIG_DFL (0) is valid; sigaction is async-signal-safe.
        let mut dfl: c::sigaction_t = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = c::SIG_DFL;
        // SAFETY: as above.
        unsafe { c::sigaction(sig, &dfl, std::ptr::null_mut()) };
        // SAFETY: info is valid (see caller).
        if unsafe { (*info).si_code } <= 0 {
            // Sent by kill()/raise(): there is no instruction to re-execute, so re-raise
            // (delivered once the handler returns and the signal is unblocked).
            // SAFETY: raise is async-signal-safe.
            unsafe { c::raise(sig) };
        }
    } else if flags & c::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was registered with SA_SIGINFO, so it has this ABI.
        let f: extern "C" fn(c_int, *mut c::siginfo_t, *mut c_void) = unsafe { std::mem::transmute(old) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a plain sa_handler has the `void (*)(int)` ABI.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(old) };
        f(sig);
    }
}
