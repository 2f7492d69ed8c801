//! fleetlab: test Entra ID dynamic-group rules against your device inventory, offline.
//!
//! ```
//! use fleetlab::inventory::Device;
//! use fleetlab::rule::Rule;
//!
//! // Parse and check once (errors carry the byte span they blame)…
//! let rule = Rule::new(
//!     r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
//! )?;
//! // …then evaluate against as many devices as you like, from any thread.
//! let device: Device = serde_json::from_str(
//!     r#"{"id": "d1", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:7f3c…", "[HWID]:h:6…"]}"#,
//! )?;
//! assert!(rule.matches(&device));
//! // And ask why.
//! println!("{}", rule.explain(&device).to_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, lowest first: [`odata`] (Graph type annotations, used by every
//! layer that reads Graph JSON) ← [`rule`] (the language) ← [`inventory`] (Graph-shaped
//! records and loaders) ← [`groups`] (named rule sets) ← [`msgraph`] (the Graph
//! sync adapter and a fake Graph) ← the `fleetlab` CLI.

pub mod autopilot;
pub mod fleet;
pub mod flow;
pub mod groups;
pub mod inventory;
pub mod msgraph;
pub mod odata;
pub mod rule;
pub mod serve;
pub mod sim;
pub mod sql;

#[doc(hidden)]
pub mod cli;
