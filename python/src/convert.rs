//! Python objects to JSON values and back.
//!
//! Decision: records go through `serde_json::Value` rather than a direct
//! Python deserializer, so the bindings reuse the inventory loaders' types
//! and messages unchanged; a record is small and the cost is one walk.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Nesting past this depth is refused instead of exhausting the stack;
/// a Graph record nests three levels at most.
const MAX_DEPTH: usize = 64;

/// Converts a Python value made of dicts, lists, strings, numbers, booleans
/// and `None` into JSON.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json_at(obj, 0, &mut String::from("record"))
}

fn to_json_at(obj: &Bound<'_, PyAny>, depth: usize, at: &mut String) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!("{at}: nested more than {MAX_DEPTH} levels deep")));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<u64>().map_err(|_| out_of_range(at))?));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value()).map(Value::Number).ok_or_else(|| out_of_range(at));
    }
    if obj.cast::<PyString>().is_ok() {
        return Ok(Value::String(obj.extract::<String>()?));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| {
                PyValueError::new_err(format!("{at}: keys must be strings, found {}", type_name(&k)))
            })?;
            let len = at.len();
            at.push('.');
            at.push_str(&key);
            let value = to_json_at(&v, depth + 1, at)?;
            at.truncate(len);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            let len = at.len();
            at.push_str(&format!("[{i}]"));
            items.push(to_json_at(&item?, depth + 1, at)?);
            at.truncate(len);
        }
        return Ok(Value::Array(items));
    }
    Err(PyValueError::new_err(format!(
        "{at}: a {} is not JSON (use dict, list, str, int, float, bool or None)",
        type_name(obj)
    )))
}

fn out_of_range(at: &str) -> PyErr {
    PyValueError::new_err(format!("{at}: number out of JSON's range"))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "value".into())
}

/// Converts JSON into the equivalent Python value (dicts keep key order).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
