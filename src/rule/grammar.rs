//! The pest binding for `grammar/membership.pest`. The grammar file is the
//! single source of truth for the syntax; its header documents precedence.

/// The generated parser; its `Rule` enum names the grammar's rules.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/membership.pest"]
pub(crate) struct MembershipParser;
