//! `POST /api/v1/simulate`: simulation runs as background jobs with a
//! progress endpoint.
//!
//! Decisions:
//! * A run can take minutes, far beyond a request's time budget, so it
//!   runs on its own thread as a job; `GET /api/v1/simulate/{id}` reports
//!   replications done and, at the end, the report (the JSON of
//!   `fleetlab simulate --format json`). `"wait": true` answers with the
//!   report directly, for scripts. Polling rather than server-sent events:
//!   it works through any proxy and from `curl` without a streaming parser.
//! * One run at a time (the simulator already uses every core); a second
//!   request while one runs is `409 busy`. Only the last 16 jobs are kept.
//! * Bundled scenarios are the self-contained ones of `scenarios/sim/`,
//!   compiled into the binary; an uploaded scenario's relative paths
//!   (`[fleet] tenant = …`) resolve against the server's working directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::sim::resolve::Scenario;
use crate::sim::run::{simulate, RunOptions};
use crate::sim::{html, scenario};

/// The scenarios compiled into the binary: (name, text).
pub const BUNDLED: &[(&str, &str)] = &[
    ("s1-depot-throughput", include_str!("../../scenarios/sim/s1-depot-throughput.toml")),
    ("s2-wave-completion", include_str!("../../scenarios/sim/s2-wave-completion.toml")),
    ("s3-registration", include_str!("../../scenarios/sim/s3-registration.toml")),
    ("s4-esp-timeout", include_str!("../../scenarios/sim/s4-esp-timeout.toml")),
    ("s5-failing-app", include_str!("../../scenarios/sim/s5-failing-app.toml")),
    ("mmc", include_str!("../../scenarios/sim/mmc.toml")),
    ("wave-10k", include_str!("../../scenarios/sim/wave-10k.toml")),
];

/// Most replications one request may ask for.
pub const MAX_REPLICATIONS: u32 = 10_000;

/// `POST /api/v1/simulate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// A scenario file's text.
    #[serde(default)]
    pub scenario: Option<String>,
    /// The name of a bundled scenario (`GET /api/v1/scenarios` lists them).
    #[serde(default)]
    pub bundled: Option<String>,
    /// Replications (default: the scenario's).
    #[serde(default)]
    pub replications: Option<u32>,
    /// Base seed (default: the scenario's).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Answer with the report when the run ends instead of a job id.
    #[serde(default)]
    pub wait: bool,
}

/// A job's state as `GET /api/v1/simulate/{id}` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job id.
    pub id: u64,
    /// The scenario's name.
    pub scenario: String,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// Replications done.
    pub done: u32,
    /// Replications in all.
    pub total: u32,
    /// The report, when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// What went wrong, when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One run.
#[derive(Debug)]
pub struct Job {
    id: u64,
    scenario: String,
    total: u32,
    done: AtomicU32,
    outcome: Mutex<Option<Result<(serde_json::Value, String), String>>>,
}

impl Job {
    /// Its status now.
    pub fn status(&self) -> JobStatus {
        let outcome = self.outcome.lock().map(|o| o.clone()).unwrap_or(None);
        let (state, report, error) = match outcome {
            None => ("running", None, None),
            Some(Ok((report, _))) => ("done", Some(report), None),
            Some(Err(e)) => ("failed", None, Some(e)),
        };
        JobStatus {
            id: self.id,
            scenario: self.scenario.clone(),
            state,
            done: self.done.load(Ordering::Relaxed),
            total: self.total,
            report,
            error,
        }
    }

    /// The HTML report (charts), when done.
    pub fn html(&self) -> Option<String> {
        match self.outcome.lock().ok()?.as_ref()? {
            Ok((_, html)) => Some(html.clone()),
            Err(_) => None,
        }
    }

    fn finished(&self) -> bool {
        self.outcome.lock().map(|o| o.is_some()).unwrap_or(true)
    }
}

/// The jobs of a server.
#[derive(Debug, Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<BTreeMap<u64, Arc<Job>>>,
}

impl Jobs {
    /// A job by id.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs.lock().ok()?.get(&id).cloned()
    }

    /// Starts a run on its own thread.
    pub fn start(&self, req: &SimulateRequest) -> Result<Arc<Job>, ApiError> {
        let (name, text) = match (&req.scenario, &req.bundled) {
            (Some(text), None) => ("uploaded".to_string(), text.clone()),
            (None, Some(name)) => {
                let (n, t) = BUNDLED.iter().find(|(n, _)| n == name).ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no bundled scenario {name:?}; GET /api/v1/scenarios lists them"
                    ))
                })?;
                ((*n).to_string(), (*t).to_string())
            }
            _ => {
                return Err(ApiError::bad_request(
                    "missing-field",
                    "give \"scenario\" (its text) or \"bundled\"",
                ))
            }
        };
        let path = Path::new("scenario.toml");
        let parsed = scenario::parse(&text, path)
            .map_err(|e| ApiError::bad_request("invalid-scenario", e.to_string()))?;
        let sc = Scenario::resolve(&parsed, path)
            .map_err(|e| ApiError::bad_request("invalid-scenario", e.to_string()))?;
        let total = req.replications.unwrap_or(sc.file.replications).max(1);
        if total > MAX_REPLICATIONS {
            return Err(ApiError::bad_request(
                "too-many-replications",
                format!("{total} replications; this server runs at most {MAX_REPLICATIONS}"),
            ));
        }
        let mut jobs = self.jobs.lock().map_err(|_| ApiError::internal("job table poisoned"))?;
        if jobs.values().any(|j| !j.finished()) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "busy",
                "a simulation is running; wait for it",
            ));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job =
            Arc::new(Job { id, scenario: name, total, done: AtomicU32::new(0), outcome: Mutex::new(None) });
        jobs.insert(id, Arc::clone(&job));
        while jobs.len() > 16 {
            let Some(&oldest) = jobs.keys().next() else { break };
            jobs.remove(&oldest);
        }
        drop(jobs);
        let worker = Arc::clone(&job);
        let seed = req.seed;
        std::thread::Builder::new()
            .name(format!("simulate-{id}"))
            .spawn(move || run(&worker, &sc, total, seed))
            .map_err(|e| ApiError::internal(format!("cannot start the run: {e}")))?;
        Ok(job)
    }
}

fn run(job: &Job, sc: &Scenario, replications: u32, seed: Option<u64>) {
    let tick = |done: u32| job.done.store(done, Ordering::Relaxed);
    let opts =
        RunOptions { replications: Some(replications), seed, progress: Some(&tick), ..RunOptions::default() };
    let outcome = match simulate(sc, &opts) {
        Ok(out) => match serde_json::to_value(&out.report) {
            Ok(json) => Ok((json, html::render(&out.report))),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    job.done.store(replications, Ordering::Relaxed);
    if let Ok(mut o) = job.outcome.lock() {
        *o = Some(outcome);
    }
}
