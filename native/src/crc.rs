//! CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init/xorout 0xFFFFFFFF).
//! `crc32c(seed, p, len)` streams: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b).
//!
//! * portable: slicing-by-8 tables generated at compile time;
//! * x86_64 with SSE4.2 (runtime detected): `_mm_crc32_u64` over three interleaved streams
//!   (the instruction has 3-cycle latency / 1-cycle throughput), combined by multiplying the
//!   earlier streams' CRC by x^(8*block) mod P through 4x256 "shift" tables built at first use.
//!
//! The bytes are taken as a raw pointer and a length, and read with `read_volatile`, never
//! through a `&[u8]`: they are a MAP_SHARED mapping of a file that another process may write
//! while we read, or a SharedArrayBuffer that another JS thread may write. A shared reference
//! promises Rust the bytes do not change while it lives (a concurrent write would be undefined
//! behaviour), and a plain read lets the compiler assume the same. The std documentation of
//! `ptr::read_volatile` provides for exactly this case, memory outside any Rust allocation that
//! changes by means outside the program: each byte is read once, as it is at that instant, and
//! a concurrent writer can only make the checksum meaningless, which the callers detect by other
//! means (the mapping's poison flag, the file's size and mtime). Loads are 8 bytes wide and
//! aligned (a byte-wise head aligns the pointer first), as `read_volatile` requires.

use std::sync::OnceLock;

const POLY: u32 = 0x82F6_3B78;

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

#[inline]
fn table_byte(crc: u32, b: u8) -> u32 {
    (crc >> 8) ^ TABLES[0][((crc ^ b as u32) & 0xff) as usize]
}

/// Raw (no pre/post inversion) slicing-by-8 update.
///
/// # Safety
/// As [`crc32c`].
unsafe fn raw_table(mut crc: u32, mut p: *const u8, mut len: usize) -> u32 {
    let t = &TABLES;
    while len > 0 && !(p as usize).is_multiple_of(8) {
        // SAFETY: len > 0, so p is inside the caller's readable range.
        crc = table_byte(crc, unsafe { p.read_volatile() });
        // SAFETY: one past p is still in the range or its end.
        p = unsafe { p.add(1) };
        len -= 1;
    }
    while len >= 8 {
        // SAFETY: 8 readable bytes at p (len >= 8), 8-aligned (the head loop aligned p).
        let w = u64::from_le(unsafe { (p as *const u64).read_volatile() });
        let lo = w as u32 ^ crc;
        let hi = (w >> 32) as u32;
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
        // SAFETY: stays within the range or at its end.
        p = unsafe { p.add(8) };
        len -= 8;
    }
    while len > 0 {
        // SAFETY: as in the head loop.
        crc = table_byte(crc, unsafe { p.read_volatile() });
        // SAFETY: as in the head loop.
        p = unsafe { p.add(1) };
        len -= 1;
    }
    crc
}

/// Portable CRC32C with streaming seed.
///
/// # Safety
/// As [`crc32c`].
pub unsafe fn crc32c_portable(seed: u32, data: *const u8, len: usize) -> u32 {
    // SAFETY: the caller upholds crc32c's contract, which is raw_table's.
    !unsafe { raw_table(!seed, data, len) }
}

/// Which implementation `crc32c` uses on this CPU.
pub fn implementation() -> &'static str {
    if hw_available() {
        "sse4.2-3way"
    } else {
        "table-slice8"
    }
}

fn hw_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HW: OnceLock<bool> = OnceLock::new();
        *HW.get_or_init(|| std::is_x86_feature_detected!("sse4.2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Fastest CRC32C available, streaming seed semantics.
///
/// # Safety
/// `data..data+len` must stay readable for the whole call: mapped, and neither unmapped nor
/// freed meanwhile (`data` may be null or dangling when `len` is 0). The bytes may change while
/// they are read (see the module comment); the result is then meaningless but nothing worse.
pub unsafe fn crc32c(seed: u32, data: *const u8, len: usize) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if hw_available() {
            // SAFETY: SSE4.2 presence was checked at runtime just above; the range is the
            // caller's, under this function's contract.
            return !unsafe { hw::raw(!seed, data, len) };
        }
    }
    // SAFETY: the caller upholds this function's contract, which is crc32c_portable's.
    unsafe { crc32c_portable(seed, data, len) }
}

/// Operator "append `n` zero bytes" on a raw CRC register, as 4x256 lookup tables
/// (linearity: op(crc) = XOR over the register bits of op(bit)).
struct Shift {
    t: [[u32; 256]; 4],
}

impl Shift {
    fn new(nbytes: usize) -> Shift {
        // Column i = register 1<<i pushed through nbytes zero bytes (byte-wise table update).
        let mut col = [0u32; 32];
        for (i, c) in col.iter_mut().enumerate() {
            let mut crc = 1u32 << i;
            for _ in 0..nbytes {
                crc = (crc >> 8) ^ TABLES[0][(crc & 0xff) as usize];
            }
            *c = crc;
        }
        let mut t = [[0u32; 256]; 4];
        for (k, tk) in t.iter_mut().enumerate() {
            for (b, slot) in tk.iter_mut().enumerate() {
                let mut acc = 0u32;
                for bit in 0..8 {
                    if b & (1 << bit) != 0 {
                        acc ^= col[8 * k + bit];
                    }
                }
                *slot = acc;
            }
        }
        Shift { t }
    }

