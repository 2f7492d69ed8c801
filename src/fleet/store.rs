//! Column storage that is either owned (an index built in memory) or a view
//! into the bytes of a packed file (memory-mapped, or read into an aligned
//! heap buffer), behind one slice type, [`Arr`].
//!
//! Design decisions:
//!
//! * **Views are safe casts.** A packed file's sections start at multiples
//!   of 8 bytes and the backing buffer starts at a page (a mapping) or a
//!   `u64` (a heap copy), so `bytemuck::try_cast_slice` turns a section into
//!   `&[u16]`/`&[u32]` without copying and without `unsafe`; bytemuck checks
//!   the length and alignment on every cast and fails instead of reading
//!   out of bounds (the opener checks both once, so the checked failure
//!   never happens in practice and reads as an empty column if it did).
//!   Integers are little-endian in the file; on a big-endian host the
//!   opener copies and swaps them into owned arrays instead (see
//!   [`crate::fleet::pack`]).
//! * **Checksums in parallel, pages populated in bulk.** A section's CRC
//!   is computed in 1 MiB blocks on the thread pool and the parts combined,
//!   and each block of a mapping is populated with one `madvise` before it
//!   is read: the id dictionary of two million devices is 72 MB, read whole
//!   on first use, and is otherwise one thread taking a page fault every
//!   64 KB.
//! * **Sections are verified lazily, once.** Opening checks the header and
//!   the section table (bounds, alignment, lengths) and nothing else, so
//!   opening two million devices reads a few kilobytes. Each section's
//!   CRC-32 and its structural invariants (codes inside their dictionary,
//!   offsets ordered, text UTF-8) are checked the first time something asks
//!   for that section ([`Arr::verify`]), and the verdict is kept in a
//!   `OnceLock`: a rule that reads two columns faults in and checksums two
//!   columns. Unverified sections are still memory-safe to read — every
//!   read in this module and in [`crate::fleet::plan`] is bounds-checked —
//!   only their answers are not yet vouched for.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytemuck::Pod;

/// The bytes a packed index was opened from.
pub(crate) enum Bytes {
    /// A read-only memory mapping of the file ([`crate::fleet::mapped`]),
    /// and the file, whose shared lock lasts as long as the mapping.
    #[cfg(feature = "mmap")]
    Mapped { map: memmap2::Mmap, _file: std::fs::File },
    /// The file's bytes in a `u64` buffer (8-byte aligned), `len` of them used.
    Heap { words: Vec<u64>, len: usize },
}

impl Bytes {
    /// A heap copy of `bytes`, aligned like a mapping's sections need.
    pub(crate) fn copy_of(bytes: &[u8]) -> Bytes {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        if let Some(d) = dst.get_mut(..bytes.len()) {
            d.copy_from_slice(bytes);
        }
        Bytes::Heap { words, len: bytes.len() }
    }

    /// Asks the kernel to map `len` bytes at `offset` of a mapping in one
    /// call (`MADV_POPULATE_READ`, Linux 5.14+) before they are read whole,
    /// instead of taking a page fault every few pages. Advice only: where
    /// unsupported, or for a heap copy, the pages fault in as they are read.
    pub(crate) fn populate(&self, offset: usize, len: usize) {
        #[cfg(all(feature = "mmap", target_os = "linux"))]
        if let Bytes::Mapped { map, .. } = self {
            if len > 0 {
                let _ = map.advise_range(memmap2::Advice::PopulateRead, offset, len);
            }
        }
        let _ = (offset, len);
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            #[cfg(feature = "mmap")]
            Bytes::Mapped { map, .. } => map,
            Bytes::Heap { words, len } => {
                let all: &[u8] = bytemuck::cast_slice(words);
                all.get(..*len).unwrap_or(&[])
            }
        }
    }
}

/// Bytes per task when checksumming a section: large enough that a task
/// costs far more than its scheduling, small enough that a 70 MB id
/// dictionary keeps every thread busy.
const BLOCK: usize = 1 << 20;

/// Where one section lies in the file, and what it must checksum to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section {
    pub(crate) offset: usize,
    pub(crate) len: usize,
    pub(crate) crc: u32,
}

/// An opened packed file: its bytes, section table and per-section verdicts.
pub(crate) struct Backing {
    pub(crate) bytes: Bytes,
    pub(crate) sections: Vec<Section>,
    verdicts: Vec<OnceLock<Result<(), Arc<str>>>>,
    /// Labels errors ("devices.fleet").
    pub(crate) name: String,
}

impl Backing {
    pub(crate) fn new(bytes: Bytes, sections: Vec<Section>, name: String) -> Backing {
        let verdicts = sections.iter().map(|_| OnceLock::new()).collect();
        Backing { bytes, sections, verdicts, name }
    }

    /// Checks that the bytes between sections (alignment padding) are zero:
    /// no byte of the file escapes a check.
    pub(crate) fn verify_padding(&self) -> Result<(), Arc<str>> {
        let all = self.bytes.as_slice();
        let mut gaps = Vec::with_capacity(self.sections.len());
        for w in self.sections.windows(2) {
            gaps.push((w[0].offset.saturating_add(w[0].len), w[1].offset));
        }
        let dirty =
            gaps.iter().any(|&(from, to)| all.get(from..to).is_some_and(|g| g.iter().any(|&b| b != 0)));
        if dirty {
            return Err(format!(
                "{}: packed index is corrupt (padding between sections); re-pack it",
                self.name
            )
            .into());
        }
        Ok(())
    }

