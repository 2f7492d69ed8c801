//! A service embedding fleetlab's lean core: load an inventory once, compile
//! a group file against it, and answer "who is in which group".
//!
//! Builds without any of the command line's dependencies:
//!
//! ```sh
//! cargo run --no-default-features --features toml --example embed -- \
//!     scenarios/contoso/devices.json scenarios/contoso/groups.toml
//! ```
//!
//! Both arguments default to the bundled Contoso files. The inventory may be
//! a JSON array, a Graph page, JSON Lines or a packed `.fleet` file.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fleetlab::fleet::{load_index, CompiledSet};
use fleetlab::groups::GroupSet;
use fleetlab::rule::{Options, Rule};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let devices = args.next().unwrap_or_else(|| "scenarios/contoso/devices.json".into());
    let groups = args.next().unwrap_or_else(|| "scenarios/contoso/groups.toml".into());
    match run(&devices, &groups) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(devices: &std::path::Path, groups: &std::path::Path) -> Result<(), Box<dyn Error>> {
    // Startup: the index and the compiled set are built once; a service
    // keeps them and answers every request from them.
    let started = Instant::now();
    let index = load_index(devices, &|_| {})?;
    let set = GroupSet::load(groups, &Options::default())?;
    let rules: Vec<&Rule> = set.groups.iter().map(|g| &g.rule).collect();
    let compiled = CompiledSet::compile(&rules, &index)?;
    let loaded = started.elapsed();

    // A request: the membership of every group.
    let started = Instant::now();
    let members = compiled.evaluate();
    let evaluated = started.elapsed();

    println!("{} devices, {} groups", index.len(), set.groups.len());
    for (group, bits) in set.groups.iter().zip(&members) {
        println!("{:>6}  {}", bits.count(), group.spec.name);
    }
    // One group's members by id, in inventory order.
    if let (Some(group), Some(bits)) = (set.groups.first(), members.first()) {
        let ids: Vec<&str> = bits.ones().take(3).map(|i| index.id(i)).collect();
        println!("first members of {:?}: {}", group.spec.name, ids.join(", "));
    }
    eprintln!("loaded and compiled in {loaded:.1?}, evaluated in {evaluated:.1?}");
    Ok(())
}
