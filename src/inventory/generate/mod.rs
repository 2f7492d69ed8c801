//! A synthetic device fleet: Graph `device` records as JSON Lines, any size,
//! byte-identical for a given seed.
//!
//! `fleetlab generate` exists so rules, group files and the evaluator can be
//! tried on fleets of realistic size and mess without a tenant: ten million
//! devices load-test `eval`; two thousand make a fixture.
//!
//! # Determinism and threads
//!
//! The fleet is cut into fixed chunks of [`CHUNK_DEVICES`] devices. Chunk `i`
//! has its own PCG generator ([`rand_pcg::Pcg64`]) whose state is a hash of
//! `(seed, i)` and whose stream number is `(seed, i)` itself, so every chunk
//! draws from its own sequence and no two `(seed, chunk)` pairs share one.
//! Chunks are rendered in parallel (rayon) into their own byte buffers and
//! written strictly in chunk order, so the output depends on the seed and the
//! device count only, never on the number of threads or on scheduling.
//! The chunk size is therefore part of the output format: changing it
//! changes every fleet. Rendering runs a few chunks ahead of the writer
//! (bounded, so memory stays at a few hundred megabytes however large the
//! fleet) and the writer streams each chunk as soon as it is its turn.
//! Owners (the user in `[USER-GID]`/`[USER-HWID]` ids and in names such as
//! "Zoë's iPhone") come from a pool of about 0.7 users per device whose ids
//! are a hash of `(seed, user number)`, so one user owns devices in many
//! chunks without the chunks talking to each other.
//!
//! Ids are random version-4 GUIDs drawn from the chunk's generator
//! (122 random bits: a collision in ten million devices has a probability
//! around 10⁻²³).
//!
//! # What a record holds
//!
//! Each line is one Graph `device` with the properties the membership-rule
//! language reads, under their Graph names, in Graph's order: `id`,
//! `accountEnabled`, `deviceCategory`, `deviceId`, `deviceOwnership`,
//! `displayName`, `enrollmentProfileName`, `extensionAttributes`, `isRooted`,
//! `managementType`, `manufacturer`, `mdmAppId`, `model`, `operatingSystem`,
//! `operatingSystemVersion`, `physicalIds`, `profileType`, `systemLabels`,
//! `trustType`. Unset properties are written as `null`, as Graph does.
//! Two deliberate departures, both for size (at ten million devices every
//! byte per record is 10 MB of file, and disk bandwidth is what bounds
//! generation): properties no rule can read (timestamps, `isCompliant`, …)
//! are left out, and `extensionAttributes` lists only the slots that are set
//! and is absent when none is — Graph pads it with fifteen nulls, 450 bytes
//! that mean nothing more (fleetlab's loader, like the rule semantics, reads
//! an absent property as null). Sparse records (below) leave out most
//! properties entirely or spell them all out as null, the two shapes real
//! exports show.
//!
//! # The mix
//!
//! The shares are modelled on the hand-made Contoso tenant in
//! `scenarios/contoso` (same device kinds, model strings, operating-system
//! values, physicalIds formats and quirks) scaled to a large enterprise.
//! They are plausible round figures, not measurements of any real fleet:
//!
//! | kind                                           | share |
//! |------------------------------------------------|------:|
//! | Windows Autopilot, with a group tag            | 39.6% |
//! | Windows Autopilot, no group tag                |  3.6% |
//! | Windows Autopilot kiosk (`KIOSK-LOBBY`)        |  1.1% |
//! | HoloLens 2 (Autopilot)                         |  0.7% |
//! | hybrid joined PC (`ServerAd`), not Autopilot   | 14.0% |
//! | Windows 365 Cloud PC                           |  3.0% |
//! | Entra joined PC, not Autopilot                 |  5.0% |
//! | Entra registered personal PC (`Workplace`)     |  3.0% |
//! | corporate iPhone / personal iPhone / iPad      | 6 / 4 / 3% |
//! | Android Enterprise / work profile / legacy     | 5 / 4 / 1% |
//! | Mac                                            |  4.0% |
//! | sparse record (most properties missing)        |  3.0% |
//!
//! so 45% are Autopilot-registered (`[ZTDId]` in `physicalIds`), about 73%
//! run Windows, and the join types split about 70% `AzureAd`, 15% `ServerAd`
//! and 12% `Workplace` (sparse records have none). Windows hardware is
//! roughly 28% Dell, 27% Lenovo, 26% HP (one in six under the older
//! "Hewlett-Packard" name), 8% Surface and 10% others (Cloud PCs, HoloLens,
//! ASUS, Acer, Fujitsu, virtual machines); Windows builds mix
//! 10.0.19045 (Windows 10 22H2), 10.0.22631 (11 23H2) and 10.0.26100
//! (11 24H2) with older builds on hybrid PCs. Autopilot devices carry one of
//! eighteen group tags (`[OrderId]:NL-LT-FIN`, …; one in five spelt
//! `[OrderID]`, one in a hundred typed in lower case) and, 60% of them, one
//! of eight purchase orders. About 4% of devices are disabled (30% of sparse
//! records, 6% of hybrid PCs, 1–5% elsewhere) and about a third have an
//! extension attribute (cost centre in 1, site in 2, `SAW` in 15).

