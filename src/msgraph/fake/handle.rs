//! Direct, in-process access to a running fake's data and counters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::faults::rng;
use super::server::Shared;
use super::tenant::Tenant;
use super::{FakeError, Faults};

/// Request and fault counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FakeStats {
    /// Graph requests served (batch items included).
    pub requests: u64,
    /// Tokens issued.
    pub tokens: u64,
    /// Injected 429s.
    pub throttled: u64,
    /// Injected 500s.
    pub server_errors: u64,
    /// Injected 503s.
    pub unavailable: u64,
    /// Bodies cut off.
    pub truncated: u64,
}

/// Direct access to a running fake's data (what the `/_fake/` endpoints do).
#[derive(Clone)]
pub struct FakeHandle {
    pub(super) shared: Arc<Shared>,
}

impl FakeHandle {
    /// The tenant, with whatever came due applied: a test reading through
    /// the handle sees what a Graph request would.
    fn tenant(&self) -> Result<std::sync::MutexGuard<'_, Tenant>, FakeError> {
        let mut tenant =
            self.shared.tenant.lock().map_err(|_| FakeError::Server("tenant lock poisoned".into()))?;
        tenant.settle();
        Ok(tenant)
    }

    /// Moves the fake clock forward by `by` (imports, tag propagation and
    /// the sync cooldown see the time pass; tokens do not).
    pub fn advance_clock(&self, by: Duration) -> Result<(), FakeError> {
        self.tenant()?.advance_clock(by);
        Ok(())
    }

    /// Every Autopilot import record, as `GET` renders it.
    pub fn imports(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.imports_json())
    }

    /// Adds or replaces a device; returns its id.
    pub fn put_device(&self, device: &Value) -> Result<String, FakeError> {
        self.tenant()?.put_device(device)
    }

    /// Merges `patch` into device `id`; false when there is no such device.
    pub fn patch_device(&self, id: &str, patch: &Value) -> Result<bool, FakeError> {
        self.tenant()?.patch_device(id, patch)
    }

    /// Deletes device `id`; false when there is no such device.
    pub fn delete_device(&self, id: &str) -> Result<bool, FakeError> {
        Ok(self.tenant()?.delete_device(id))
    }

    /// Expires every delta token handed out so far.
    pub fn expire_delta(&self) -> Result<(), FakeError> {
        self.tenant()?.expire_delta();
        Ok(())
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) -> Result<(), FakeError> {
        let mut slot =
            self.shared.faults.lock().map_err(|_| FakeError::Server("fault lock poisoned".into()))?;
        let seed = faults.seed;
        *slot = (faults, rng(seed));
        Ok(())
    }

    /// Every device, as served.
    pub fn devices(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.devices_json())
    }

    /// Every group: id, properties, member ids (sorted).
    pub fn groups(&self) -> Result<Vec<(String, Value, Vec<String>)>, FakeError> {
        Ok(self.tenant()?.groups_json())
    }

    /// Every Autopilot identity (beta shape).
    pub fn autopilot(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.autopilot_json())
    }

    /// Every profile, with its assignments inside.
    pub fn profiles(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.profiles_json())
    }

    /// Counters.
    pub fn stats(&self) -> FakeStats {
        let c = &self.shared.counters;
        FakeStats {
            requests: c.requests.load(Ordering::Relaxed),
            tokens: c.tokens.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
        }
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.shared.base
    }
}
