//! The device inventory as a Parquet or Arrow IPC file: the table the SQL
//! of [`crate::sql::to_sql`] reads, column for column (see the table in the
//! [module docs](crate::sql)).
//!
//! Rows come from [`FleetIndex::device`], the same records `fleetlab eval`
//! evaluates, in inventory order, in record batches of [`BATCH_ROWS`] so a
//! million-device fleet is written with bounded memory. Values are those the
//! index holds (an unset or empty string is NULL, a missing or empty
//! collection a NULL list); the SQL reads NULL, `''` and `[]` alike as unset,
//! so a table that spells them differently gives the same answers.
//!
//! Decisions: plain (not dictionary) string columns, which every reader
//! maps to its ordinary string type; Parquet with Snappy compression, the
//! codec Spark and DuckDB write by default (the only codec compiled in);
//! Arrow IPC in the file format (what DuckDB's, DataFusion's and pyarrow's
//! readers open), uncompressed.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::fleet::FleetIndex;
use crate::inventory::Device;

/// Devices per record batch (and Parquet row group).
pub const BATCH_ROWS: usize = 65_536;

/// The file format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Apache Parquet (Snappy).
    Parquet,
    /// Arrow IPC file format (`.arrow`, Feather v2), uncompressed.
    Arrow,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlExportError {
    /// Building or writing Arrow data failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Writing Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl From<SqlExportError> for std::io::Error {
    fn from(e: SqlExportError) -> std::io::Error {
        match e {
            SqlExportError::Arrow(arrow_schema::ArrowError::IoError(_, io)) => io,
            other => std::io::Error::other(other),
        }
    }
}