use std::io::{self, Write};
use std::sync::mpsc;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::Distribution;
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::splitmix64;

mod build;
mod json;
mod tables;

use build::*;
use json::*;
use tables::*;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetSpec {
    /// How many device records.
    pub devices: u64,
    /// The seed: the same seed and count give the same bytes.
    pub seed: u64,
}

/// Devices per chunk, the unit of seeding and of parallel work. Part of the
/// output format: a different value gives a different fleet.
pub const CHUNK_DEVICES: u64 = 65_536;

/// Writes `spec.devices` Graph `device` records to `out` as JSON Lines and
/// returns the number of bytes written.
///
/// Chunks are rendered on a rayon pool as large as the current one (all
/// cores unless called inside [`rayon::ThreadPool::install`]); the bytes do
/// not depend on its size. `out` is written from the calling thread in
/// large blocks, so it needs no buffering.
///
/// ```
/// use fleetlab::inventory::{generate, Device, FleetSpec};
/// let mut out = Vec::new();
/// generate(&FleetSpec { devices: 3, seed: 7 }, &mut out)?;
/// let text = String::from_utf8(out)?;
/// for line in text.lines() {
///     let _device: Device = serde_json::from_str(line)?;
/// }
/// assert_eq!(text.lines().count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate<W: Write>(spec: &FleetSpec, out: W) -> io::Result<u64> {
    generate_chunked(spec, CHUNK_DEVICES, out)
}

fn generate_chunked<W: Write>(spec: &FleetSpec, chunk: u64, mut out: W) -> io::Result<u64> {
    let chunk = chunk.max(1);
    let tables = Tables::new()?;
    let chunks = spec.devices.div_ceil(chunk);
    let threads = rayon::current_num_threads().max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fleetlab-generate-{i}"))
        .build()
        .map_err(io::Error::other)?;
    // Render two chunks per thread at a time; up to one more per thread
    // waits in the channel while the writer catches up.
    let batch = 2 * threads as u64;
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(threads);
    let (tables, pool) = (&tables, &pool);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut next = 0;
            while next < chunks {
                let end = (next + batch).min(chunks);
                let rendered: Vec<Vec<u8>> = pool.install(|| {
                    (next..end).into_par_iter().map(|i| render_chunk(spec, tables, chunk, i)).collect()
                });
                for bytes in rendered {
                    if tx.send(bytes).is_err() {
                        return; // the writer gave up
                    }
                }
                next = end;
            }
        });
        let mut written = 0u64;
        let mut result = Ok(());
        for bytes in &rx {
            if let Err(e) = out.write_all(&bytes) {
                result = Err(e);
                break;
            }
            written += bytes.len() as u64;
        }
        drop(rx);
        producer.join().map_err(|_| io::Error::other("the generator thread failed"))?;
        result?;
        out.flush()?;
        Ok(written)
    })
}

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

/// The generator of chunk `index`: a hashed state, and a stream number that
/// is `(seed, index)` itself so distinct chunks never share a sequence.
fn chunk_rng(seed: u64, index: u64) -> Pcg64 {
    let a = splitmix64(seed ^ 0x6a09_e667_f3bc_c908);
    let b = splitmix64(a ^ index);
    let state = (u128::from(a) << 64) | u128::from(b);
    let stream = (u128::from(seed) << 64) | u128::from(index);
    Pcg64::new(state, stream)
}