    fn section_bytes(&self, k: usize) -> &[u8] {
        let Some(s) = self.sections.get(k) else { return &[] };
        self.bytes.as_slice().get(s.offset..s.offset.saturating_add(s.len)).unwrap_or(&[])
    }

    /// The CRC-32 of section `k`, computed in blocks of [`BLOCK`] bytes on
    /// the thread pool and combined (`crc32fast::Hasher::combine`), each
    /// block's pages of a mapping populated in one call first.
    fn checksum(&self, k: usize) -> u32 {
        use crate::par::prelude::*;
        let bytes = self.section_bytes(k);
        let offset = self.sections.get(k).map_or(0, |s| s.offset);
        let parts: Vec<crc32fast::Hasher> = (0..bytes.len().div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let from = b * BLOCK;
                let block = bytes.get(from..bytes.len().min(from + BLOCK)).unwrap_or(&[]);
                self.bytes.populate(offset + from, block.len());
                let mut h = crc32fast::Hasher::new();
                h.update(block);
                h
            })
            .collect();
        let mut crc = crc32fast::Hasher::new();
        for part in &parts {
            crc.combine(part);
        }
        crc.finalize()
    }

    /// Checks section `k`'s CRC, then `check` on its contents; the verdict
    /// is computed once and remembered.
    fn verify(&self, k: usize, check: &dyn Fn(&[u8]) -> Result<(), String>) -> Result<(), Arc<str>> {
        let Some(slot) = self.verdicts.get(k) else { return Err("section out of range".into()) };
        if let Some(verdict) = slot.get() {
            return verdict.clone();
        }
        // Judged outside the cell: the checksum runs on the thread pool,
        // and a pool thread waiting inside `get_or_init` could be handed a
        // task that verifies the same section, re-entering the cell it is
        // initializing. Two threads racing judge twice, with one verdict.
        let verdict = self.judge(k, check);
        slot.get_or_init(|| verdict).clone()
    }

    /// Section `k`'s verdict: its CRC, then `check` on its bytes.
    fn judge(&self, k: usize, check: &dyn Fn(&[u8]) -> Result<(), String>) -> Result<(), Arc<str>> {
        let expected = self.sections.get(k).map_or(0, |s| s.crc);
        if self.checksum(k) != expected {
            return Err(format!(
                "{}: packed index is corrupt (section {k} fails its checksum); re-pack it with \
                 `fleetlab inventory pack`",
                self.name
            )
            .into());
        }
        check(self.section_bytes(k)).map_err(|m| {
            format!("{}: packed index is malformed (section {k}): {m}; re-pack it", self.name).into()
        })
    }
}

/// A read-only array of plain integers: owned, or a section of a packed file.
pub(crate) enum Arr<T: Pod> {
    Owned(Vec<T>),
    View { backing: Arc<Backing>, section: usize },
}

impl<T: Pod> Arr<T> {
    /// Verifies this array's section (a no-op for owned arrays): its CRC,
    /// then `check` on the elements.
    pub(crate) fn verify(&self, check: &dyn Fn(&[T]) -> Result<(), String>) -> Result<(), Arc<str>> {
        match self {
            Arr::Owned(_) => Ok(()),
            Arr::View { backing, section } => backing.verify(*section, &|bytes| {
                let items: &[T] = bytemuck::try_cast_slice(bytes).map_err(|e| format!("{e:?}"))?;
                check(items)
            }),
        }
    }

    /// Verifies the section's checksum only.
    pub(crate) fn verify_crc(&self) -> Result<(), Arc<str>> {
        self.verify(&|_| Ok(()))
    }

    /// True when the array is a view of a packed file.
    pub(crate) fn is_view(&self) -> bool {
        matches!(self, Arr::View { .. })
    }
}

impl<T: Pod> Deref for Arr<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Arr::Owned(v) => v,
            Arr::View { backing, section } => {
                bytemuck::try_cast_slice(backing.section_bytes(*section)).unwrap_or(&[])
            }
        }
    }
}

impl<T: Pod> From<Vec<T>> for Arr<T> {
    fn from(v: Vec<T>) -> Self {
        Arr::Owned(v)
    }
}

impl<T: Pod> Default for Arr<T> {
    fn default() -> Self {
        Arr::Owned(Vec::new())
    }
}

impl<T: Pod> Clone for Arr<T> {
    fn clone(&self) -> Self {
        match self {
            Arr::Owned(v) => Arr::Owned(v.clone()),
            Arr::View { backing, section } => Arr::View { backing: Arc::clone(backing), section: *section },
        }
    }
}

impl<T: Pod + PartialEq> PartialEq for Arr<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Pod + Eq> Eq for Arr<T> {}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Arr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_view() { "view" } else { "owned" };
        write!(f, "Arr({kind}, {} items)", self.len())
    }
}
