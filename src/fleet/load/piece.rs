//! One piece of a JSON Lines file: the lines that start in a byte range,
//! read on their own.
//!
//! Decision: each piece is read by the task that parses it, with a
//! positioned read (`pread`), rather than by one reader filling 16 MiB
//! blocks that were parsed a pipeline stage later. Measured on 2M devices:
//! the same wall time within the machine's noise, 20 MiB less memory, no
//! serial reader stage, and a simpler pipeline (no block to cut at line
//! ends, nothing carried from one block to the next). The kernel's copy
//! from the page cache costs the same whatever it copies into (8–10 GB/s
//! by `dd` at 64 KiB to 16 MiB a read).
//!
//! A line belongs to the piece its first byte is in, so pieces can be cut
//! anywhere without looking at the file: a piece skips the line it starts
//! inside (its owner reads it) and reads past its end to finish its last
//! line.

use std::fs::File;
use std::io;

/// Bytes read at a time past a piece's end while its last line goes on:
/// lines of a Graph export are a few hundred bytes.
#[cfg(not(test))]
const EXTEND: usize = 4 << 10;
/// Unit tests finish lines a few bytes at a time.
#[cfg(test)]
const EXTEND: usize = 3;

/// Reads into `buf` the lines of `file` that start in bytes `start..end`,
/// through the end of the last of them (its newline, or the end of the
/// file). Returns where in `buf` the first line starts; `buf[from..]` is
/// empty when no line starts in the range.
///
/// `buf` keeps its length between calls (only its first `len()` bytes
/// after the call are the piece), so a recycled buffer is not zeroed
/// again.
pub(super) fn read_lines(file: &File, start: u64, end: u64, buf: &mut Vec<u8>) -> io::Result<usize> {
    // From the byte before `start`: a newline there means a line starts at
    // `start`.
    let from = start.saturating_sub(1);
    let want = usize::try_from(end.saturating_sub(from)).unwrap_or(usize::MAX);
    let mut len = read_full(file, from, want, buf, 0)?;
    let first = if start == 0 {
        0
    } else {
        match memchr::memchr(b'\n', buf.get(..len).unwrap_or(&[])) {
            // The line starts at or past `end`: the next piece's.
            Some(k) if from + k as u64 + 1 < end => k + 1,
            // The line started before `start` and is its owner's.
            _ => {
                buf.truncate(0);
                return Ok(0);
            }
        }
    };
    let mut eof = len < want;
    while !eof && buf.get(..len).and_then(|b| b.last()) != Some(&b'\n') {
        let got = read_full(file, from + len as u64, EXTEND, buf, len)?;
        match memchr::memchr(b'\n', buf.get(len..len + got).unwrap_or(&[])) {
            Some(k) => len += k + 1,
            None => len += got,
        }
        eof = got < EXTEND;
    }
    buf.truncate(len);
    Ok(first)
}

/// Reads up to `n` bytes at `offset` of `file` into `buf[at..]`, growing
/// `buf` as needed; fewer only at the end of the file.
fn read_full(file: &File, offset: u64, n: usize, buf: &mut Vec<u8>, at: usize) -> io::Result<usize> {
    let need = at.saturating_add(n);
    if buf.len() < need {
        buf.resize(need, 0);
    }
    let mut got = 0;
    while got < n {
        let Some(into) = buf.get_mut(at + got..need) else { break };
        match read_at(file, into, offset + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(not(any(unix, windows)))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> io::Result<usize> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "positioned reads are not supported on this platform"))
}

#[cfg(test)]
mod tests {
    use super::read_lines;

    /// Every cut of a file into pieces gives back each line once, whole.
    #[test]
    fn pieces_hold_each_line_once_at_any_size() {
        let texts: [&[u8]; 5] = [b"a\nbb\n\nccc\ndddd", b"\n\n\n", b"x", b"", b"long line here\nshort\n"];
        for text in texts {
            let dir = tempfile::tempdir().ok();
            let Some(path) = dir.as_ref().map(|d| d.path().join("f")) else { return };
            assert!(std::fs::write(&path, text).is_ok());
            let Ok(file) = std::fs::File::open(&path) else { return };
            for size in 1..=text.len() as u64 + 1 {
                let mut all = Vec::new();
                let mut buf = Vec::new();
                let mut start = 0;
                while start < text.len() as u64 {
                    let first = read_lines(&file, start, start + size, &mut buf);
                    all.extend_from_slice(buf.get(first.unwrap_or(0)..).unwrap_or(&[]));
                    start += size;
                }
                assert_eq!(all, text, "pieces of {size}");
            }
        }
    }
}
