//! Scenario loading: the tenant the fake serves, from a directory, a
//! generated fleet or a group file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::FakeError;
use crate::groups::GroupSpec;

/// The tenant the fake serves.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// Graph device objects.
    pub devices: Vec<Value>,
    /// Graph user objects.
    pub users: Vec<Value>,
    /// Dynamic groups (membership computed by the fake).
    pub groups: Vec<GroupSpec>,
    /// Deployment profiles (beta JSON; an `assignments` array inside each is
    /// taken as its assignments).
    pub profiles: Vec<Value>,
}

impl Scenario {
    /// Reads `devices.json`, and when present `users.json`, `groups.toml`
    /// and `profiles.json`, from `dir` (inventory files in any layout
    /// `fleetlab eval` reads).
    pub fn load(dir: &Path) -> Result<Scenario, FakeError> {
        let read = |name: &str| -> Result<Option<(PathBuf, String)>, FakeError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some((path, text))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(FakeError::File { path, message: e.to_string() }),
            }
        };
        let records = |name: &str| -> Result<Vec<Value>, FakeError> {
            match read(name)? {
                Some((path, text)) => crate::inventory::parse_records::<Value>(&text, &path)
                    .map(|(r, _)| r)
                    .map_err(|e| FakeError::File { path, message: e.to_string() }),
                None => Ok(Vec::new()),
            }
        };
        let Some((path, _)) = read("devices.json")? else {
            return Err(FakeError::File { path: dir.join("devices.json"), message: "not found".into() });
        };
        let devices = records("devices.json").map_err(|e| match e {
            FakeError::File { message, .. } => FakeError::File { path: path.clone(), message },
            other => other,
        })?;
        let groups = match read("groups.toml")? {
            Some((path, _)) => Scenario::groups_from(&path)?,
            None => Vec::new(),
        };
        Ok(Scenario { devices, users: records("users.json")?, groups, profiles: records("profiles.json")? })
    }

    /// A generated fleet ([`crate::inventory::generate`]) of `devices`
    /// devices, with no groups (add them with [`Scenario::groups_from`]).
    pub fn generated(devices: u64, seed: u64) -> Result<Scenario, FakeError> {
        let mut out = Vec::new();
        crate::inventory::generate(&crate::inventory::FleetSpec { devices, seed }, &mut out)
            .map_err(|e| FakeError::Data(format!("generate: {e}")))?;
        let text = String::from_utf8(out).map_err(|e| FakeError::Data(e.to_string()))?;
        let (devices, _) = crate::inventory::parse_records::<Value>(&text, Path::new("generated"))
            .map_err(|e| FakeError::Data(e.to_string()))?;
        Ok(Scenario { devices, ..Scenario::default() })
    }

    /// The groups of a group file.
    pub fn groups_from(path: &Path) -> Result<Vec<GroupSpec>, FakeError> {
        let set = crate::groups::GroupSet::load(path, &crate::rule::Options::default())
            .map_err(|e| FakeError::File { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(set.groups.into_iter().map(|g| g.spec).collect())
    }
}