/// The string columns between `deviceCategory` and `extensionAttribute1`,
/// and their values.
type StringField = (&'static str, fn(&Device) -> Option<&str>);

const LEADING: [StringField; 5] = [
    ("deviceCategory", |d| d.device_category.as_deref()),
    ("deviceId", |d| d.device_id.as_deref()),
    ("deviceOwnership", |d| d.device_ownership.as_deref()),
    ("displayName", |d| d.display_name.as_deref()),
    ("enrollmentProfileName", |d| d.enrollment_profile_name.as_deref()),
];

const TRAILING: [StringField; 6] = [
    ("managementType", |d| d.management_type.as_deref()),
    ("manufacturer", |d| d.manufacturer.as_deref()),
    ("mdmAppId", |d| d.mdm_app_id.as_deref()),
    ("model", |d| d.model.as_deref()),
    ("operatingSystem", |d| d.operating_system.as_deref()),
    ("operatingSystemVersion", |d| d.operating_system_version.as_deref()),
];

fn list_field(name: &str) -> Field {
    Field::new_list(name, Field::new_list_field(DataType::Utf8, true), true)
}

/// The schema of the device table, in column order.
///
/// ```
/// let schema = fleetlab::sql::export::schema();
/// assert_eq!(schema.field(0).name(), "id");
/// assert!(schema.field_with_name("extensionAttribute15").is_ok());
/// assert!(schema.field_with_name("physicalIds").is_ok());
/// ```
pub fn schema() -> SchemaRef {
    schema_with(&[])
}

/// The schema of the device table with one string column per custom
/// directory extension (`extension_<appId>_<name>`), after the fixed ones.
pub fn schema_with(extensions: &[&str]) -> SchemaRef {
    let mut fields =
        vec![Field::new("id", DataType::Utf8, false), Field::new("accountEnabled", DataType::Boolean, true)];
    fields.extend(LEADING.iter().map(|(name, _)| Field::new(*name, DataType::Utf8, true)));
    fields.extend((1..=15).map(|n| Field::new(format!("extensionAttribute{n}"), DataType::Utf8, true)));
    fields.push(Field::new("isRooted", DataType::Boolean, true));
    fields.extend(TRAILING.iter().map(|(name, _)| Field::new(*name, DataType::Utf8, true)));
    fields.push(list_field("physicalIds"));
    fields.push(Field::new("profileType", DataType::Utf8, true));
    fields.push(list_field("systemLabels"));
    fields.push(Field::new("trustType", DataType::Utf8, true));
    fields.push(list_field("memberOf"));
    fields.extend(extensions.iter().map(|name| Field::new(*name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// One record batch of `devices`, in [`schema`] order.
pub fn batch(devices: &[Device]) -> Result<RecordBatch, SqlExportError> {
    batch_with(devices, &[])
}

/// One record batch of `devices`, in [`schema_with`]`(extensions)` order.
pub fn batch_with(devices: &[Device], extensions: &[&str]) -> Result<RecordBatch, SqlExportError> {
    let strings = |f: &dyn Fn(&Device) -> Option<&str>| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(devices.len(), devices.len() * 8);
        for d in devices {
            b.append_option(f(d));
        }
        Arc::new(b.finish())
    };
    let bools = |f: &dyn Fn(&Device) -> Option<bool>| -> ArrayRef {
        let mut b = BooleanBuilder::with_capacity(devices.len());
        for d in devices {
            b.append_option(f(d));
        }
        Arc::new(b.finish())
    };
    let lists = |f: &dyn Fn(&Device) -> Option<Vec<&str>>| -> ArrayRef {
        let mut b = ListBuilder::new(StringBuilder::new());
        for d in devices {
            match f(d) {
                Some(items) => {
                    for item in items {
                        b.values().append_value(item);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    };
    let mut columns: Vec<ArrayRef> = vec![strings(&|d| Some(d.id.as_str())), bools(&|d| d.account_enabled)];
    columns.extend(LEADING.iter().map(|(_, f)| strings(f)));
    for n in 1..=15u8 {
        columns.push(strings(&|d| d.extension_attributes.as_ref().and_then(|e| e.get(n))));
    }
    columns.push(bools(&|d| d.is_rooted));
    columns.extend(TRAILING.iter().map(|(_, f)| strings(f)));
    columns.push(lists(&|d| d.physical_ids.as_ref().map(|v| v.iter().map(String::as_str).collect())));
    columns.push(strings(&|d| d.profile_type.as_deref()));
    columns.push(lists(&|d| d.system_labels.as_ref().map(|v| v.iter().map(String::as_str).collect())));
    columns.push(strings(&|d| d.trust_type.as_deref()));
    columns.push(lists(&|d| {
        let ids: Vec<&str> = d.member_of().collect();
        (!ids.is_empty()).then_some(ids)
    }));
    for name in extensions {
        columns.push(strings(&|d| d.extensions.get(name)));
    }
    Ok(RecordBatch::try_new(schema_with(extensions), columns)?)
}

/// Writes every device of `index`, in order, to `out` as `format`.
///
/// ```
/// use fleetlab::fleet::FleetIndex;
/// use fleetlab::inventory::Device;
/// use fleetlab::sql::export::{write, Format};
///
/// let devices: Vec<Device> = serde_json::from_str(r#"[{"id": "a", "physicalIds": ["[ZTDId]:1"]}]"#)?;
/// let mut bytes = Vec::new();
/// write(&FleetIndex::from_devices(&devices)?, Format::Parquet, &mut bytes)?;
/// assert!(bytes.starts_with(b"PAR1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write<W: Write + Send>(index: &FleetIndex, format: Format, out: W) -> Result<(), SqlExportError> {
    let names: Vec<&str> = index.extension_names().collect();
    let schema = schema_with(&names);
    let batches = (0..index.len()).step_by(BATCH_ROWS).map(|start| {
        let end = (start + BATCH_ROWS).min(index.len());
        let devices: Vec<Device> = (start..end).filter_map(|i| index.device(i)).collect();
        batch_with(&devices, &names)
    });
    match format {
        Format::Arrow => {
            let mut w = arrow_ipc::writer::FileWriter::try_new(out, &schema)?;
            for b in batches {
                w.write(&b?)?;
            }
            w.finish()?;
        }
        Format::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_max_row_group_row_count(Some(BATCH_ROWS))
                .build();
            let mut w = parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(props))?;
            for b in batches {
                w.write(&b?)?;
            }
            w.close()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::DeviceProperty;

    #[test]
    fn every_rule_property_has_its_column() {
        let schema = schema();
        let mut props: Vec<DeviceProperty> = DeviceProperty::all().collect();
        props.extend(
            (1..=15).filter_map(crate::rule::ExtensionSlot::new).map(DeviceProperty::ExtensionAttribute),
        );
        for p in props {
            let name = crate::sql::column(p);
            let field = schema.field_with_name(&name);
            assert!(field.is_ok(), "no column {name} for {p:?}");
            let list = matches!(field.map(|f| f.data_type().clone()), Ok(DataType::List(_)));
            assert_eq!(list, p.ty().is_collection(), "{name}");
        }
    }
}
