//! The checks serde cannot make alone: ranges, finite numbers and the
//! references between tables, each error located at its key.

use super::{parse_shift, total_devices, Parsed, ScenarioError};

fn positive(p: &Parsed, key: &str, v: f64) -> Result<(), ScenarioError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(p.invalid(key, format!("must be a number > 0, not {v}")))
    }
}

fn non_negative(p: &Parsed, key: &str, v: f64) -> Result<(), ScenarioError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(p.invalid(key, format!("must be a number ≥ 0, not {v}")))
    }
}

/// Values serde cannot check alone: ranges, references between tables.
pub(super) fn check_values(p: &Parsed) -> Result<(), ScenarioError> {
    let f = &p.file;
    if f.name.trim().is_empty() {
        return Err(p.invalid("name", "must not be empty"));
    }
    if f.replications == 0 || f.replications > 1_000_000 {
        return Err(p.invalid("replications", "must be between 1 and 1,000,000"));
    }
    positive(p, "horizon_hours", f.horizon_hours)?;
    if f.horizon_hours > 24.0 * 366.0 {
        return Err(p.invalid("horizon_hours", "must be at most a year (8,784 hours)"));
    }
    if let Some(b) = f.bucket_minutes {
        positive(p, "bucket_minutes", b)?;
        if f.horizon_hours * 60.0 / b > 100_000.0 {
            return Err(p.invalid("bucket_minutes", "gives more than 100,000 buckets over the horizon"));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, s) in f.site.iter().enumerate() {
        if names.iter().any(|n| n.eq_ignore_ascii_case(&s.name)) {
            return Err(p.invalid(&format!("site[{i}].name"), format!("a second site named {:?}", s.name)));
        }
        names.push(&s.name);
        positive(p, &format!("site[{i}].uplink_mbps"), s.uplink_mbps)?;
        positive(p, &format!("site[{i}].device_mbps"), s.device_mbps)?;
        positive(p, &format!("site[{i}].lan_mbps"), s.lan_mbps)?;
        non_negative(p, &format!("site[{i}].peer_k"), s.peer_k)?;
    }
    let site_ok = |key: &str, name: &Option<String>| -> Result<(), ScenarioError> {
        match name {
            Some(n) if !names.is_empty() && !names.iter().any(|x| x.eq_ignore_ascii_case(n)) => {
                Err(p.invalid(key, format!("no site named {n:?} (sites: {})", names.join(", "))))
            }
            Some(n) if names.is_empty() => {
                Err(p.invalid(key, format!("names site {n:?} but the scenario has no [[site]] table")))
            }
            _ => Ok(()),
        }
    };
    if let Some(d) = &f.depot {
        site_ok("depot.site", &d.site)?;
        if d.technicians == 0 {
            return Err(p.invalid("depot.technicians", "a depot needs at least one technician"));
        }
        if d.bench_ports == Some(0) {
            return Err(p.invalid("depot.bench_ports", "must be at least 1 (leave it out for unlimited)"));
        }
        for (i, s) in d.shift.iter().enumerate() {
            parse_shift(s).map_err(|m| p.invalid(&format!("depot.shift[{i}]"), m))?;
            if s.technicians.is_some_and(|t| t > d.technicians) {
                return Err(p.invalid(
                    &format!("depot.shift[{i}].technicians"),
                    format!("more than the depot's {} technicians", d.technicians),
                ));
            }
        }
    }
    for (i, w) in f.wave.iter().enumerate() {
        site_ok(&format!("wave[{i}].site"), &w.site)?;
        non_negative(p, &format!("wave[{i}].start_hour"), w.start_hour)?;
    }
    if let Some(a) = &f.arrivals {
        site_ok("arrivals.site", &a.site)?;
        positive(p, "arrivals.rate_per_hour", a.rate_per_hour)?;
        non_negative(p, "arrivals.start_hour", a.start_hour)?;
    }
    let total = total_devices(f);
    if total > 2_000_000 {
        return Err(p.invalid("wave", format!("{total} devices per replication; at most 2,000,000 (a replication keeps every device in memory)")));
    }
    if let Some(r) = &f.registration {
        if r.batch_size == 0 || r.batch_size > 500 {
            return Err(p.invalid("registration.batch_size", "must be between 1 and 500 (the CSV limit)"));
        }
        non_negative(p, "registration.sync_cooldown_minutes", r.sync_cooldown_minutes)?;
        non_negative(p, "registration.hashes_at_hour", r.hashes_at_hour)?;
        non_negative(p, "registration.import_per_device_seconds", r.import_per_device_seconds)?;
        non_negative(p, "registration.assignment_per_device_seconds", r.assignment_per_device_seconds)?;
        if r.graph_writes_per_window == 0 {
            return Err(p.invalid("registration.graph_writes_per_window", "must be at least 1"));
        }
        positive(p, "registration.graph_window_seconds", r.graph_window_seconds)?;
        non_negative(p, "registration.graph_call_seconds", r.graph_call_seconds)?;
        if let Some(s) = r.graph_retry_after_seconds {
            positive(p, "registration.graph_retry_after_seconds", s)?;
        }
        if let Some(h) = r.hold_hours {
            non_negative(p, "registration.hold_hours", h)?;
        }
    }
    for (i, a) in f.app.iter().enumerate() {
        if let Some(s) = a.size_mb {
            non_negative(p, &format!("app[{i}].size_mb"), s)?;
            if s > 30_000.0 {
                return Err(p.invalid(&format!("app[{i}].size_mb"), "Win32 packages are capped at 30 GB"));
            }
        }
        if let Some(t) = a.timeout_minutes {
            positive(p, &format!("app[{i}].timeout_minutes"), t)?;
            if t > 1440.0 {
                return Err(p.invalid(&format!("app[{i}].timeout_minutes"), "Intune allows at most 1,440"));
            }
        }
        if let Some(preset) = &a.preset {
            if crate::sim::apps::preset(preset).is_none() {
                return Err(p.invalid(
                    &format!("app[{i}].preset"),
                    format!(
                        "unknown preset {preset:?}; presets: {}",
                        crate::sim::apps::PRESET_NAMES.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(e) = &f.esp {
        if e.timeout_minutes == 0 || e.timeout_minutes > 1440 {
            return Err(p.invalid("esp.timeout_minutes", "must be between 1 and 1,440"));
        }
    }
    if f.operator.on_error.is_empty() {
        return Err(p.invalid("operator.on_error", "list at least one option (give-up ends the list)"));
    }
    if f.operator.max_attempts == 0 {
        return Err(p.invalid("operator.max_attempts", "must be at least 1"));
    }
    if let Some(g) = &f.fleet.generate {
        if g.devices == 0 || g.devices > 2_000_000 {
            return Err(p.invalid("fleet.generate.devices", "must be between 1 and 2,000,000"));
        }
    }
    if let Some(h) = &f.hybrid {
        if h.connectors == 0 {
            return Err(p.invalid("hybrid.connectors", "must be at least 1"));
        }
        positive(p, "hybrid.requests_per_minute", h.requests_per_minute)?;
    }
    if f.operator.admins == 0 {
        return Err(p.invalid("operator.admins", "must be at least 1"));
    }
    Ok(())
}
