//! CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init/xorout 0xFFFFFFFF).
//! `crc32c(seed, data)` streams: crc32c(crc32c(0, a), b) == crc32c(0, a ++ b).
//!
//! * portable: slicing-by-8 tables generated at compile time;
//! * x86_64 with SSE4.2 (runtime detected): `_mm_crc32_u64` over three interleaved streams
//!   (the instruction has 3-cycle latency / 1-cycle throughput), combined by multiplying the
//!   earlier streams' CRC by x^(8*block) mod P through 4x256 "shift" tables built at first use.

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

/// Raw (no pre/post inversion) slicing-by-8 update.
fn raw_table(mut crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// Portable CRC32C with streaming seed.
pub fn crc32c_portable(seed: u32, data: &[u8]) -> u32 {
    !raw_table(!seed, data)
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
pub fn crc32c(seed: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if hw_available() {
            // SAFETY: SSE4.2 presence was checked at runtime just above.
            return !unsafe { hw::raw(!seed, data) };
        }
    }
    crc32c_portable(seed, data)
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

    /// Three streams of `block` bytes each, starting at `data[0]`, `data[block]`, `data[2*block]`.
    #[target_feature(enable = "sse4.2")]
    fn three_way(crc: u32, data: &[u8], block: usize, shift: &Shift) -> u32 {
        assert!(block.is_multiple_of(8) && data.len() >= 3 * block);
        let p = data.as_ptr();
        let mut c0 = crc as u64;
        let mut c1 = 0u64;
        let mut c2 = 0u64;
        let mut i = 0;
        while i < block {
            // SAFETY: i + 8 <= block and 2*block + i + 8 <= 3*block <= data.len() (asserted),
            // so all three 8-byte unaligned reads are in bounds of `data`.
            unsafe {
                c0 = _mm_crc32_u64(c0, (p.add(i) as *const u64).read_unaligned());
                c1 = _mm_crc32_u64(c1, (p.add(block + i) as *const u64).read_unaligned());
                c2 = _mm_crc32_u64(c2, (p.add(2 * block + i) as *const u64).read_unaligned());
            }
            i += 8;
        }
        let crc = shift.apply(c0 as u32) ^ c1 as u32;
        shift.apply(crc) ^ c2 as u32
    }

    /// Raw (no inversion) hardware CRC32C.
    #[target_feature(enable = "sse4.2")]
    pub fn raw(mut crc: u32, mut data: &[u8]) -> u32 {
        let (long, short) = shifts();
        while data.len() >= 3 * LONG {
            crc = three_way(crc, data, LONG, long);
            data = &data[3 * LONG..];
        }
        while data.len() >= 3 * SHORT {
            crc = three_way(crc, data, SHORT, short);
            data = &data[3 * SHORT..];
        }
        let mut c = crc as u64;
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            c = _mm_crc32_u64(c, u64::from_le_bytes(w.try_into().unwrap()));
        }
        let mut crc = c as u32;
        for &b in words.remainder() {
            crc = _mm_crc32_u8(crc, b);
        }
        crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn vectors() {
        assert_eq!(crc32c(0, b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_portable(0, b"123456789"), 0xE306_9283);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for len in [0, 1, 7, 8, 767, 768, 769, 24575, 24576, 24577, 100_000, 200_000] {
            assert_eq!(crc32c(0, &data[..len]), crc32c_portable(0, &data[..len]), "len {len}");
            let (a, b) = data[..len].split_at(len / 3);
            assert_eq!(crc32c(crc32c(0, a), b), crc32c(0, &data[..len]));
        }
    }
}
