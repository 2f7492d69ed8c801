//! The columnar evaluator against the reference evaluator: same members for
//! every rule, on the bundled tenant and on generated fleets.

use std::error::Error;
use std::path::Path;

use fleetlab::fleet::{CompiledSet, FleetIndex};
use fleetlab::groups::GroupSet;
use fleetlab::inventory::{generate, load_devices, Device, FleetSpec};
use fleetlab::rule::{ObjectType, Options, Rule};

type TestResult = Result<(), Box<dyn Error>>;

fn generated(devices: u64, seed: u64) -> Result<Vec<Device>, Box<dyn Error>> {
    let mut buf = Vec::new();
    generate(&FleetSpec { devices, seed }, &mut buf)?;
    let text = String::from_utf8(buf)?;
    let mut out = Vec::new();
    for line in text.lines() {
        out.push(serde_json::from_str(line)?);
    }
    Ok(out)
}

fn assert_agree(rules: &[(String, Rule)], devices: &[Device]) -> TestResult {
    let index = FleetIndex::from_devices(devices)?;
    let refs: Vec<&Rule> = rules.iter().map(|(_, r)| r).collect();
    let set = CompiledSet::compile(&refs, &index)?;
    let got = set.evaluate();
    for ((name, rule), bits) in rules.iter().zip(&got) {
        let want: Vec<usize> = (0..devices.len()).filter(|&i| rule.matches(&devices[i])).collect();
        let have: Vec<usize> = bits.ones().collect();
        assert_eq!(have, want, "group {name:?}: columnar and reference disagree");
    }
    Ok(())
}

fn group_rules(file: &str) -> Result<Vec<(String, Rule)>, Box<dyn Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    let set = GroupSet::load(&path, &options)?;
    Ok(set.groups.into_iter().map(|g| (g.spec.name, g.rule)).collect())
}

#[test]
fn contoso_groups_agree_on_the_contoso_tenant() -> TestResult {
    let devices =
        load_devices(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/devices.json"))?;
    assert_agree(&group_rules("scenarios/contoso/groups.toml")?, &devices)
}

#[test]
fn contoso_groups_agree_on_a_generated_fleet() -> TestResult {
    // 9,000 devices: several chunks, and a partial last one.
    assert_agree(&group_rules("scenarios/contoso/groups.toml")?, &generated(9_000, 7)?)
}
