//! The one place fleetlab uses `unsafe`: memory-mapping a packed index.
//!
//! Everything else about a mapped index is safe code over `&[u8]`
//! ([`crate::fleet::store`]); this module only turns an open file into that
//! slice.
//!
//! Why a mapping is sound enough here, and what fleetlab does about the
//! rest. `memmap2::Mmap::map` is `unsafe` because Rust assumes the bytes
//! behind a `&[u8]` never change, while another process could modify or
//! truncate the file during the mapping's life (modification: the slice
//! changes under us; truncation: touching a vanished page raises SIGBUS).
//! fleetlab's stance:
//!
//! * fleetlab never writes a pack in place: `inventory pack` writes a
//!   temporary file and renames it over the old one, which leaves an open
//!   mapping pointing at the old, unchanged inode.
//! * The file is opened read-only and a shared advisory lock is taken
//!   (`File::try_lock_shared`) for as long as the mapping lives; a tool that
//!   honours advisory locks cannot take an exclusive lock to rewrite it. If
//!   the lock is held exclusively by someone else, the caller falls back to
//!   reading a private heap copy instead of mapping.
//! * Nothing in fleetlab trusts mapped bytes for memory safety: every
//!   offset and count is bounds-checked on use, and checksums are verified
//!   before answers are relied on. A change under the mapping can therefore
//!   yield a wrong answer or a checksum error, never an out-of-bounds read.
//!   A truncation by a foreign tool can still end the process with SIGBUS,
//!   the documented hazard of every memory-mapped reader;
//!   [`crate::fleet::FleetIndex::read`] copies the file instead for callers
//!   who cannot rule that out.
#![allow(unsafe_code)]

use std::fs::File;

/// Maps `file` read-only, after taking a shared advisory lock on it; `None`
/// when the file is locked exclusively by another process (read it instead).
pub(crate) fn map(file: &File) -> std::io::Result<Option<memmap2::Mmap>> {
    match file.try_lock_shared() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        // Filesystems without locks (some network mounts): map anyway, as
        // every other reader of such a file does.
        Err(std::fs::TryLockError::Error(_)) => {}
    }
    // SAFETY: the mapping is read-only and private to this process's view
    // of an inode fleetlab never modifies in place (packs are replaced by
    // rename); a shared advisory lock is held so cooperating writers wait.
    // The bytes are only ever read through bounds-checked safe code
    // (`store::Arr`), so a concurrent foreign modification can corrupt an
    // answer (caught by the section checksums) but not memory safety of
    // any read; truncation by a foreign tool is the SIGBUS hazard documented
    // above, avoided by `FleetIndex::read`.
    let map = unsafe { memmap2::Mmap::map(file)? };
    Ok(Some(map))
}
