//! Records that share an id: which one counts.
//!
//! Decision: the last one, as when Graph delta pages are applied in order
//! (a later page's object replaces the earlier one); every repeat is
//! reported with both record positions, so the export can be fixed.
//! `eval`, `explain` and `plan` all load through this rule, so they agree
//! on which record they read.

use std::collections::HashMap;

/// One id found at two record positions (0-based, in file order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// The shared object id.
    pub id: String,
    /// The earlier record, which is dropped.
    pub first: usize,
    /// The later record, which wins (unless a still later one does).
    pub later: usize,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "id {} appears at records {} and {}; the later record is used, as a Graph delta would",
            self.id, self.first, self.later
        )
    }
}

/// For ids in file order: which positions survive (the last of each id)
/// and the repeats. Ids compare case-insensitively, as object ids do.
pub fn last_wins<'a>(ids: impl Iterator<Item = &'a str>) -> (Vec<bool>, Vec<Duplicate>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut keep = Vec::new();
    let mut duplicates = Vec::new();
    for (i, id) in ids.enumerate() {
        keep.push(true);
        if let Some(first) = seen.insert(id.to_ascii_lowercase(), i) {
            if let Some(k) = keep.get_mut(first) {
                *k = false;
            }
            duplicates.push(Duplicate { id: id.to_string(), first, later: i });
        }
    }
    (keep, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_record_of_an_id_wins() {
        let (keep, dups) = last_wins(["a", "b", "A", "a"].into_iter());
        assert_eq!(keep, [false, true, false, true]);
        assert_eq!(dups.len(), 2);
        assert_eq!((dups[0].first, dups[0].later), (0, 2));
        assert_eq!((dups[1].first, dups[1].later), (2, 3));
    }
}
