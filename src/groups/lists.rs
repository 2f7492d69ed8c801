//! The two big lists of a group report, formatted straight from the
//! membership bitmaps: each group's members, and each record's groups.
//!
//! Design decisions:
//!
//! * **Pieces of whole words.** Work is cut into pieces of [`CHUNK`]
//!   records (512 words of a bitmap; a quarter of that for the per-record
//!   list, whose records are longer); a piece visits its words' set bits, so
//!   a group holding 3% of the fleet costs its members plus one test per 64
//!   records, and pieces of every group stream through one
//!   [`par_pieces`] call, the small texts between them (a group's name,
//!   rule and count) being pieces of their own.
//! * **Each record's groups by transposing a piece.** A piece of the
//!   per-record list first turns the groups' words for its records into one
//!   small mask per record (`groups / 64` words each, a few hundred KB per
//!   piece), then writes each record with its groups' names, pre-escaped
//!   once per report. No report-sized transposed copy is ever built.
//! * **Ids checked for escaping once.** Object ids are GUIDs in practice;
//!   [`ids_plain`] checks every id once per report, after which each is
//!   copied between quotes without a per-byte look.

use std::io::Write;

#[cfg(not(feature = "parallel"))]
use crate::par::prelude::*;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::groups::json::{par_pieces, plain, quoted, string, CHUNK};
use crate::groups::write::Records;
use crate::groups::Membership;

/// Bitmap words per piece of a member list (a piece is then at most 1.5 MB
/// of ids).
const WORDS: usize = CHUNK / 64;

/// Records per piece of the per-record list: a record with its name and
/// groups is a few hundred bytes, so a piece is a megabyte or two.
const RECORDS: usize = CHUNK / 4;

/// True when no id of `records` needs JSON escaping.
pub(crate) fn ids_plain<R: Records + ?Sized>(records: &R) -> bool {
    (0..records.count()).into_par_iter().all(|i| plain(records.id(i).as_bytes()))
}

/// Appends record `i`'s id as a JSON string.
fn id<R: Records + ?Sized>(out: &mut Vec<u8>, records: &R, i: usize, plain_ids: bool) {
    let s = records.id(i);
    if plain_ids {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        string(out, s);
    }
}

/// One unit of streamed output.
pub(crate) enum Piece {
    /// Bytes written as they are.
    Text(Vec<u8>),
    /// The members of group `g` among the records of words `from..to`;
    /// `first` when the group's first member lies there.
    Members { g: usize, from: usize, to: usize, first: bool },
}

/// The pieces listing group `g`'s members, one per [`CHUNK`] records;
/// none for an empty group.
pub(crate) fn member_pieces(m: &Membership, g: usize, pieces: &mut Vec<Piece>) {
    let words = m.words(g);
    let Some(first_word) = words.iter().position(|&w| w != 0) else { return };
    let mut from = first_word - first_word % WORDS;
    while from < words.len() {
        let to = (from + WORDS).min(words.len());
        pieces.push(Piece::Members { g, from, to, first: (from..to).contains(&first_word) });
        from = to;
    }
}

/// Writes `pieces` in order; each member line is `,\n` (none before the
/// first), `indent` spaces and `member(out, i)`.
pub(crate) fn write_pieces(
    w: &mut dyn Write,
    m: &Membership,
    pieces: &[Piece],
    indent: usize,
    member: &(dyn Fn(&mut Vec<u8>, usize) + Sync),
) -> std::io::Result<()> {
    let mut lead = b",\n".to_vec();
    lead.extend(std::iter::repeat_n(b' ', indent));
    par_pieces(w, pieces.len(), &|k, out| match pieces.get(k) {
        Some(Piece::Text(t)) => out.extend_from_slice(t),
        Some(&Piece::Members { g, from, to, first }) => {
            let words = m.words(g).get(from..to).unwrap_or(&[]);
            let mut skip = usize::from(first);
            for (k, &word) in words.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let i = (from + k) * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    out.extend_from_slice(lead.get(skip..).unwrap_or(&[]));
                    skip = 0;
                    member(out, i);
                }
            }
        }
        None => {}
    })
}

