//! Which records each group holds: one [`Bitmap`] per group.
//!
//! Decision: membership is kept as bits, not index lists. The columnar
//! engine produces bitmaps, and a report over two million devices and 50
//! groups holds 12.5 MB of them where the lists took over 100 MB; writers
//! walk the bits a 64-bit word at a time, which also gives each record's
//! groups without a second, transposed copy.

use crate::groups::Bitmap;

/// Members of each group, as one bitmap per group over the evaluated
/// records (bit `i`: record `i` is a member), groups in set order.
///
/// ```
/// use fleetlab::groups::Membership;
/// let m = Membership::from_lists(4, vec![vec![0, 3], vec![]]);
/// assert_eq!(m.groups(), 2);
/// assert_eq!(m.count(0), 2);
/// assert_eq!(m.members(0).collect::<Vec<_>>(), vec![0, 3]);
/// assert_eq!(m.members(1).count(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    bitmaps: Vec<Bitmap>,
    len: usize,
}

impl Membership {
    /// Membership from one bitmap per group, as
    /// [`crate::fleet::CompiledSet::evaluate`] returns them; the records
    /// covered are the longest bitmap's.
    ///
    /// ```
    /// use fleetlab::fleet::Bitmap;
    /// use fleetlab::groups::Membership;
    /// let m = Membership::from_bitmaps(vec![Bitmap::from_bools(&[false, true])]);
    /// assert_eq!((m.len(), m.count(0)), (2, 1));
    /// ```
    pub fn from_bitmaps(bitmaps: Vec<Bitmap>) -> Membership {
        let len = bitmaps.iter().map(Bitmap::len).max().unwrap_or(0);
        Membership { bitmaps, len }
    }

    /// Membership from one list of record indices per group, over `len`
    /// records; an index at or past `len` names no record and is left out.
    pub fn from_lists(len: usize, lists: Vec<Vec<usize>>) -> Membership {
        let bitmaps = lists.into_iter().map(|list| Bitmap::from_indices(len, list)).collect();
        Membership { bitmaps, len }
    }

    /// Number of records the membership covers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it covers no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.bitmaps.len()
    }

    /// Group `g`'s bitmap (`None` past the last group).
    pub fn bitmap(&self, g: usize) -> Option<&Bitmap> {
        self.bitmaps.get(g)
    }

    /// Every group's bitmap, in set order.
    pub fn bitmaps(&self) -> &[Bitmap] {
        &self.bitmaps
    }

    /// The bitmaps, for callers that keep them.
    pub fn into_bitmaps(self) -> Vec<Bitmap> {
        self.bitmaps
    }

    /// Number of members of group `g` (0 past the last group).
    pub fn count(&self, g: usize) -> usize {
        self.bitmaps.get(g).map_or(0, Bitmap::count)
    }

    /// Members of group `g` in record order (none past the last group).
    pub fn members(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        crate::groups::bitmap::ones_in(self.words(g), 0)
    }

    /// Group `g`'s bits as words (empty past the last group).
    pub(crate) fn words(&self, g: usize) -> &[u64] {
        self.bitmaps.get(g).map_or(&[], |b| b.words())
    }
}