/// The 128 bits of user `k`'s object id (not drawn from a chunk generator,
/// so every chunk agrees on it).
fn user_bits(seed: u64, k: u64) -> u128 {
    let a = splitmix64(seed ^ 0xbb67_ae85_84ca_a73b ^ splitmix64(k));
    let b = splitmix64(a ^ k.rotate_left(17));
    (u128::from(a) << 64) | u128::from(b)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::error::Error;

    use super::*;
    use crate::inventory::Device;

    type TestResult = Result<(), Box<dyn Error>>;

    fn fleet(devices: u64, seed: u64) -> Result<Vec<u8>, Box<dyn Error>> {
        let mut out = Vec::new();
        let written = generate(&FleetSpec { devices, seed }, &mut out)?;
        assert_eq!(written, out.len() as u64);
        Ok(out)
    }

    fn parse(bytes: &[u8]) -> Result<Vec<Device>, Box<dyn Error>> {
        let text = std::str::from_utf8(bytes)?;
        let mut devices = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let device: Device =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}\n{line}", i + 1))?;
            devices.push(device);
        }
        Ok(devices)
    }

    #[test]
    fn same_seed_gives_the_same_bytes() -> TestResult {
        assert_eq!(fleet(3_000, 42)?, fleet(3_000, 42)?);
        Ok(())
    }

    #[test]
    fn different_seeds_give_different_fleets() -> TestResult {
        let (a, b) = (fleet(500, 1)?, fleet(500, 2)?);
        assert_ne!(a, b);
        let ids = |bytes: &[u8]| -> Result<HashSet<String>, Box<dyn Error>> {
            Ok(parse(bytes)?.into_iter().map(|d| d.id).collect())
        };
        assert!(ids(&a)?.is_disjoint(&ids(&b)?));
        Ok(())
    }

    #[test]
    fn output_does_not_depend_on_the_thread_count() -> TestResult {
        let spec = FleetSpec { devices: 5_500, seed: 9 };
        let run = |threads: usize| -> Result<Vec<u8>, Box<dyn Error>> {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let mut out = Vec::new();
            pool.install(|| generate_chunked(&spec, 1_000, &mut out))?;
            Ok(out)
        };
        let one = run(1)?;
        assert_eq!(one, run(3)?);
        assert_eq!(one, run(8)?);
        assert_eq!(std::str::from_utf8(&one)?.lines().count(), 5_500);
        Ok(())
    }

    #[test]
    fn sizes_around_chunk_edges() -> TestResult {
        for devices in [0, 1, 999, 1_000, 1_001, 2_000] {
            let mut out = Vec::new();
            generate_chunked(&FleetSpec { devices, seed: 3 }, 1_000, &mut out)?;
            assert_eq!(parse(&out)?.len() as u64, devices);
        }
        Ok(())
    }

    #[test]
    fn every_line_is_a_graph_device() -> TestResult {
        let bytes = fleet(10_000, 5)?;
        assert!(bytes.ends_with(b"}\n"));
        let devices = parse(&bytes)?;
        assert_eq!(devices.len(), 10_000);
        // Lines are also plain JSON objects with Graph's camelCase names.
        let first = std::str::from_utf8(&bytes)?.lines().next().ok_or("empty")?;
        let value: serde_json::Value = serde_json::from_str(first)?;
        assert!(value.get("id").is_some() && value.get("displayName").is_some());
        Ok(())
    }

    #[test]
    fn ids_are_unique_guids() -> TestResult {
        let devices = parse(&fleet(10_000, 11)?)?;
        let guid =
            regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")?;
        let mut seen = HashSet::new();
        for d in &devices {
            assert!(guid.is_match(&d.id), "not a GUID: {}", d.id);
            assert!(seen.insert(d.id.as_str()), "duplicate id {}", d.id);
            if let Some(device_id) = &d.device_id {
                assert!(guid.is_match(device_id), "not a GUID: {device_id}");
                assert!(seen.insert(device_id.as_str()), "duplicate id {device_id}");
            }
        }
        Ok(())
    }

    #[test]
    fn json_strings_are_escaped() -> TestResult {
        let mut b = Vec::new();
        let nasty = "Kiosk \"Lobby\" \\ İstanbul\n\t\u{1}end";
        push_json_string(&mut b, nasty);
        assert_eq!(serde_json::from_slice::<String>(&b)?, nasty);
        Ok(())
    }

    #[test]
    fn shares_are_roughly_as_documented() -> TestResult {
        let n = 20_000;
        let devices = parse(&fleet(n, 1)?)?;
        let share = |f: &dyn Fn(&Device) -> bool| devices.iter().filter(|d| f(d)).count() as f64 / n as f64;
        let has_id = |d: &Device, prefix: &str| {
            d.physical_ids
                .iter()
                .flatten()
                .any(|p| p.get(..prefix.len()).is_some_and(|s| s.eq_ignore_ascii_case(prefix)))
        };
        let is = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
        let within = |name: &str, got: f64, lo: f64, hi: f64| {
            assert!((lo..=hi).contains(&got), "{name}: {got:.4} not in {lo}..={hi}");
        };

        within("autopilot", share(&|d| has_id(d, "[ZTDId]:")), 0.42, 0.48);
        within("group tag", share(&|d| has_id(d, "[OrderId]:")), 0.38, 0.46);
        within("purchase order", share(&|d| has_id(d, "[PurchaseOrderId]:")), 0.20, 0.32);
        within("windows", share(&|d| is(&d.operating_system, "Windows")), 0.68, 0.78);
        within("server ad", share(&|d| is(&d.trust_type, "ServerAd")), 0.12, 0.18);
        within("azure ad", share(&|d| is(&d.trust_type, "AzureAd")), 0.66, 0.74);
        within("workplace", share(&|d| is(&d.trust_type, "Workplace")), 0.09, 0.15);
        within(
            "apple mobile",
            share(&|d| ["iOS", "iPhone", "iPad"].iter().any(|os| is(&d.operating_system, os))),
            0.11,
            0.16,
        );
        within(
            "android",
            share(&|d| d.operating_system.as_deref().is_some_and(|os| os.starts_with("Android"))),
            0.08,
            0.13,
        );
        within("macOS", share(&|d| is(&d.operating_system, "MacMDM")), 0.03, 0.05);
        within(
            "cloud pc",
            share(&|d| d.model.as_deref().is_some_and(|m| m.starts_with("Cloud PC"))),
            0.02,
            0.04,
        );
        within("hololens", share(&|d| is(&d.model, "HoloLens 2")), 0.004, 0.011);
        within("sparse", share(&|d| d.trust_type.is_none() && d.model.is_none()), 0.02, 0.04);
        within("disabled", share(&|d| d.account_enabled == Some(false)), 0.025, 0.06);
        within("extension attributes", share(&|d| d.extension_attributes.is_some()), 0.22, 0.38);
        within(
            "SAW",
            share(&|d| d.extension_attributes.as_ref().is_some_and(|e| e.get(15).is_some())),
            0.0005,
            0.01,
        );

        let mut makers: HashMap<&str, usize> = HashMap::new();
        let windows: Vec<&Device> = devices
            .iter()
            .filter(|d| is(&d.operating_system, "Windows") && d.manufacturer.is_some())
            .collect();
        for d in &windows {
            let m = d.manufacturer.as_deref().unwrap_or_default();
            let family = match m {
                "LENOVO" | "Lenovo" => "lenovo",
                "HP" | "Hewlett-Packard" => "hp",
                "Dell Inc." => "dell",
                _ if d.model.as_deref().is_some_and(|m| m.starts_with("Surface")) => "surface",
                _ => "other",
            };
            *makers.entry(family).or_default() += 1;
        }
        let maker = |f: &str| makers.get(f).copied().unwrap_or(0) as f64 / windows.len() as f64;
        within("lenovo", maker("lenovo"), 0.20, 0.35);
        within("hp", maker("hp"), 0.20, 0.35);
        within("dell", maker("dell"), 0.20, 0.35);
        within("surface", maker("surface"), 0.04, 0.12);

        let version = |prefix: &str| {
            share(&|d| {
                is(&d.operating_system, "Windows")
                    && d.operating_system_version.as_deref().is_some_and(|v| v.starts_with(prefix))
            })
        };
        within("win10 22H2", version("10.0.19045."), 0.08, 0.22);
        within("win11 23H2", version("10.0.22631."), 0.20, 0.35);
        within("win11 24H2", version("10.0.26100."), 0.20, 0.35);
        Ok(())
    }

    #[test]
    fn owners_recur_across_devices() -> TestResult {
        let devices = parse(&fleet(5_000, 4)?)?;
        let mut owners: HashMap<String, usize> = HashMap::new();
        for d in &devices {
            for p in d.physical_ids.iter().flatten() {
                if let Some(rest) = p.strip_prefix("[USER-GID]:") {
                    *owners.entry(rest.get(..36).unwrap_or_default().to_string()).or_default() += 1;
                }
            }
        }
        assert!(owners.values().any(|&n| n > 1), "no user owns two devices");
        Ok(())
    }
}
