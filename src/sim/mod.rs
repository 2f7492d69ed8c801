//! Discrete-event simulation of Autopilot provisioning waves.

pub mod apps;
pub mod bottleneck;
pub mod calendar;
pub mod dist;
pub mod engine;
pub mod events;
pub mod histogram;
#[cfg(feature = "report")]
pub mod html;
pub mod model;
pub mod report;
pub mod resolve;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod search;
pub mod service;
pub mod stats;
pub mod summary;
pub mod sweep;

// The library entry points by their short names: `sim::simulate`,
// `sim::sweep`, `sim::search` (the modules keep their details).
pub use run::simulate;
pub use search::search;
pub use sweep::sweep;
