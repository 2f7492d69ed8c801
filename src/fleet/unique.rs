//! Whether two devices of an index share an object id.
//!
//! Ids are hashed and the hashes bucketed by their top bits, then each
//! bucket is sorted on its own, in parallel: buckets of about a thousand
//! hashes sort inside the core's cache, where one parallel sort of two
//! million keys was most of this check's time. Only when two hashes are
//! equal are the ids themselves compared (a borrowed hash set).
//!
//! Decision: the JSON Lines loader hashes each id while its record is in
//! cache, on the thread that parses it, and the in-order merge drops the
//! hashes into their buckets ([`IdHashes`]), so a load ends with only the
//! bucket sorts left; hashing and bucketing two million ids after the load
//! was a sixteenth of an `eval` from the file to the answer, on a stage
//! nothing else ran beside. An index built that way knows whether its ids
//! repeat (`Origin::unique_ids`), as a pack does from its header.

use std::hash::BuildHasher;

use crate::fleet::index::FleetIndex;
use crate::par::prelude::*;

/// Id hashes in buckets by their top bits.
pub(crate) struct IdHashes {
    bits: u32,
    buckets: Vec<Vec<u64>>,
    len: usize,
}

impl IdHashes {
    /// Buckets for about `n` ids: about a thousand a bucket.
    pub(crate) fn for_ids(n: usize) -> IdHashes {
        IdHashes::with_bits((usize::BITS - (n >> 10).leading_zeros()).min(16))
    }

    /// `2^bits` buckets (at most 2^16), made when the first hashes come:
    /// every `FleetBuilder` starts with one, and most never see a hash.
    pub(crate) fn with_bits(bits: u32) -> IdHashes {
        IdHashes { bits: bits.min(16), buckets: Vec::new(), len: 0 }
    }

    /// The hash of an id (the empty string for a device without one).
    pub(crate) fn hash(id: &str) -> u64 {
        rustc_hash::FxBuildHasher.hash_one(id)
    }

    /// Adds hashes.
    pub(crate) fn extend(&mut self, hashes: &[u64]) {
        if self.buckets.is_empty() {
            self.buckets = (0..1usize << self.bits).map(|_| Vec::new()).collect();
        }
        for &h in hashes {
            let k = if self.bits == 0 { 0 } else { (h >> (64 - self.bits)) as usize };
            if let Some(b) = self.buckets.get_mut(k) {
                b.push(h);
            }
        }
        self.len += hashes.len();
    }

    /// How many hashes were added.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when some hash was added twice.
    pub(crate) fn any_repeat(&mut self) -> bool {
        self.buckets.par_iter_mut().any(|b| {
            b.sort_unstable();
            b.windows(2).any(|w| w[0] == w[1])
        })
    }
}

/// True when no two devices of `index` share an object id.
pub(crate) fn ids_unique(index: &FleetIndex) -> bool {
    if index.origin.unique_ids {
        return true;
    }
    let labels = index.labels();
    let hashes: Vec<u64> = (0..index.len).into_par_iter().map(|i| IdHashes::hash(labels.id(i))).collect();
    let mut buckets = IdHashes::for_ids(hashes.len());
    buckets.extend(&hashes);
    drop(hashes);
    if !buckets.any_repeat() {
        return true;
    }
    let mut seen = rustc_hash::FxHashSet::default();
    seen.reserve(index.len);
    (0..index.len).all(|i| seen.insert(labels.id(i)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::IdHashes;

    proptest! {
        /// Bucketing finds a repeat exactly when one exists, at sizes
        /// from one bucket to many, with hashes that share top bits,
        /// added at once or in pieces.
        #[test]
        fn buckets_find_exactly_the_repeats(
            values in prop::collection::vec(prop_oneof![any::<u64>(), 0u64..64, (0u64..64).prop_map(|v| v << 58)], 0..5000),
            cut in 0usize..5000,
            bits in prop::option::of(0u32..14),
        ) {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let mut buckets = bits.map_or_else(|| IdHashes::for_ids(values.len()), IdHashes::with_bits);
            let (a, b) = values.split_at(cut.min(values.len()));
            buckets.extend(a);
            buckets.extend(b);
            prop_assert_eq!(buckets.len(), values.len());
            prop_assert_eq!(buckets.any_repeat(), sorted.len() != values.len());
        }
    }
}
