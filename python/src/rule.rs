//! `fleetlab.Rule`, `fleetlab.check` and `fleetlab.RuleError`.

use std::sync::Arc;

use fleetlab::inventory::{Device, User};
use fleetlab::rule::{self, ObjectType, Options, Rule, RuleErrors};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::convert::{to_json, to_py};

pyo3::create_exception!(
    fleetlab,
    RuleError,
    PyValueError,
    "An invalid rule. Attributes: code, message, help, span (start, end), line, column, errors."
);

/// A checked, compiled Entra ID membership rule.
///
/// >>> rule = fleetlab.Rule('device.deviceOSType -eq "Windows"')
/// >>> rule.matches({"id": "d1", "operatingSystem": "Windows"})
/// True
#[pyclass(name = "Rule", module = "fleetlab", frozen)]
pub struct PyRule {
    pub(crate) rule: Arc<Rule>,
}

/// Reads `object=` ("device", "user" or None).
fn object_arg(object: Option<&str>) -> PyResult<Option<ObjectType>> {
    match object.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("device") => Ok(Some(ObjectType::Device)),
        Some("user") => Ok(Some(ObjectType::User)),
        Some(other) => {
            Err(PyValueError::new_err(format!("object must be 'device' or 'user', not {other:?}")))
        }
    }
}

fn options(lenient: bool, strict: bool, object: Option<&str>) -> PyResult<Options> {
    Ok(Options { lenient, strict, object: object_arg(object)?, now: None })
}

/// Builds the `RuleError` for `errors` found in `text`; `group` names the
/// group the rule belongs to, when there is one.
pub(crate) fn rule_error(py: Python<'_>, errors: &RuleErrors, text: &str, group: Option<&str>) -> PyErr {
    let all: Vec<Value> = errors.iter().map(|e| rule::error_json(e, text)).collect();
    let first = errors.first();
    let (line, column) = rule::line_col(text, first.span().start());
    let prefix = group.map(|g| format!("group {g:?}: ")).unwrap_or_default();
    let err = RuleError::new_err(format!("{prefix}{first} (at {line}:{column}, {})", first.code()));
    let set = || -> PyResult<()> {
        let value = err.value(py);
        value.setattr("code", first.code())?;
        value.setattr("message", first.to_string())?;
        value.setattr("help", first.help())?;
        value.setattr("span", (first.span().start(), first.span().end()))?;
        value.setattr("line", line)?;
        value.setattr("column", column)?;
        value.setattr("group", group)?;
        value.setattr("errors", to_py(py, &Value::Array(all))?)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// Parses `record` as the rule's object type (a Graph device or user).
fn record<T: DeserializeOwned>(value: Value) -> PyResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { "record".to_string() } else { format!("record ({path})") };
        PyValueError::new_err(format!("{at}: {}", e.into_inner()))
    })
}

impl PyRule {
    fn with<R>(
        &self,
        record_obj: &Bound<'_, PyAny>,
        f: impl FnOnce(&Rule, &dyn rule::Record) -> PyResult<R>,
    ) -> PyResult<R> {
        let value = to_json(record_obj)?;
        match self.rule.object() {
            ObjectType::Device => f(&self.rule, &record::<Device>(value)?),
            ObjectType::User => f(&self.rule, &record::<User>(value)?),
        }
    }
}

#[pymethods]
impl PyRule {
    /// Parses and checks `text`; raises `RuleError` (a `ValueError`) if it is invalid.
    ///
    /// `lenient` accepts an en dash for a hyphen and PowerShell-escaped quotes;
    /// `strict` warns about property names not in their documented casing;
    /// `object` ("device" or "user") requires the rule to select that type.
    #[new]
    #[pyo3(signature = (text, *, lenient = false, strict = false, object = None))]
    fn new(
        py: Python<'_>,
        text: &str,
        lenient: bool,
        strict: bool,
        object: Option<&str>,
    ) -> PyResult<PyRule> {
        let options = options(lenient, strict, object)?;
        let owned = text.to_owned();
        let compiled = py.detach(move || Rule::with_options(&owned, &options));
        compiled
            .map(|rule| PyRule { rule: Arc::new(rule) })
            .map_err(|errors| rule_error(py, &errors, text, None))
    }

    /// True when `record` (a Graph device or user as a dict) is a member.
    ///
    /// >>> fleetlab.Rule('device.accountEnabled -eq true').matches({"id": "d", "accountEnabled": False})
    /// False
    fn matches(&self, record: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.with(record, |rule, r| rule.try_matches(r).map_err(|e| PyValueError::new_err(e.message)))
    }

    /// Why `record` matches or not: a dict in the shape of Graph's
    /// `expressionEvaluationDetails` (`expression`, `expressionResult`,
    /// `propertyToEvaluate`, `expressionEvaluationDetails`).
    ///
    /// >>> fleetlab.Rule('device.deviceOSType -eq "Windows"').explain({"id": "d"})["expressionResult"]
    /// False
    fn explain<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.with(record, |rule, r| {
            serde_json::to_value(rule.explain(r)).map_err(|e| PyValueError::new_err(e.to_string()))
        })?;
        to_py(py, &json)
    }

    /// The rule in canonical form (documented casing, hyphenated operators,
    /// every binary expression parenthesised).
    #[getter]
    fn canonical(&self) -> String {
        self.rule.canonical()
    }

    /// The rule as written.
    #[getter]
    fn text(&self) -> &str {
        self.rule.source()
    }

    /// "device" or "user".
    #[getter]
    fn object(&self) -> String {
        self.rule.object().to_string()
    }

    /// Warnings found while checking (dicts like `check`'s, severity "warning").
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for w in self.rule.warnings() {
            list.append(diagnostic(py, rule::warning_json(w, self.rule.source()), "warning")?)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!("fleetlab.Rule({:?})", self.rule.source())
    }

    fn __str__(&self) -> String {
        self.rule.source().to_owned()
    }
}

fn diagnostic<'py>(py: Python<'py>, json: Value, severity: &str) -> PyResult<Bound<'py, PyAny>> {
    let value = to_py(py, &json)?;
    if let Ok(dict) = value.cast::<PyDict>() {
        dict.set_item("severity", severity)?;
    }
    Ok(value)
}

/// Checks `text` and returns its diagnostics: one dict per error and warning
/// with `severity`, `code`, `message`, `help` (errors), `span` (`start`,
/// `end` in bytes), `line` and `column`. An empty list means a clean rule.
///
/// >>> fleetlab.check('device.deviceOSType -eq "Windows"')
/// []
/// >>> fleetlab.check('device.colour -eq "red"')[0]["code"]
/// 'unknown-property'
#[pyfunction]
#[pyo3(signature = (text, *, lenient = false, strict = false, object = None))]
pub fn check<'py>(
    py: Python<'py>,
    text: &str,
    lenient: bool,
    strict: bool,
    object: Option<&str>,
) -> PyResult<Bound<'py, PyList>> {
    let options = options(lenient, strict, object)?;
    let owned = text.to_owned();
    let result = py.detach(move || Rule::with_options(&owned, &options));
    let list = PyList::empty(py);
    match result {
        Ok(rule) => {
            for w in rule.warnings() {
                list.append(diagnostic(py, rule::warning_json(w, text), "warning")?)?;
            }
        }
        Err(errors) => {
            for e in errors.iter() {
                list.append(diagnostic(py, rule::error_json(e, text), "error")?)?;
            }
        }
    }
    Ok(list)
}
