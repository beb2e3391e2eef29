//! Reference-counted read-only file mappings shared by every thread of the process.

use crate::errno;
use crate::napi::{Error, Result};
use crate::sigbus;
use crate::sys::libc as c;
use std::collections::HashMap;
use std::ffi::c_void;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One mmap(PROT_READ, MAP_SHARED) of a whole file. Unmapped when the last `Arc` drops
/// (handles, transfer tokens and every sliced Buffer each hold one).
pub struct Region {
    ptr: *mut u8,
    len: usize,
    slot: Option<usize>,
}

// SAFETY: the region is read-only memory that stays mapped for the Region's lifetime; the raw
// pointer is only dereferenced for reads, so sharing/sending it across threads is sound.
unsafe impl Send for Region {}
// SAFETY: see Send.
unsafe impl Sync for Region {}

impl Region {
    pub fn open(path: &str) -> Result<Region> {
        let os = |errno: i32, syscall: &'static str| Error::Os { errno, syscall, path: Some(path.to_string()) };
        let io = |e: std::io::Error, syscall: &'static str| os(e.raw_os_error().unwrap_or(c::EIO), syscall);
        let file = std::fs::File::open(path).map_err(|e| io(e, "open"))?;
        let meta = file.metadata().map_err(|e| io(e, "fstat"))?;
        if meta.is_dir() {
            return Err(os(c::EISDIR, "mmap"));
        }
        // Exact: sys/libc.rs refuses to build for anything but 64-bit targets.
        let len = meta.len() as usize;
        if len == 0 {
            return Ok(Region { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0, slot: None });
        }
        if !sigbus::install() {
            return Err(Error::Custom { code: "ERR_SEGD_SIGBUS", message: "could not install the SIGBUS handler".into() });
        }
        // SAFETY: fd is open for reading; we ask for a fresh read-only shared mapping of `len`
        // bytes at a kernel-chosen address. The result is checked against MAP_FAILED.
        let p = unsafe { c::mmap(std::ptr::null_mut(), len, c::PROT_READ, c::MAP_SHARED, file.as_raw_fd(), 0) };
        if p == c::MAP_FAILED {
            return Err(os(errno::last(), "mmap"));
        }
        drop(file); // the mapping keeps its own reference to the file
        let Some(slot) = sigbus::register(p as usize, len) else {
            // SAFETY: p/len is the mapping we just created and nobody else has seen it.
            unsafe { c::munmap(p, len) };
            // Not an errno: no system limit was hit, the guard's own table is full (and a
            // mapping the guard does not know could crash the process when its file shrinks).
            return Err(Error::Custom {
                code: "ERR_SEGD_TOO_MANY_MAPPINGS",
                message: format!(
                    "ERR_SEGD_TOO_MANY_MAPPINGS: {} mappings are live, as many as the SIGBUS guard can track; '{path}' was not mapped",
                    sigbus::SLOTS
                ),
            });
        };
        Ok(Region { ptr: p as *mut u8, len, slot: Some(slot) })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn poisoned(&self) -> bool {
        self.slot.is_some_and(sigbus::is_poisoned)
    }

    pub fn check_poison(&self) -> Result<()> {
        if self.poisoned() {
            Err(Error::Custom {
                code: "ESEGDPOISONED",
                message: "ESEGDPOISONED: the file changed (was truncated) under the mapping; its bytes can no longer be trusted".into(),
            })
        } else {
            Ok(())
        }
    }

    pub fn check_range(&self, offset: u64, length: u64) -> Result<(usize, usize)> {
        let size = self.len as u64;
        if offset > size {
            return Err(Error::Range(format!("The value of \"offset\" is out of range. It must be >= 0 && <= {size}. Received {offset}")));
        }
        if length > size - offset {
            return Err(Error::Range(format!(
                "The value of \"length\" is out of range. It must be >= 0 && <= {}. Received {length}",
                size - offset
            )));
        }
        Ok((offset as usize, length as usize))
    }

    /// Raw pointer to byte `offset` (offset <= len, checked by the caller). The bytes behind it
    /// are never lent out as `&[u8]`: another process may change the file while we read
    /// (MAP_SHARED), so they are read through raw pointers only (see src/crc.rs).
    pub fn ptr_at(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset <= self.len);
        self.ptr.wrapping_add(offset)
    }

