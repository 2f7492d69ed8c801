//! The `fleetlab` Python module: Entra ID dynamic-group rules checked,
//! evaluated and explained by fleetlab's Rust engine.
//!
//! Design decisions:
//!
//! * **Records cross as Graph JSON.** A Python `dict` is converted to the
//!   JSON value Graph would have sent and read by the same serde code as an
//!   inventory file, so a record that loads from a file loads from Python and
//!   a wrongly typed field is the same error.
//! * **Rule errors are `ValueError`s.** `fleetlab.RuleError` subclasses
//!   `ValueError` and carries the first error's `code`, `message`, `help`,
//!   `span`, `line` and `column`, plus every error in `errors`; the codes are
//!   the stable codes of `fleetlab check --format json`.
//! * **Evaluation releases the GIL.** Loading an inventory, compiling rules
//!   against the columnar index and evaluating them run in `Python::detach`,
//!   on rayon's pool, so other Python threads keep running.
//! * **`eval_groups` takes a mapping or a group file.** A `dict` of group
//!   name → rule (text or `Rule`) suits rules built in Python; a path reads
//!   the same `[[group]]` TOML file as `fleetlab eval --groups`. Both return
//!   name → member ids, in the mapping's (or file's) order.

mod convert;
mod fleet;
mod rule;

use pyo3::prelude::*;

/// Test Entra ID dynamic-group membership rules against device and user
/// records, offline.
#[pymodule]
#[pyo3(name = "fleetlab")]
fn fleetlab_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RuleError", m.py().get_type::<rule::RuleError>())?;
    m.add_class::<rule::PyRule>()?;
    m.add_class::<fleet::Fleet>()?;
    m.add_function(wrap_pyfunction!(rule::check, m)?)?;
    Ok(())
}
