//! Generates the rule grammar's parser from `grammar/membership.pest` at build
//! time, with pest's generator as a build dependency rather than its derive
//! macro. The parser is the same code `#[derive(Parser)]` would emit; doing it
//! here keeps the macro crates out of the dependency graph an embedding
//! service compiles (the lean core's crate budget, see `src/lib.rs`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=grammar/membership.pest");
    println!("cargo:rerun-if-changed=build.rs");
    // pest's generator resolves `grammar` against the crate's `src/` directory.
    let item = quote::quote! {
        #[grammar = "../grammar/membership.pest"]
        pub(crate) struct MembershipParser;
    };
    let parser = pest_generator::derive_parser(item, false);
    let out = std::env::var_os("OUT_DIR").map(PathBuf::from).unwrap_or_default();
    if let Err(e) = std::fs::write(out.join("membership_parser.rs"), parser.to_string()) {
        println!("cargo:warning=cannot write the generated parser: {e}");
        std::process::exit(1);
    }
}