    pub fn warm(&self) -> Result<()> {
        self.check_poison()?;
        if self.len == 0 {
            return Ok(());
        }
        // MADV_POPULATE_READ faults every page in with one syscall (measured: ~4x cheaper than
        // touching pages one by one) and reports a truncated file as EFAULT instead of SIGBUS.
        // On failure (an older kernel, or a truncation) the touch loop below takes over; there a
        // truncation raises SIGBUS, which poisons the mapping and makes this call fail.
        // SAFETY: advisory calls on our own live mapping.
        if unsafe { c::madvise(self.ptr as *mut c_void, self.len, c::MADV_POPULATE_READ) } == 0 {
            return self.check_poison();
        }
        // SAFETY: as above; failure is harmless and ignored.
        unsafe { c::madvise(self.ptr as *mut c_void, self.len, c::MADV_WILLNEED) };
        let page = sigbus::page_size();
        let mut sum = 0u8;
        let mut off = 0;
        while off < self.len {
            // SAFETY: off < len, inside the live mapping; volatile so the touch is not elided.
            sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(self.ptr.add(off)) });
            off += page;
        }
        std::hint::black_box(sum);
        self.check_poison()
    }

    pub fn resident(&self, offset: usize, len: usize) -> Result<bool> {
        if len == 0 {
            return Ok(true);
        }
        let page = sigbus::page_size();
        let start = (self.ptr as usize + offset) & !(page - 1);
        let end = self.ptr as usize + offset + len;
        let pages = (end - start).div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: [start, end) lies inside our live mapping (page-aligned start); `vec` has one
        // byte per page as mincore requires.
        let r = unsafe { c::mincore(start as *mut c_void, end - start, vec.as_mut_ptr()) };
        if r != 0 {
            return Err(Error::Os { errno: errno::last(), syscall: "mincore", path: None });
        }
        Ok(vec.iter().all(|b| b & 1 != 0))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            sigbus::unregister(slot);
            // SAFETY: ptr/len is exactly the mapping created in `open`; this is the last
            // reference, so no Buffer or handle can read it anymore.
            unsafe { c::munmap(self.ptr as *mut c_void, self.len) };
        }
    }
}

// ---- transfer tokens: one reference parked under a numeric id until adopt() ----

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static PARKED: Mutex<Option<HashMap<u64, Arc<Region>>>> = Mutex::new(None);

pub fn park(r: Arc<Region>) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut g = PARKED.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashMap::new).insert(id, r);
    id
}

pub fn unpark(id: u64) -> Result<Arc<Region>> {
    let mut g = PARKED.lock().unwrap_or_else(|e| e.into_inner());
    g.as_mut().and_then(|m| m.remove(&id)).ok_or_else(|| Error::Custom {
        code: "ERR_SEGD_BAD_TOKEN",
        message: format!("mapping token {id} is unknown or was already adopted"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_guard_registry_is_its_own_error_not_an_errno() {
        let file = std::env::temp_dir().join(format!("segd-native-full-{}", std::process::id()));
        std::fs::write(&file, [7u8; 100]).unwrap();
        // Fill every free slot with ranges that are never mapped nor touched (no SIGBUS can
        // reach them): the registry is full while the system has file descriptors to spare.
        let mut taken = Vec::new();
        while let Some(slot) = sigbus::register(0x1000 * (taken.len() + 1), 1) {
            taken.push(slot);
        }
        let r = Region::open(file.to_str().unwrap());
        for slot in taken {
            sigbus::unregister(slot);
        }
        std::fs::remove_file(&file).unwrap();
        match r {
            Err(Error::Custom { code, message }) => {
                assert_eq!(code, "ERR_SEGD_TOO_MANY_MAPPINGS");
                assert!(message.contains("65536 mappings are live"), "{message}");
            }
            Err(e) => panic!("wrong error: {e:?}"),
            Ok(_) => panic!("mapped with a full registry"),
        }
        // and a slot freed is a mapping possible again
        let again = std::env::temp_dir().join(format!("segd-native-again-{}", std::process::id()));
        std::fs::write(&again, [7u8; 100]).unwrap();
        let r = Region::open(again.to_str().unwrap());
        std::fs::remove_file(&again).unwrap();
        assert_eq!(r.expect("maps once slots are free").len(), 100);
    }
}
