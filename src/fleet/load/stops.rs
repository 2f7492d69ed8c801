//! Where a JSON string can end: one bit per byte of a window of lines, set
//! on every `"`, `\` and control character (U+0000–U+001F, which RFC 8259
//! §7 forbids raw inside a string), computed for the window before its
//! records are scanned.
//!
//! Decision: the scanner used to search each string for its end eight bytes
//! at a time. Strings are most of a Graph export's bytes and mostly short
//! (ids, names, `[ZTDId]` items), so that search was a quarter of a load's
//! instructions, and a per-string vector search was slower still: its
//! set-up and its dependency chain sit on every string's critical path. One
//! streaming pass over the window with 16-byte compares (simdjson's "stage
//! 1", without its structural characters) costs a fraction of that, and
//! a string's end is then a shift and a count of trailing zeros, nearly
//! always in the word where the string starts. What counts as a
//! stop is exactly what the old search stopped at, so the scanner accepts
//! the same records.
//!
//! On x86-64 the compares are SSE2 (part of the x86-64 baseline, so no
//! runtime detection), through `safe_arch`'s safe wrappers; other targets
//! compute the same bits a byte at a time.

/// The stop bits of one window.
pub(super) struct StopMap {
    /// Bit `k % 64` of word `k / 64` is set when byte `k` is a stop.
    bits: Vec<u64>,
}

/// True for the bytes a string scan stops at.
fn is_stop(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

impl StopMap {
    /// The stop bits of `bytes`.
    pub(super) fn new(bytes: &[u8]) -> StopMap {
        let mut map = StopMap { bits: Vec::new() };
        map.fill(bytes);
        map
    }

    /// Makes this the stop bits of `bytes`, reusing the allocation.
    pub(super) fn fill(&mut self, bytes: &[u8]) {
        let bits = &mut self.bits;
        bits.clear();
        bits.reserve(bytes.len().div_ceil(64));
        let mut blocks = bytes.chunks_exact(64);
        for block in &mut blocks {
            bits.push(block_bits(block));
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            let word = tail.iter().enumerate().fold(0u64, |w, (k, &b)| w | (u64::from(is_stop(b)) << k));
            bits.push(word);
        }
    }

    /// A view whose offset 0 is byte `base` of the window (a line's start).
    pub(super) fn at(&self, base: usize) -> Stops<'_> {
        Stops { bits: &self.bits, base }
    }
}

/// The stop bits from one line's start ([`StopMap::at`]).
#[derive(Clone, Copy)]
pub(super) struct Stops<'a> {
    bits: &'a [u64],
    base: usize,
}

impl Stops<'_> {
    /// The offset of the first stop at or after offset `from`, if any
    /// (possibly past the line's end: the caller bounds it).
    pub(super) fn next(&self, from: usize) -> Option<usize> {
        let at = self.base + from;
        let mut word = at / 64;
        let mut bits = self.bits.get(word)? & (u64::MAX << (at % 64));
        while bits == 0 {
            word += 1;
            bits = *self.bits.get(word)?;
        }
        Some(word * 64 + bits.trailing_zeros() as usize - self.base)
    }
}

/// The stop bits of a 64-byte block.
#[cfg(target_arch = "x86_64")]
fn block_bits(block: &[u8]) -> u64 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i as eq, m128i, max_u8_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let quote = set_splat_i8_m128i(b'"' as i8);
    let slash = set_splat_i8_m128i(b'\\' as i8);
    let control = set_splat_i8_m128i(0x1f);
    let mut word = 0u64;
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let Ok(lane) = <[u8; 16]>::try_from(lane) else { continue };
        let x = m128i::from(lane);
        // `max(x, 0x1f) == 0x1f` is `x <= 0x1f` on unsigned bytes.
        let hits = eq(x, quote) | eq(x, slash) | eq(max_u8_m128i(x, control), control);
        word |= u64::from(move_mask_i8_m128i(hits) as u16) << (16 * k);
    }
    word
}

/// The stop bits of a 64-byte block.
#[cfg(not(target_arch = "x86_64"))]
fn block_bits(block: &[u8]) -> u64 {
    block.iter().enumerate().fold(0u64, |w, (k, &b)| w | (u64::from(is_stop(b)) << k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every offset's next stop is the first byte at or after it that
        /// `is_stop` accepts, from every line start, whatever the bytes.
        #[test]
        fn next_is_the_first_stop_byte(
            bytes in prop::collection::vec(prop::sample::select(vec![b'a', b'"', b'\\', 0u8, 0x1f, 0x20, 0x7f, 0x80, 0xff, b'\n']), 0..300),
            base in 0usize..300,
        ) {
            let map = StopMap::new(&bytes);
            let base = base.min(bytes.len());
            let stops = map.at(base);
            for from in 0..=bytes.len() - base {
                let want = bytes[base + from..].iter().position(|&b| is_stop(b)).map(|k| from + k);
                prop_assert_eq!(stops.next(from), want);
            }
        }
    }

    #[test]
    fn stops_at_quotes_backslashes_and_control_characters_only() {
        for b in 0..=u8::MAX {
            let mut bytes = vec![b'a'; 200];
            bytes[130] = b;
            let want = (b == b'"' || b == b'\\' || b < 0x20).then_some(130);
            assert_eq!(StopMap::new(&bytes).at(0).next(0), want, "byte {b:#04x}");
        }
    }
}
