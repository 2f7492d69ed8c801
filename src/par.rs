//! The slice of rayon's API the lean core uses, run sequentially, for builds
//! without the `parallel` feature.
//!
//! Decision: the library's parallel code is written once against rayon's
//! prelude; without rayon the same calls resolve to these traits, which
//! return ordinary iterators. Results are identical either way (rayon's
//! `collect` keeps order), so only the speed differs. An embedder that
//! runs its own thread pool, or evaluates small fleets, builds without
//! rayon's six crates.

/// Sequential stand-ins for `rayon::prelude`.
pub(crate) mod prelude {
    /// `par_iter` on slices (and, through deref, on `Vec`s).
    pub(crate) trait ParallelSlice<T> {
        /// The slice's ordinary iterator.
        fn par_iter(&self) -> std::slice::Iter<'_, T>;
    }

    impl<T> ParallelSlice<T> for [T] {
        fn par_iter(&self) -> std::slice::Iter<'_, T> {
            self.iter()
        }
    }

    /// `par_chunks_mut` and `par_iter_mut` on slices.
    pub(crate) trait ParallelSliceMut<T> {
        /// The slice's ordinary `chunks_mut`.
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T>;
        /// The slice's ordinary `iter_mut`.
        fn par_iter_mut(&mut self) -> std::slice::IterMut<'_, T>;
    }

    impl<T> ParallelSliceMut<T> for [T] {
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T> {
            self.chunks_mut(size)
        }
        fn par_iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
            self.iter_mut()
        }
    }

    /// `for_each_init` on any iterator: one state for the whole run, as
    /// rayon gives one per split.
    pub(crate) trait ForEachInit: Iterator + Sized {
        /// Calls `op` on each item with a state made once by `init`.
        fn for_each_init<S, I, F>(self, init: I, mut op: F)
        where
            I: FnOnce() -> S,
            F: FnMut(&mut S, Self::Item),
        {
            let mut state = init();
            for item in self {
                op(&mut state, item);
            }
        }
    }

    impl<It: Iterator> ForEachInit for It {}

    /// `into_par_iter` on anything iterable (ranges, vectors).
    pub(crate) trait IntoParallelIterator: IntoIterator + Sized {
        /// The value's ordinary iterator.
        fn into_par_iter(self) -> Self::IntoIter {
            self.into_iter()
        }
    }

    impl<T: IntoIterator> IntoParallelIterator for T {}

    /// `with_min_len`, a splitting hint that means nothing sequentially.
    pub(crate) trait WithMinLen: Iterator + Sized {
        /// The iterator itself.
        fn with_min_len(self, _min: usize) -> Self {
            self
        }
    }

    impl<It: Iterator> WithMinLen for It {}
}

/// `rayon::join`: both closures, one after the other.
pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB,
{
    let ra = a();
    (ra, b())
}

/// `rayon::current_num_threads`: one.
pub(crate) fn current_num_threads() -> usize {
    1
}
