//! The few JSON and CSV primitives the membership writers need, written
//! byte for byte as `serde_json::to_string_pretty` and the `csv` crate
//! write them, so the fast writers' output is identical to the typed
//! serializers they replace (`tests/it/fleet_output.rs` compares them).

use std::io::Write;

use crate::par::prelude::*;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string: `"` and `\` escaped, control characters as
/// `\n`-style escapes or `\u00XX` (lower-case hex), everything else raw —
/// serde_json's `CompactFormatter` rules.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if plain(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0..=0x1F => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// True when `bytes` hold nothing JSON escapes (no `"`, `\\` or control
/// character), checked 16 bytes at a time without branches so the compiler
/// can vectorize it: the common case of a plain id or name is then one
/// copy.
pub(crate) fn plain(bytes: &[u8]) -> bool {
    let special = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut chunks = bytes.chunks_exact(16);
    for c in &mut chunks {
        if c.iter().fold(false, |any, &b| any | special(b)) {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| special(b))
}

/// `s` as a JSON string.
pub(crate) fn quoted(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    string(&mut v, s);
    v
}

/// Appends `"key": ` at `indent` spaces.
pub(crate) fn key(out: &mut Vec<u8>, indent: usize, k: &str) {
    spaces(out, indent);
    string(out, k);
    out.extend_from_slice(b": ");
}

pub(crate) fn spaces(out: &mut Vec<u8>, n: usize) {
    out.extend(std::iter::repeat_n(b' ', n));
}

/// A small value pretty-printed by serde_json and re-indented to sit at
/// `indent` (its first line is not indented: it follows a key).
pub(crate) fn small(out: &mut Vec<u8>, indent: usize, v: &impl serde::Serialize) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    for (k, line) in text.split('\n').enumerate() {
        if k > 0 {
            out.push(b'\n');
            spaces(out, indent);
        }
        out.extend_from_slice(line.as_bytes());
    }
}

/// Appends `s` as a CSV field, quoted only when it holds a comma, a quote,
/// CR or LF, quotes doubled (the `csv` crate's `QuoteStyle::Necessary`).
pub(crate) fn csv_field(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !b.iter().any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n')) {
        out.extend_from_slice(b);
        return;
    }
    out.push(b'"');
    for &c in b {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
    out.push(b'"');
}

/// Records (bits of a membership bitmap) per formatting task: 512 words.
pub(crate) const CHUNK: usize = 1 << 15;

/// Writes pieces `0..n`, each formatted by `piece(k, out)` on the thread
/// pool, in order.
///
/// Formatting and writing overlap: a producer thread formats a window of
/// pieces in parallel while the calling thread writes the window before it
/// (the caller keeps the writer, which need not be `Send`, such as a
/// locked stdout). A window is two pieces per thread; two windows are
/// alive at a time and their buffers are reused, so with pieces of a
/// megabyte or two memory stays at about ten megabytes whatever the
/// output's size.
/// Called from a pool thread (where waiting on the producer could starve
/// it), it formats and writes by turns instead: the same bytes.
pub(crate) fn par_pieces(
    w: &mut dyn Write,
    n: usize,
    piece: &(dyn Fn(usize, &mut Vec<u8>) + Sync),
) -> std::io::Result<()> {
    let window = crate::par::current_num_threads().max(1) * 2;
    if n <= 1 || on_pool_thread() {
        let mut bufs = Vec::new();
        let mut c = 0;
        while c < n {
            let upto = (c + window).min(n);
            bufs = format_window(bufs, c, upto, piece);
            for b in &bufs {
                w.write_all(b)?;
            }
            c = upto;
        }
        return Ok(());
    }
    std::thread::scope(|s| {
        // A rendezvous: the producer hands a window over only when the
        // writer is ready for it, so two windows' buffers are all there is.
        let (full, filled) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(0);
        let (empty, emptied) = std::sync::mpsc::channel::<Vec<Vec<u8>>>();
        s.spawn(move || {
            let mut c = 0;
            while c < n {
                let upto = (c + window).min(n);
                let bufs = format_window(emptied.try_recv().unwrap_or_default(), c, upto, piece);
                // A closed channel: the writer failed and stopped reading.
                if full.send(bufs).is_err() {
                    return;
                }
                c = upto;
            }
        });
        while let Ok(bufs) = filled.recv() {
            for b in &bufs {
                w.write_all(b)?;
            }
            let _ = empty.send(bufs);
        }
        Ok(())
    })
}

/// Pieces `from..upto` formatted in parallel into `bufs` (reused buffers).
fn format_window(
    mut bufs: Vec<Vec<u8>>,
    from: usize,
    upto: usize,
    piece: &(dyn Fn(usize, &mut Vec<u8>) + Sync),
) -> Vec<Vec<u8>> {
    bufs.resize_with(upto - from, Vec::new);
    bufs.into_par_iter()
        .zip(from..upto)
        .map(|(mut out, k)| {
            out.clear();
            piece(k, &mut out);
            out
        })
        .collect()
}

#[cfg(feature = "parallel")]
fn on_pool_thread() -> bool {
    rayon::current_thread_index().is_some()
}

#[cfg(not(feature = "parallel"))]
fn on_pool_thread() -> bool {
    false
}

/// Writes items `0..n`, formatted by `item(i, out)` in parallel chunks of
/// [`CHUNK`] items and written in order.
pub(crate) fn par_items(
    w: &mut dyn Write,
    n: usize,
    item: &(dyn Fn(usize, &mut Vec<u8>) + Sync),
) -> std::io::Result<()> {
    par_pieces(w, n.div_ceil(CHUNK), &|k, out| {
        for i in k * CHUNK..((k + 1) * CHUNK).min(n) {
            item(i, out);
        }
    })
}

/// Writes a pretty JSON array of `n` items at `indent` (the key already
/// written): `[]` when empty, else one item per line at `indent + 2`.
pub(crate) fn array(
    w: &mut dyn Write,
    indent: usize,
    n: usize,
    item: &(dyn Fn(usize, &mut Vec<u8>) + Sync),
) -> std::io::Result<()> {
    if n == 0 {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    par_items(w, n, &|i, out| {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        spaces(out, indent + 2);
        item(i, out);
    })?;
    let mut end = vec![b'\n'];
    spaces(&mut end, indent);
    end.push(b']');
    w.write_all(&end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_serde_json_does() {
        for s in ["plain", "q\"b\\s", "ctl\u{1}\u{1f}\u{7f}", "nl\n\r\t\u{8}\u{c}", "İstanbul ✓", ""] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(String::from_utf8_lossy(&out), serde_json::to_string(s).unwrap_or_default());
        }
    }

    #[test]
    fn csv_fields_quote_as_the_csv_crate_does() -> Result<(), Box<dyn std::error::Error>> {
        for s in ["plain", "a,b", "q\"x", "line\nbreak", "cr\r", " lead", ""] {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([s, "x"])?;
            let expected = w.into_inner()?;
            let mut out = Vec::new();
            csv_field(&mut out, s);
            out.extend_from_slice(b",x\n");
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected), "{s:?}");
        }
        Ok(())
    }
}
