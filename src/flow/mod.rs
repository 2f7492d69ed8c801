//! Windows Autopilot enrollment as state machines: each mode a validated
//! [petgraph] graph, compiled into a dense table a simulator
//! steps through (`enrollment-model.md` §6).
//!
//! ```text
//! TRANSITIONS (§6.2 rows as data) ──derive(FlowInput)──▶ FlowGraph ──ValidFlow::new──▶ ValidFlow
//!                                                            │                            │
//!                                      to_dot / to_mermaid / to_text        CompiledFlow::compile ──▶ walk
//! ```
//!
//! * [`model`]: states (§6.1), guards, edge kinds, timing slots and the
//!   transition table [`TRANSITIONS`];
//! * [`derive`](derive()): one device's graph from a [`FlowInput`];
//! * [`validate`](validate()): structural rules and mode invariants;
//! * [`Event`]: the table's event ids as a `Copy` enum;
//! * [`table`]: the dense state × event table;
//! * [`export`]: DOT, Mermaid, text;
//! * [`walk`](walk()): one device with chosen outcomes;
//! * [`from_profile`]: the only file that reads [`crate::autopilot`].
//!
//! Design decisions, and why:
//!
//! * **Nodes are (segment, state).** Pre-provisioning runs device setup
//!   twice, differently (technician: green screen; user: account setup
//!   next), so the technician and user flows get their own copies of the
//!   shared states. The §6.2 invariants are then checks on segments
//!   ("no `EspAccountSetup` in the technician segment").
//! * **One graph per device, both planes.** The service plane (import →
//!   assignment) and the device plane (power-on → desktop) are two
//!   components with two start states; APv2 devices have no service plane
//!   (they are not registered).
//! * **Every user-driven Windows PC graph has the technician branch.**
//!   WIN×5 opens the landing page whatever the profile says; when the
//!   profile disallows pre-provisioning, Provision ends in 0x80180005
//!   (§1.7), which is exactly what an admin needs to see. The user flow
//!   exists only when the profile allows pre-provisioning.
//! * **Terminal means "ends a run".** `Desktop`, `SignInScreen`,
//!   `KioskAutologon`, `Resealed`, `StandardOobe`, `Abandoned`,
//!   `AwaitAdmin` (and `ProfileAssigned` on the service plane) may still
//!   have `NextRun` edges: reboot after a fix, the user flow after Reseal,
//!   the first user at the sign-in screen.
//! * **Errors only an admin can clear go straight to `AwaitAdmin`**
//!   (0x80180014 via `EnrollError`, 0x801C03EA, 0xc1036501): retrying on
//!   the device cannot succeed.
//! * **A wipe returns to `OobeStart`.** For self-deploying and
//!   pre-provisioned devices the record is still enrolled, so the next
//!   `EspPrep.Register` can fail with 0x80180014 (rows 78/48) — the
//!   re-enrollment edge, not a separate path.
//! * **ESP settings prune edges.** Without a blocking ESP (progress
//!   hidden or device use not blocked) nothing times out: the ESP states
//!   stay as pass-throughs without error edges (row 60). Try again,
//!   Continue anyway and Reset exist only when the ESP allows them; "give
//!   up" (admin triage) always does. The ESP timer is per phase, hybrid
//!   device phases +40 min (§8 Q3).
//! * **Decisions where the spec is open** (§8): quality updates assume
//!   Windows 11 on an unmetered network; Windows Hello runs unless the
//!   input says otherwise; the HoloLens "stuck → power-cycle → sign-in
//!   screen" edge (from `autopilot-profiles.md`) has T_stuck = 30 min,
//!   p = 0.01 (Q8); APv2 Continue anyway needs the skip policy (Q13).
//!   Row 21 (a device without its own profile proceeding on the default
//!   profile) is a different profile's graph, so it is not an edge here;
//!   and when the tenant has an All Devices profile, row 20 (815, "no
//!   default profile") cannot happen, so that edge is left out.
//! * **Where Microsoft's pages say otherwise than the model's table, the
//!   pages win.** Self-deploying quality updates run at the end of OOBE,
//!   after the device ESP and before the sign-in screen or the kiosk's
//!   autologon (Set up the Enrollment Status Page, "Install Windows
//!   quality updates"), not after a first user's account setup; in
//!   user-driven hybrid join, MDM enrollment comes before the Active
//!   Directory join (Windows Autopilot user-driven mode: enrollment
//!   "occurs … before the Active Directory join process").
//!
//! Layering: `flow` uses [`crate::autopilot`] (through [`from_profile`]
//! only) and nothing above it; nothing lower imports `flow`.

pub mod derive;
mod event;
pub mod export;
pub mod from_profile;
pub mod model;
pub mod table;
mod transitions;
pub mod validate;
pub mod walk;

pub use derive::{derive, Edge, EspOptions, FlowDevice, FlowError, FlowGraph, FlowInput, FlowMode};
pub use event::{Event, UnknownEvent};
pub use export::{to_dot, to_mermaid, to_text};
pub use model::{
    AdminReason, Cond, Dist, EdgeKind, EnrollCause, EspPhase, Flow, JoinKind, Node, Plane, PpStep, PrepStep,
    Segment, State, Timing, TpmFailure, V2Step,
};
pub use table::{CompiledEdge, CompiledFlow, NO_EDGE};
pub use transitions::{Transition, TRANSITIONS};
pub use validate::{validate, Finding, ValidFlow};
pub use walk::{walk, Recovery, Step, Walk, WalkOptions};
