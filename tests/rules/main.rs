//! The rule layer's corpus and property tests, built against the lean core
//! (`cargo test --no-default-features --test rules`), so a change that
//! makes the rule engine need a feature fails here.
//!
//! With the `cli` feature the same files run inside the `it` binary; this
//! one is then empty, so `cargo test` runs each case once.
#![cfg(not(feature = "cli"))]

#[path = "../it/corpus.rs"]
mod corpus;
#[path = "../it/props.rs"]
mod props;
