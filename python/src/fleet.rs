//! `fleetlab.Fleet`: a device inventory in fleetlab's columnar index.

use std::path::PathBuf;
use std::sync::Arc;

use fleetlab::fleet::{load_index, CompiledSet, FleetIndex};
use fleetlab::groups::{GroupSet, GroupSetError};
use fleetlab::inventory::{Device, InventoryError};
use fleetlab::rule::{Options, Rule};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::convert::to_json;
use crate::rule::{rule_error, PyRule};

/// A device inventory, indexed column by column for fast evaluation.
///
/// >>> fleet = fleetlab.Fleet.load("scenarios/contoso/devices.json")
/// >>> len(fleet)
/// 401
/// >>> len(fleet.eval('device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")'))
/// 194
#[pyclass(module = "fleetlab", frozen)]
pub struct Fleet {
    index: Arc<FleetIndex>,
}

fn inventory_error(e: InventoryError) -> PyErr {
    match e {
        InventoryError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// A rule argument: a `Rule`, or rule text checked here.
fn rule_arg(py: Python<'_>, rule: &Bound<'_, PyAny>, group: Option<&str>) -> PyResult<Arc<Rule>> {
    if let Ok(r) = rule.cast::<PyRule>() {
        return Ok(Arc::clone(&r.get().rule));
    }
    let text: String =
        rule.extract().map_err(|_| PyValueError::new_err("a rule must be a str or a fleetlab.Rule"))?;
    Rule::new(&text).map(Arc::new).map_err(|errors| rule_error(py, &errors, &text, group))
}

impl Fleet {
    /// Member ids of each rule, in inventory order, computed without the GIL.
    fn members(&self, py: Python<'_>, rules: &[Arc<Rule>]) -> PyResult<Vec<Vec<String>>> {
        let index = Arc::clone(&self.index);
        let rules = rules.to_vec();
        py.detach(move || {
            let refs: Vec<&Rule> = rules.iter().map(|r| r.as_ref()).collect();
            let set = CompiledSet::compile(&refs, &index).map_err(|e| e.to_string())?;
            Ok(set
                .evaluate()
                .iter()
                .map(|bits| bits.ones().map(|i| index.id(i).to_owned()).collect())
                .collect())
        })
        .map_err(|message: String| PyValueError::new_err(message))
    }
}

#[pymethods]
impl Fleet {
    /// Loads a device inventory: a JSON array, a Graph page (`{"value": [...]}`),
    /// JSON Lines, or a packed `.fleet` file. Raises `OSError` when the file
    /// cannot be read and `ValueError` (naming line, column, record and field)
    /// when it is malformed.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Fleet> {
        let index = py.detach(move || load_index(&path, &|_| {})).map_err(inventory_error)?;
        Ok(Fleet { index: Arc::new(index) })
    }

    /// Indexes Graph device records given as dicts, keeping their order.
    ///
    /// >>> fleet = fleetlab.Fleet.from_records([{"id": "a", "operatingSystem": "Windows"}])
    /// >>> fleet.eval('device.deviceOSType -eq "Windows"')
    /// ['a']
    #[staticmethod]
    fn from_records(py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Fleet> {
        let mut devices = Vec::new();
        for (i, item) in records.try_iter()?.enumerate() {
            let value = to_json(&item?)?;
            let device: Device = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                PyValueError::new_err(format!("record {i} ({path}): {}", e.into_inner()))
            })?;
            devices.push(device);
        }
        let index = py
            .detach(move || FleetIndex::from_devices(&devices))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Fleet { index: Arc::new(index) })
    }

    /// Ids of the devices `rule` (text or `Rule`) selects, in inventory order.
    fn eval(&self, py: Python<'_>, rule: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let rule = rule_arg(py, rule, None)?;
        Ok(self.members(py, &[rule])?.into_iter().next().unwrap_or_default())
    }

    /// Membership of several groups in one pass: `groups` is a dict of group
    /// name → rule (text or `Rule`), or the path of a `[[group]]` TOML file as
    /// `fleetlab eval --groups` reads. Returns a dict of name → member ids, in
    /// the groups' order.
    ///
    /// >>> fleet.eval_groups({"Windows": 'device.deviceOSType -eq "Windows"'})["Windows"][:1]
    /// ['a']
    fn eval_groups<'py>(&self, py: Python<'py>, groups: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let (names, rules) = if let Ok(d) = groups.cast::<PyDict>() {
            let mut names = Vec::with_capacity(d.len());
            let mut rules = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                let name: String =
                    k.extract().map_err(|_| PyValueError::new_err("group names must be strings"))?;
                rules.push(rule_arg(py, &v, Some(&name))?);
                names.push(name);
            }
            (names, rules)
        } else if groups.cast::<PyString>().is_ok() || groups.hasattr("__fspath__")? {
            let path: PathBuf = groups.extract()?;
            let set = GroupSet::load(&path, &Options::default()).map_err(|e| group_error(py, e))?;
            set.groups.into_iter().map(|g| (g.spec.name, Arc::new(g.rule))).unzip()
        } else {
            return Err(PyValueError::new_err(
                "groups must be a dict of name -> rule or the path of a group file",
            ));
        };
        let members = self.members(py, &rules)?;
        let out = PyDict::new(py);
        for (name, ids) in names.into_iter().zip(members) {
            out.set_item(name, PyList::new(py, ids)?)?;
        }
        Ok(out)
    }

    /// The device ids, in inventory order.
    #[getter]
    fn ids(&self) -> Vec<String> {
        (0..self.index.len()).map(|i| self.index.id(i).to_owned()).collect()
    }

    fn __len__(&self) -> usize {
        self.index.len()
    }

    fn __repr__(&self) -> String {
        format!("<fleetlab.Fleet of {} devices>", self.index.len())
    }
}

fn group_error(py: Python<'_>, e: GroupSetError) -> PyErr {
    match e {
        GroupSetError::Io { .. } => PyOSError::new_err(e.to_string()),
        GroupSetError::InvalidRules { ref failures, .. } => match failures.first() {
            Some((spec, errors)) => rule_error(py, errors, &spec.rule, Some(&spec.name)),
            None => PyValueError::new_err(e.to_string()),
        },
        _ => PyValueError::new_err(e.to_string()),
    }
}
