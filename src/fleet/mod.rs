//! Fleet-scale evaluation: a columnar device index and rules compiled
//! against it, many rules per pass, in parallel.
//!
//! The row-at-a-time evaluator in [`crate::rule`] stays the reference: it
//! defines the semantics and explains results. This module answers the same
//! question for a whole tenant at memory speed. Design decisions:
//!
//! * **Dictionary encoding everywhere.** Every single-valued property is a
//!   dictionary of its distinct values plus one code per device in the
//!   narrowest integer width that holds the dictionary (u8 for the dozen
//!   operating systems, u32 for ids). A comparison is evaluated once per
//!   distinct value, then looked up per device (`plan`).
//! * **Collections split into lanes by item prefix.** `devicePhysicalIds`
//!   items are `[ZTDId]:…`, `[OrderId]:…`, `[PurchaseOrderId]:…`,
//!   `[HWID]:…`, `[GID]:…`, … Each known prefix gets a lane (a dictionary
//!   and the device's first item of that kind, with a sparse list for the
//!   rare second one), and each device a bitmask of the lanes it has items
//!   in. The Autopilot rule `-any (_ -startsWith "[ZTDId]")` is then one
//!   mask test per device; a group-tag rule is one lookup in a twenty-entry
//!   table. Other collections (`systemLabels`, `memberOf`) have one lane.
//! * **Chunked execution.** 4,096 devices at a time, every rule of a set on
//!   the chunk while it is in cache, chunks spread over threads; results are
//!   identical for any thread count.
//! * **A packed index is read in place.** [`FleetIndex::open`] memory-maps a
//!   `.fleet` file and evaluates from the mapping through safe, checked
//!   views ([`pack`], `store`); opening reads the header and section table,
//!   and each section is checksummed when first read. The one `unsafe` call
//!   of the crate (the map itself) lives in `mapped`, with its argument.
//!   This is what a resident process keeps open and answers rules from.
//! * **Loads read only what the rules need.** [`load_index_projected`]
//!   decodes the fields a [`crate::inventory::Projection`] names and skips
//!   the rest in the parser; JSON Lines are parsed in parallel blocks.
//! * **One loader for every caller.** [`Inventory`] loads a device or user
//!   inventory with the warnings an admin must see and computes membership;
//!   the CLI and `serve` both use it (its module doc gives the reasons).

mod column;
mod index;
mod inventory;
mod load;
#[cfg(feature = "mmap")]
mod mapped;
pub mod pack;
mod plan;
mod split;
mod store;
mod unique;

pub use column::{Bitmap, ColumnOverflow};
pub use index::{FleetBuilder, FleetIndex};
pub use inventory::{
    Inventory, InventoryLoadError, InventoryOptions, InventorySource, InventoryWarning, MembershipError,
    ReportRecords, UndecidedError,
};
pub use load::{load_index, load_index_projected};
pub use plan::{CompileError, CompiledSet};