    #[inline]
    fn apply(&self, crc: u32) -> u32 {
        self.t[0][(crc & 0xff) as usize]
            ^ self.t[1][((crc >> 8) & 0xff) as usize]
            ^ self.t[2][((crc >> 16) & 0xff) as usize]
            ^ self.t[3][(crc >> 24) as usize]
    }
}

#[cfg(target_arch = "x86_64")]
mod hw {
    use super::{Shift, OnceLock};
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};

    /// Bytes per stream in one 3-way round: long rounds for bulk, short for the tail.
    const LONG: usize = 8192;
    const SHORT: usize = 256;

    fn shifts() -> &'static (Shift, Shift) {
        static S: OnceLock<(Shift, Shift)> = OnceLock::new();
        S.get_or_init(|| (Shift::new(LONG), Shift::new(SHORT)))
    }

    /// Three streams of `block` bytes each, starting at `p`, `p + block` and `p + 2*block`.
    ///
    /// # Safety
    /// `p..p+3*block` is readable (as in `super::crc32c`), `p` is 8-aligned and `block` is a
    /// multiple of 8.
    #[target_feature(enable = "sse4.2")]
    unsafe fn three_way(crc: u32, p: *const u8, block: usize, shift: &Shift) -> u32 {
        debug_assert!(block.is_multiple_of(8) && (p as usize).is_multiple_of(8));
        let mut c0 = crc as u64;
        let mut c1 = 0u64;
        let mut c2 = 0u64;
        let mut i = 0;
        while i < block {
            // SAFETY: i + 8 <= block, so the reads at i, block + i and 2*block + i lie inside
            // p..p+3*block; all three are 8-aligned (p is; block and i are multiples of 8).
            unsafe {
                c0 = _mm_crc32_u64(c0, (p.add(i) as *const u64).read_volatile());
                c1 = _mm_crc32_u64(c1, (p.add(block + i) as *const u64).read_volatile());
                c2 = _mm_crc32_u64(c2, (p.add(2 * block + i) as *const u64).read_volatile());
            }
            i += 8;
        }
        let crc = shift.apply(c0 as u32) ^ c1 as u32;
        shift.apply(crc) ^ c2 as u32
    }

    /// Raw (no inversion) hardware CRC32C.
    ///
    /// # Safety
    /// SSE4.2 is present, and the range is as in `super::crc32c`.
    #[target_feature(enable = "sse4.2")]
    pub unsafe fn raw(mut crc: u32, mut p: *const u8, mut len: usize) -> u32 {
        while len > 0 && !(p as usize).is_multiple_of(8) {
            // SAFETY: len > 0, so p is inside the caller's readable range.
            crc = _mm_crc32_u8(crc, unsafe { p.read_volatile() });
            // SAFETY: one past p is still in the range or its end.
            p = unsafe { p.add(1) };
            len -= 1;
        }
        let (long, short) = shifts();
        while len >= 3 * LONG {
            // SAFETY: 3*LONG readable bytes at p, which the head loop aligned.
            crc = unsafe { three_way(crc, p, LONG, long) };
            // SAFETY: stays within the range or at its end.
            p = unsafe { p.add(3 * LONG) };
            len -= 3 * LONG;
        }
        while len >= 3 * SHORT {
            // SAFETY: as above, with SHORT.
            crc = unsafe { three_way(crc, p, SHORT, short) };
            // SAFETY: as above.
            p = unsafe { p.add(3 * SHORT) };
            len -= 3 * SHORT;
        }
        let mut c = crc as u64;
        while len >= 8 {
            // SAFETY: 8 readable bytes at p, 8-aligned (every step above kept the alignment).
            c = _mm_crc32_u64(c, unsafe { (p as *const u64).read_volatile() });
            // SAFETY: stays within the range or at its end.
            p = unsafe { p.add(8) };
            len -= 8;
        }
        let mut crc = c as u32;
        while len > 0 {
            // SAFETY: as in the head loop.
            crc = _mm_crc32_u8(crc, unsafe { p.read_volatile() });
            // SAFETY: as in the head loop.
            p = unsafe { p.add(1) };
            len -= 1;
        }
        crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hw(seed: u32, d: &[u8]) -> u32 {
        // SAFETY: a live slice is readable for its length and does not change meanwhile.
        unsafe { crc32c(seed, d.as_ptr(), d.len()) }
    }
    fn table(seed: u32, d: &[u8]) -> u32 {
        // SAFETY: as above.
        unsafe { crc32c_portable(seed, d.as_ptr(), d.len()) }
    }

    #[test]
    fn vectors() {
        assert_eq!(hw(0, b"123456789"), 0xE306_9283);
        assert_eq!(table(0, b"123456789"), 0xE306_9283);
        // SAFETY: length 0 reads nothing, whatever the pointer.
        assert_eq!(unsafe { crc32c(7, std::ptr::null(), 0) }, 7);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for len in [0, 1, 7, 8, 767, 768, 769, 24575, 24576, 24577, 100_000, 199_990] {
            // every alignment of the start: the byte-wise head takes 0 to 7 bytes
            for off in 0..8 {
                let d = &data[off..off + len];
                assert_eq!(hw(0, d), table(0, d), "len {len} off {off}");
                let (a, b) = d.split_at(len / 3);
                assert_eq!(hw(hw(0, a), b), hw(0, d));
                assert_eq!(table(table(0, a), b), table(0, d));
            }
        }
    }
}
