//! One bit per record: the membership of one group.
//!
//! Decision: the type lives here, in `groups` (below `fleet` in the layer
//! order), because a group report holds one per group and the columnar
//! engine produces them; `fleet` re-exports it as `fleetlab::fleet::Bitmap`,
//! the path it always had. Two million devices cost 250 KB per group, where
//! an index list of a group holding every device cost 16 MB.

/// Membership bits, one per record (device or user), bit `i % 64` of word
/// `i / 64` for record `i`; bits at or past `len` are always zero.
///
/// ```
/// use fleetlab::fleet::Bitmap;
/// let b = Bitmap::from_bools(&[true, false, true]);
/// assert_eq!(b.count(), 2);
/// assert_eq!(b.ones().collect::<Vec<_>>(), vec![0, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    pub(crate) words: Vec<u64>,
    pub(crate) len: usize,
}

impl Bitmap {
    /// A bitmap with the given bits.
    pub fn from_bools(bits: &[bool]) -> Bitmap {
        let mut words = vec![0u64; bits.len().div_ceil(64)];
        for (w, chunk) in words.iter_mut().zip(bits.chunks(64)) {
            for (k, &b) in chunk.iter().enumerate() {
                *w |= u64::from(b) << k;
            }
        }
        Bitmap { words, len: bits.len() }
    }

    /// A bitmap of `len` records with the records at `indices` set; indices
    /// at or past `len` name no record and are left out.
    ///
    /// ```
    /// use fleetlab::fleet::Bitmap;
    /// let b = Bitmap::from_indices(5, [4, 1, 9]);
    /// assert_eq!(b.ones().collect::<Vec<_>>(), vec![1, 4]);
    /// ```
    pub fn from_indices(len: usize, indices: impl IntoIterator<Item = usize>) -> Bitmap {
        let mut words = vec![0u64; len.div_ceil(64)];
        for i in indices.into_iter().filter(|&i| i < len) {
            if let Some(w) = words.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
        Bitmap { words, len }
    }

    /// Number of records covered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it covers no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether record `i` is a member.
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The bits as 64-bit words, record `i` at bit `i % 64` of word `i / 64`:
    /// what writers walk to visit members a word at a time.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Indices of the members, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        ones_in(&self.words, 0)
    }
}

/// Indices of the set bits of `words`, ascending, the first word standing
/// for records `base..base + 64`.
pub(crate) fn ones_in(words: &[u64], base: usize) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(move |(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let b = w.trailing_zeros() as usize;
            w &= w - 1;
            Some(base + wi * 64 + b)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_bools_agree() {
        let bools: Vec<bool> = (0..200).map(|i| i % 7 == 3 || i == 199).collect();
        let from_bools = Bitmap::from_bools(&bools);
        let indices: Vec<usize> = (0..200).filter(|&i| bools[i]).collect();
        assert_eq!(Bitmap::from_indices(200, indices.iter().copied()), from_bools);
        assert_eq!(from_bools.ones().collect::<Vec<_>>(), indices);
        assert_eq!(from_bools.count(), indices.len());
        assert!(from_bools.get(199) && !from_bools.get(200) && !from_bools.get(198));
        assert_eq!(Bitmap::from_indices(3, [3, 64]).count(), 0);
    }
}
