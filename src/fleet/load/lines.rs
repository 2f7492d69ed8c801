//! JSON Lines into a [`FleetIndex`]: a three-stage pipeline over blocks.
//!
//! While block `k + 1` is read from the file, block `k` is cut into chunks
//! of whole lines that are parsed in parallel ([`chunk::parse`]), and block
//! `k - 1`'s chunks are merged into the builder in file order
//! ([`chunk::merge`]); the three run on the rayon pool as nested joins.
//! Memory is the index plus three blocks (recycled, so their pages are
//! faulted in once) and their chunks' codes.
//!
//! Decision: plain reads rather than a memory map. The map would save one
//! copy from the page cache, but the file would have to stay unmodified
//! while mapped (see `fleet/mapped.rs`), mapping needs the one `unsafe`
//! call the crate allows in that file alone, and the non-`mmap` build must
//! load the same way; the copy is a small share of a load (see
//! docs/fleet-scale.md), and it runs beside the parse.
//!
//! Line and record numbers are only needed for an error, so chunks count
//! their own lines and records and the merge, which runs in order, turns
//! the first failure into the error the row loader gives (file, line,
//! record, field; or the invalid UTF-8).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::chunk::{self, Chunk, Context};
use super::scan::Targets;
use crate::fleet::index::{FleetBuilder, FleetIndex};
use crate::inventory::project::Projection;
use crate::inventory::InventoryError;
use crate::par::prelude::*;

/// Bytes read per block (cut back to the last whole line).
pub(super) const BLOCK: usize = 16 << 20;

/// Streams the JSON Lines file `path` into an index, `block` bytes at a
/// time (a parameter so tests can cut blocks anywhere).
pub(super) fn stream(
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
    projection: &Projection,
    block: usize,
) -> Result<FleetIndex, InventoryError> {
    let block = block.max(1);
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let targets = Targets::new(projection);
    let mut builder = FleetBuilder::projected(projection);
    let mut tally = Tally::default();
    let mut read = 0u64;
    let mut cur = Vec::new();
    let mut eof = fill(&mut file, &mut cur, block, &mut read, progress).map_err(io)?;
    let mut spare = Vec::new();
    let mut pending: Option<(Vec<u8>, Vec<Chunk>)> = None;
    let mut file_start = true;
    loop {
        let mut next = std::mem::take(&mut spare);
        next.clear();
        if !eof {
            match memchr::memrchr(b'\n', &cur) {
                Some(end) => {
                    next.extend_from_slice(cur.get(end + 1..).unwrap_or(&[]));
                    cur.truncate(end + 1);
                }
                None => {
                    // Not one whole line yet: read on.
                    spare = next;
                    eof = fill(&mut file, &mut cur, block, &mut read, progress).map_err(io)?;
                    continue;
                }
            }
        }
        let dedup = builder.dedup_flags();
        let cx = Context { targets: &targets, projection, dedup: &dedup };
        let last = eof;
        let (filled, (parsed, merged)) = crate::par::join(
            || if last { Ok(true) } else { fill(&mut file, &mut next, block, &mut read, progress) },
            || {
                crate::par::join(
                    || parse_block(&cur, block, file_start, &cx),
                    || merge_all(&mut builder, pending.take(), &mut tally, path),
                )
            },
        );
        spare = merged?;
        eof = filled.map_err(io)?;
        file_start = false;
        pending = Some((std::mem::replace(&mut cur, next), parsed));
        if last {
            break;
        }
    }
    merge_all(&mut builder, pending, &mut tally, path)?;
    Ok(builder.finish())
}

/// Appends up to `n` bytes of `file` to `buf`; true at the end of the file.
fn fill(
    file: &mut File,
    buf: &mut Vec<u8>,
    n: usize,
    read: &mut u64,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<bool> {
    buf.reserve(n);
    let got = file.by_ref().take(n as u64).read_to_end(buf)?;
    *read += got as u64;
    progress(*read);
    Ok(got < n)
}

/// Lines and devices merged so far, to number an error.
#[derive(Default)]
struct Tally {
    lines: usize,
    devices: usize,
}

/// `block` cut into chunks of whole lines, parsed in parallel.
fn parse_block(block: &[u8], size: usize, file_start: bool, cx: &Context<'_>) -> Vec<Chunk> {
    // Sixteen chunks per block: the block's last chunk is a barrier (the
    // next turn starts when every stage has ended), and with eight the
    // threads' time waiting on it was a tenth of a load; fewer, larger
    // chunks would also let their dictionaries outgrow the cache.
    let target = (size / 16).max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let end = chunk::line_end(block, start + target);
        ranges.push((start, end));
        start = end;
    }
    ranges
        .par_iter()
        .enumerate()
        .map(|(k, &(a, b))| chunk::parse(block, a, b, file_start && k == 0, cx))
        .collect()
}

/// Merges a parsed block; gives its buffer back for reuse.
fn merge_all(
    builder: &mut FleetBuilder,
    pending: Option<(Vec<u8>, Vec<Chunk>)>,
    tally: &mut Tally,
    path: &Path,
) -> Result<Vec<u8>, InventoryError> {
    let Some((block, chunks)) = pending else { return Ok(Vec::new()) };
    for c in &chunks {
        if let Some(f) = &c.failed {
            let line = tally.lines + f.line + 1;
            let record = tally.devices + f.record;
            return Err(super::record_error(path, line, record, block.get(f.start..f.end).unwrap_or(&[])));
        }
        chunk::merge(builder, &block, c).map_err(|e| super::overflow(path, e))?;
        tally.lines += c.lines;
        tally.devices += c.devices;
    }
    Ok(block)
}
