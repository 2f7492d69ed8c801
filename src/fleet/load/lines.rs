//! JSON Lines into a [`FleetIndex`]: pieces read and parsed in parallel,
//! merged in file order.
//!
//! The file is cut into pieces of a megabyte, sixteen to a turn. While a
//! turn's pieces are read and parsed on every thread ([`piece::read_lines`],
//! [`chunk::parse`]), the previous turn's chunks are merged into the
//! builder in file order ([`chunk::merge`]); the two run on the rayon pool
//! as a join. Memory is the index plus two turns' pieces (their buffers
//! recycled, so their pages are faulted in once) and their chunks' codes.
//!
//! Decision: plain positioned reads rather than a memory map. The map
//! would save one copy from the page cache, but the file would have to
//! stay unmodified while mapped (see `fleet/mapped.rs`), mapping needs the
//! one `unsafe` call the crate allows in that file alone, and the
//! non-`mmap` build must load the same way; the copy is about a sixth of
//! a load's time, spread over every thread (see `piece.rs`).
//!
//! Line and record numbers are only needed for an error, so chunks count
//! their own lines and records and the merge, which runs in order, turns
//! the first failure into the error the row loader gives (file, line,
//! record, field; or the invalid UTF-8).

use std::fs::File;
use std::path::Path;

use super::chunk::{self, Chunk, Context};
use super::piece;
use super::scan::Targets;
use crate::fleet::index::{FleetBuilder, FleetIndex};
use crate::inventory::project::Projection;
use crate::inventory::InventoryError;
use crate::par::prelude::*;

/// Bytes of the file per piece (a piece reads on to finish its last line).
pub(super) const PIECE: usize = 1 << 20;

/// Pieces parsed per turn. A turn's last piece is a barrier (the next turn
/// starts when the merge and every piece have ended): with eight, the
/// threads' time waiting on it was a tenth of a load.
const PIECES_PER_TURN: u64 = 16;

/// Streams the JSON Lines file `path` into an index, `piece` bytes at a
/// time (a parameter so tests can cut pieces anywhere).
pub(super) fn stream(
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
    projection: &Projection,
    piece: usize,
) -> Result<FleetIndex, InventoryError> {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io)?;
    let before = file.metadata().map_err(io)?;
    let index = read_all(&file, before.len(), path, progress, projection, piece);
    // Pieces are read out of order: a file rewritten in place meanwhile
    // would give parts of two exports (or, cut short, fewer devices) with
    // no parse error to show it. Replacing the file by a rename, as
    // fleetlab's own writers do, leaves this open file as it was.
    let now = file.metadata().map_err(io)?;
    if now.len() != before.len() || now.modified().ok() != before.modified().ok() {
        return Err(io(std::io::Error::other(
            "the file changed while it was read (its size or modification time moved); \
             load it again once it is written",
        )));
    }
    index
}

/// The devices of the first `size` bytes of `file`.
fn read_all(
    file: &File,
    size: u64,
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
    projection: &Projection,
    piece: usize,
) -> Result<FleetIndex, InventoryError> {
    let piece = piece.max(1) as u64;
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let targets = Targets::new(projection);
    let mut builder = FleetBuilder::projected(projection);
    let mut tally = Tally::default();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut pending: Vec<Chunk> = Vec::new();
    let mut next = 0u64;
    while next < size {
        let turn_end = size.min(next.saturating_add(piece.saturating_mul(PIECES_PER_TURN)));
        let ranges: Vec<(u64, u64)> = (next..turn_end)
            .step_by(usize::try_from(piece).unwrap_or(usize::MAX))
            .map(|a| (a, turn_end.min(a.saturating_add(piece))))
            .collect();
        let buffers: Vec<Vec<u8>> = ranges.iter().map(|_| spare.pop().unwrap_or_default()).collect();
        let dedup = builder.dedup_flags();
        let cx = Context { targets: &targets, projection, dedup: &dedup };
        let (parsed, merged) = crate::par::join(
            || read_and_parse(file, ranges, buffers, &cx),
            || merge_all(&mut builder, std::mem::take(&mut pending), &mut tally, path),
        );
        spare.extend(merged?);
        pending = parsed.map_err(io)?;
        progress(turn_end);
        next = turn_end;
    }
    merge_all(&mut builder, pending, &mut tally, path)?;
    Ok(builder.finish())
}

/// The pieces `ranges` of `file`, each read into its buffer and parsed, in
/// parallel.
fn read_and_parse(
    file: &File,
    ranges: Vec<(u64, u64)>,
    buffers: Vec<Vec<u8>>,
    cx: &Context<'_>,
) -> std::io::Result<Vec<Chunk>> {
    ranges
        .into_par_iter()
        .zip(buffers)
        .map(|((start, end), mut buf)| {
            let first = piece::read_lines(file, start, end, &mut buf)?;
            Ok(chunk::parse(buf, first, start == 0, cx))
        })
        .collect()
}

/// Lines and devices merged so far, to number an error.
#[derive(Default)]
struct Tally {
    lines: usize,
    devices: usize,
}

/// Merges a turn's chunks; gives their buffers back for reuse.
fn merge_all(
    builder: &mut FleetBuilder,
    chunks: Vec<Chunk>,
    tally: &mut Tally,
    path: &Path,
) -> Result<Vec<Vec<u8>>, InventoryError> {
    let mut buffers = Vec::with_capacity(chunks.len());
    for c in chunks {
        if let Some(f) = &c.failed {
            let line = tally.lines + f.line + 1;
            let record = tally.devices + f.record;
            return Err(super::record_error(
                path,
                line,
                record,
                c.bytes().get(f.start..f.end).unwrap_or(&[]),
            ));
        }
        chunk::merge(builder, &c).map_err(|e| super::overflow(path, e))?;
        tally.lines += c.lines;
        tally.devices += c.devices;
        buffers.push(c.into_bytes());
    }
    Ok(buffers)
}
