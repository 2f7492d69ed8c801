//! The pest binding for `grammar/membership.pest`. The grammar file is the
//! single source of truth for the syntax; its header documents precedence.
//!
//! `build.rs` runs pest's generator over the grammar and this module includes
//! its output: the same parser `#[derive(pest_derive::Parser)]` would expand
//! to, without the derive macro's crates in an embedder's dependency graph.

/// The generated parser; its `Rule` enum names the grammar's rules.
pub(crate) struct MembershipParser;

// Generated code: lints that judge hand-written code do not apply to it.
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unused_qualifications,
    non_camel_case_types,
    dead_code,
    bindings_with_variant_name
)]
mod generated {
    use super::MembershipParser;
    include!(concat!(env!("OUT_DIR"), "/membership_parser.rs"));
}

pub(crate) use generated::Rule;