/// A group's member line in the JSON report: its id.
pub(crate) fn json_member<'r, R: Records + ?Sized>(
    records: &'r R,
    plain_ids: bool,
) -> impl Fn(&mut Vec<u8>, usize) + Sync + 'r {
    move |out, i| id(out, records, i, plain_ids)
}

/// The per-record array of the JSON report at indent 2: each record's id,
/// display name and groups, in declared order (`id`, `displayName`,
/// `groups`) or `sorted`. `names` are the groups' names as JSON strings.
pub(crate) fn records_array<R: Records + ?Sized>(
    w: &mut dyn Write,
    m: &Membership,
    names: &[Vec<u8>],
    records: &R,
    sorted: bool,
    plain_ids: bool,
) -> std::io::Result<()> {
    let n = records.count();
    if n == 0 {
        return w.write_all(b"[]");
    }
    let entries: Vec<Vec<u8>> = names
        .iter()
        .map(|q| {
            let mut e = b"\n        ".to_vec();
            e.extend_from_slice(q);
            e
        })
        .collect();
    let gw = names.len().div_ceil(64).max(1);
    w.write_all(b"[\n")?;
    par_pieces(w, n.div_ceil(RECORDS), &|k, out| {
        let start = k * RECORDS;
        let len = RECORDS.min(n - start);
        let masks = transpose(m, names.len(), start / 64, len, gw);
        for r in 0..len {
            let i = start + r;
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            let mask = masks.get(r * gw..(r + 1) * gw).unwrap_or(&[]);
            if sorted {
                out.extend_from_slice(b"    {\n      \"displayName\": ");
                string(out, records.name(i));
                out.extend_from_slice(b",\n      \"groups\": ");
                groups(out, mask, &entries);
                out.extend_from_slice(b",\n      \"id\": ");
                id(out, records, i, plain_ids);
            } else {
                out.extend_from_slice(b"    {\n      \"id\": ");
                id(out, records, i, plain_ids);
                out.extend_from_slice(b",\n      \"displayName\": ");
                string(out, records.name(i));
                out.extend_from_slice(b",\n      \"groups\": ");
                groups(out, mask, &entries);
            }
            out.extend_from_slice(b"\n    }");
        }
    })?;
    w.write_all(b"\n  ]")
}

/// Group masks of records `first_word * 64 ..` (`len` of them): record
/// `r`'s groups are the set bits of `masks[r * gw .. (r + 1) * gw]`.
fn transpose(m: &Membership, groups: usize, first_word: usize, len: usize, gw: usize) -> Vec<u64> {
    let mut masks = vec![0u64; len * gw];
    for g in 0..groups {
        let words = m.words(g);
        let end = (first_word + len.div_ceil(64)).min(words.len());
        for (k, &word) in words.get(first_word..end).unwrap_or(&[]).iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let r = k * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if let Some(slot) = masks.get_mut(r * gw + g / 64) {
                    *slot |= 1 << (g % 64);
                }
            }
        }
    }
    masks
}

/// A record's `groups` array: `[]`, or one pre-escaped name per line.
fn groups(out: &mut Vec<u8>, mask: &[u64], entries: &[Vec<u8>]) {
    if mask.iter().all(|&w| w == 0) {
        out.extend_from_slice(b"[]");
        return;
    }
    out.push(b'[');
    let mut sep = false;
    for (k, &word) in mask.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            let g = k * 64 + word.trailing_zeros() as usize;
            word &= word - 1;
            if sep {
                out.push(b',');
            }
            sep = true;
            out.extend_from_slice(entries.get(g).map_or(&b"\n        \"\""[..], |e| e));
        }
    }
    out.extend_from_slice(b"\n      ]");
}

/// The groups' names as JSON strings, in set order.
pub(crate) fn quoted_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Vec<u8>> {
    names.map(quoted).collect()
}
