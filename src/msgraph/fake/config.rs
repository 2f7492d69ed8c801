//! Server settings and the error the fake reports.

use std::path::PathBuf;
use std::time::Duration;

use super::{Faults, Modes};

/// Why the fake could not start or load its data.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// A scenario file could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The data is inconsistent.
    #[error("scenario: {0}")]
    Data(String),
    /// The socket or runtime failed.
    #[error("server: {0}")]
    Server(String),
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Directory page size when `$top` is absent, and the delta page size.
    pub page_size: usize,
    /// Autopilot page size when `$top` is absent (Graph: about 1,000).
    pub autopilot_page_size: usize,
    /// Members per `members@delta` item (a big group spans several items).
    pub members_chunk: usize,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
    /// When set, the token endpoint accepts only this client secret.
    pub client_secret: Option<String>,
    /// The Autopilot sync cooldown (Graph: 10 minutes).
    pub sync_cooldown: Duration,
    /// From an import's POST to its final state; it reads `unknown` for
    /// the first half and `pending` for the second. Graph: tens of seconds
    /// to about 15 minutes (graph-api.md §3.11). Default 3 s, so a demo
    /// shows every state; tests pick their own or move the clock.
    pub import_delay: Duration,
    /// From `updateDeviceProperties` setting a group tag to the Entra
    /// device's `[OrderId]` physical id (what dynamic rules read) changing.
    /// Graph: minutes, with no documented figure (§3.11, §8). Default 2 s;
    /// zero applies the tag before the 204.
    pub tag_propagation_delay: Duration,
    /// Serials registered to another tenant: importing one ends in
    /// error 808 `ZtdDeviceAssignedToOtherTenant` (compared ignoring case).
    pub other_tenant_serials: Vec<String>,
    /// Faults.
    pub faults: Faults,
    /// Application permissions the issued tokens carry (`roles`); each
    /// Graph route checks them. Default: what `fleetlab sync` needs
    /// ([`crate::msgraph::permissions::ADAPTER_ROLES`]).
    pub roles: Vec<String>,
    /// Documented-shape behaviours ([`Modes`]).
    pub modes: Modes,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            page_size: 100,
            autopilot_page_size: 1000,
            members_chunk: 1000,
            token_lifetime: Duration::from_secs(3599),
            client_secret: None,
            sync_cooldown: Duration::from_secs(600),
            import_delay: Duration::from_secs(3),
            tag_propagation_delay: Duration::from_secs(2),
            other_tenant_serials: Vec::new(),
            faults: Faults::default(),
            roles: crate::msgraph::permissions::ADAPTER_ROLES.iter().map(|r| r.to_string()).collect(),
            modes: Modes::default(),
        }
    }
}
