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

/// SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a bijection on `u64` that
/// scatters every input bit. The one copy for the crate: the fleet generator
/// seeds its chunks with it and the fake Graph derives its ids from it, so
/// both stay byte-identical across machines and Rust versions.
///
/// ```
/// assert_eq!(fleetlab::inventory::splitmix64(0), 0xe220_a839_7b1d_cdaf);
/// assert_ne!(fleetlab::inventory::splitmix64(1), fleetlab::inventory::splitmix64(2));
/// ```
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Anything with a Graph object id.
pub trait HasId {
    /// The object id (`id` in Graph).
    fn id(&self) -> &str;
    /// A human name for tables and messages.
    fn display_name(&self) -> Option<&str>;
}
