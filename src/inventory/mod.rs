//! Inventories: Graph-shaped device and user records, and their loaders.
//!
//! A record is the Graph resource as `GET /devices` or `GET /users` returns
//! it, so an export from Graph Explorer, `Get-MgDevice | ConvertTo-Json` or
//! fleetlab's own sync loads without a mapping step. Fields the rules do not
//! read are ignored; fields they do read must have the Graph type, and a
//! wrong one is an error naming the record and the field.
//!
//! Decision: an empty string is read as null (spec §3.5: Entra stores no
//! empty strings, and exports that write `""` mean "unset").

pub mod dedup;
mod device;
pub(crate) mod extra;
#[cfg(feature = "generate")]
mod generate;
pub(crate) mod load;
pub(crate) mod project;
mod user;

pub use device::{Device, ExtensionAttributes};
pub use extra::Extensions;
#[cfg(feature = "generate")]
pub use generate::{generate, FleetSpec, CHUNK_DEVICES};
pub use load::{load_devices, load_users, parse_records, InventoryError, InventoryFormat};
pub use project::Projection;
pub use user::{AssignedPlan, User};

/// Anything with a Graph object id.
pub trait HasId {
    /// The object id (`id` in Graph).
    fn id(&self) -> &str;
    /// A human name for tables and messages.
    fn display_name(&self) -> Option<&str>;
}
