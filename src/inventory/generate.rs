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

// ---------------------------------------------------------------------------
// Value lists
// ---------------------------------------------------------------------------

const INTUNE: &str = "0000000a-0000-0000-c000-000000000000";
const CONFIGMGR: &str = "54b943f8-d761-4f8d-951e-9cea1846db5a";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sparse,
    AutopilotTagged,
    AutopilotUntagged,
    AutopilotKiosk,
    HoloLens,
    Hybrid,
    CloudPc,
    EntraJoined,
    PersonalWindows,
    CorporateIphone,
    PersonalIphone,
    Ipad,
    AndroidEnterprise,
    AndroidWorkProfile,
    AndroidLegacy,
    Mac,
}

/// Shares per mille; see the table in the module documentation.
const KINDS: &[(Kind, u32)] = &[
    (Kind::Sparse, 30),
    (Kind::AutopilotTagged, 396),
    (Kind::AutopilotUntagged, 36),
    (Kind::AutopilotKiosk, 11),
    (Kind::HoloLens, 7),
    (Kind::Hybrid, 140),
    (Kind::CloudPc, 30),
    (Kind::EntraJoined, 50),
    (Kind::PersonalWindows, 30),
    (Kind::CorporateIphone, 60),
    (Kind::PersonalIphone, 40),
    (Kind::Ipad, 30),
    (Kind::AndroidEnterprise, 50),
    (Kind::AndroidWorkProfile, 40),
    (Kind::AndroidLegacy, 10),
    (Kind::Mac, 40),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serial {
    Dell,
    HpLaptop,
    HpDesktop,
    Lenovo,
    Surface,
    Other,
}

/// (manufacturer, model, serial format)
type Hardware = (&'static str, &'static str, Serial);

const HP: &str = "HP";
const HP_OLD: &str = "Hewlett-Packard";
const DELL: &str = "Dell Inc.";
const LENOVO: &str = "LENOVO";
const MICROSOFT: &str = "Microsoft Corporation";

/// Business laptops. Lenovo reports machine-type codes as the model, and
/// newer BIOSes spell the maker "Lenovo".
const LAPTOPS: &[(Hardware, u32)] = &[
    ((LENOVO, "21HD0053MH", Serial::Lenovo), 10),
    ((LENOVO, "21HES0B200", Serial::Lenovo), 6),
    ((LENOVO, "21HD0053US", Serial::Lenovo), 5),
    ((LENOVO, "20XW0055MH", Serial::Lenovo), 4),
    ((LENOVO, "21HMCTO1WW", Serial::Lenovo), 1),
    (("Lenovo", "21HMCTO1WW", Serial::Lenovo), 4),
    ((HP, "HP EliteBook 840 G10 Notebook PC", Serial::HpLaptop), 10),
    ((HP_OLD, "HP EliteBook 840 G10 Notebook PC", Serial::HpLaptop), 2),
    ((HP, "HP EliteBook 840 G8 Notebook PC", Serial::HpLaptop), 4),
    ((HP_OLD, "HP EliteBook 840 G8 Notebook PC", Serial::HpLaptop), 1),
    ((HP, "HP EliteBook 860 G10 Notebook PC", Serial::HpLaptop), 3),
    ((HP, "HP ProBook 450 G9 Notebook PC", Serial::HpLaptop), 3),
    ((DELL, "Latitude 7440", Serial::Dell), 9),
    ((DELL, "Latitude 5540", Serial::Dell), 7),
    ((DELL, "Latitude 5440", Serial::Dell), 4),
    ((DELL, "XPS 13 9340", Serial::Dell), 1),
    ((MICROSOFT, "Surface Laptop 5", Serial::Surface), 5),
    ((MICROSOFT, "Surface Pro 9", Serial::Surface), 4),
    ((MICROSOFT, "Surface Laptop 6", Serial::Surface), 2),
    (("ASUSTeK COMPUTER INC.", "ASUS Zenbook 14 UX3405MA", Serial::Other), 2),
    (("Acer", "Swift Go SFG14-71", Serial::Other), 1),
    (("FUJITSU", "LIFEBOOK U7413", Serial::Other), 1),
];

/// Business desktops.
const DESKTOPS: &[(Hardware, u32)] = &[
    ((DELL, "OptiPlex 7010", Serial::Dell), 10),
    ((DELL, "Precision 3660", Serial::Dell), 4),
    ((HP, "HP Elite Mini 800 G9 Desktop PC", Serial::HpDesktop), 8),
    ((HP, "HP EliteDesk 800 G6 Desktop Mini PC", Serial::HpDesktop), 4),
    ((HP_OLD, "HP EliteDesk 800 G2 SFF", Serial::HpDesktop), 2),
    ((LENOVO, "11T40026GE", Serial::Lenovo), 5),
    ((LENOVO, "11MY002WUS", Serial::Lenovo), 3),
];

/// Domain-joined PCs: older desktops and laptops, a few virtual machines.
const HYBRID_HARDWARE: &[(Hardware, u32)] = &[
    ((DELL, "OptiPlex 7010", Serial::Dell), 12),
    ((DELL, "Latitude 5540", Serial::Dell), 8),
    ((DELL, "OptiPlex 7090", Serial::Dell), 6),
    ((HP, "HP EliteDesk 800 G6 Desktop Mini PC", Serial::HpDesktop), 7),
    ((HP_OLD, "HP EliteDesk 800 G2 SFF", Serial::HpDesktop), 5),
    ((HP, "HP EliteBook 840 G8 Notebook PC", Serial::HpLaptop), 5),
    ((LENOVO, "20XW0055MH", Serial::Lenovo), 8),
    ((LENOVO, "11MY002WUS", Serial::Lenovo), 5),
    ((MICROSOFT, "Surface Pro 7+", Serial::Surface), 2),
    (("VMware, Inc.", "VMware20,1", Serial::Other), 2),
    ((MICROSOFT, "Virtual Machine", Serial::Other), 1),
];

/// Personal PCs that only added a work account.
const CONSUMER_HARDWARE: &[(Hardware, u32)] = &[
    ((MICROSOFT, "Surface Pro 9", Serial::Surface), 3),
    ((HP, "HP Pavilion Laptop 15-eg3xxx", Serial::HpLaptop), 3),
    (("ASUSTeK COMPUTER INC.", "ROG Strix G16 G614JV", Serial::Other), 2),
    ((DELL, "Inspiron 16 5630", Serial::Dell), 3),
    ((LENOVO, "82XV", Serial::Lenovo), 3),
    (("Acer", "Aspire 5 A515-58M", Serial::Other), 1),
];

/// Windows feature updates; each has five monthly patch levels.
const WIN10_22H2: &[&str] =
    &["10.0.19045.5487", "10.0.19045.5371", "10.0.19045.5247", "10.0.19045.5131", "10.0.19045.4894"];
const WIN11_23H2: &[&str] =
    &["10.0.22631.4890", "10.0.22631.4751", "10.0.22631.4602", "10.0.22631.4460", "10.0.22631.4317"];
const WIN11_24H2: &[&str] =
    &["10.0.26100.3194", "10.0.26100.3037", "10.0.26100.2894", "10.0.26100.2605", "10.0.26100.2314"];
const BUILDS: [&[&str]; 3] = [WIN10_22H2, WIN11_23H2, WIN11_24H2];

/// Build shares (22H2, 23H2, 24H2) per population.
const BUILDS_AUTOPILOT: &[(usize, u32)] = &[(0, 8), (1, 40), (2, 52)];
const BUILDS_HYBRID: &[(usize, u32)] = &[(0, 50), (1, 38), (2, 12)];
const BUILDS_ENTRA: &[(usize, u32)] = &[(0, 30), (1, 45), (2, 25)];
const BUILDS_PERSONAL: &[(usize, u32)] = &[(0, 15), (1, 35), (2, 50)];
const BUILDS_CLOUD: &[(usize, u32)] = &[(1, 35), (2, 65)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Laptop,
    Desktop,
}

/// Autopilot group tags: (tag, form factor, department).
const TAGS: &[((&str, Form, Dept), u32)] = &[
    (("NL-LT-FIN", Form::Laptop, Dept::Fin), 6),
    (("NL-LT-HR", Form::Laptop, Dept::Hr), 4),
    (("NL-DT-FIN", Form::Desktop, Dept::Fin), 2),
    (("NL-LT-SALES", Form::Laptop, Dept::Sales), 4),
    (("NL-LT-IT", Form::Laptop, Dept::It), 1),
    (("US-DT-ENG", Form::Desktop, Dept::Eng), 6),
    (("US-LT-ENG", Form::Laptop, Dept::Eng), 8),
    (("US-LT-SALES", Form::Laptop, Dept::Sales), 9),
    (("US-LT-OPS", Form::Laptop, Dept::Ops), 4),
    (("US-DT-FIN", Form::Desktop, Dept::Fin), 2),
    (("US-LT-IT", Form::Laptop, Dept::It), 2),
    (("UK-LT-OPS", Form::Laptop, Dept::Ops), 5),
    (("UK-LT-SALES", Form::Laptop, Dept::Sales), 4),
    (("UK-DT-IT", Form::Desktop, Dept::It), 1),
    (("DE-LT-ENG", Form::Laptop, Dept::Eng), 5),
    (("DE-DT-OPS", Form::Desktop, Dept::Ops), 3),
    (("TR-LT-OPS", Form::Laptop, Dept::Ops), 2),
    (("NL-LT-FIN-TEMP", Form::Laptop, Dept::Fin), 1),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dept {
    Fin,
    Hr,
    Eng,
    Sales,
    Ops,
    It,
}

impl Dept {
    fn cost_centre(self) -> &'static str {
        match self {
            Dept::Fin => "CC-1020",
            Dept::Hr => "CC-2010",
            Dept::Eng => "CC-3100",
            Dept::Sales => "CC-4200",
            Dept::Ops => "CC-5000",
            Dept::It => "CC-6000",
        }
    }
}

/// SAP purchase-order numbers, one per hardware batch.
const PURCHASE_ORDERS: &[(&str, u32)] = &[
    ("4500187321", 8),
    ("4500201877", 6),
    ("4500190456", 6),
    ("4500212093", 4),
    ("4500176540", 3),
    ("4500223318", 3),
    ("4500198805", 2),
    ("4500230742", 2),
];

/// Tag spellings seen in tenants (rules compare case-insensitively).
const ZTD_PREFIXES: &[(&str, u32)] = &[("[ZTDID]", 6), ("[ZTDId]", 5), ("[ZTDid]", 1)];

const SITES: &[&str] = &["NLAMS", "NLUTR", "USSEA", "USNYC", "UKLON", "UKMAN", "DEFRA", "TRIST"];

const CLOUD_PC_MODELS: &[(&str, u32)] = &[
    ("Cloud PC Enterprise 2vCPU/8GB/128GB", 5),
    ("Cloud PC Enterprise 4vCPU/16GB/256GB", 3),
    ("Cloud PC Enterprise 2vCPU/4GB/64GB", 2),
    ("Cloud PC Enterprise 8vCPU/32GB/512GB", 1),
];
const CLOUD_PC_POLICIES: &[&str] =
    &["CPC-Finance-Policy", "CPC-Engineering-Policy", "CPC-Contractors-Policy"];

const IPHONES: &[&str] = &["iPhone 15", "iPhone 15", "iPhone 14", "iPhone 13", "iPhone 15 Pro", "iPhone 16"];
const IOS_VERSIONS: &[&str] = &["17.6.1", "18.1.1", "18.3.2", "18.3.2", "18.5"];
const IPADS: &[&str] = &["iPad Air", "iPad Air", "iPad (10th generation)", "iPad Pro 11-inch (M4)"];
const IPADOS_VERSIONS: &[&str] = &["17.7.2", "18.3.1", "18.5"];
const MACS: &[&str] = &["MacBookPro18,3", "MacBookAir10,1", "Mac14,2", "Mac15,12", "MacBookPro18,3"];
const MACOS_VERSIONS: &[&str] = &["14.7.4", "15.3.1", "15.3.1", "15.5"];
const ANDROID_HARDWARE: &[(&str, &str)] = &[
    ("samsung", "SM-G991B"),
    ("samsung", "SM-A546B"),
    ("samsung", "SM-S921B"),
    ("samsung", "SM-A546B"),
    ("Google", "Pixel 8"),
    ("Zebra Technologies", "TC52"),
];
const ANDROID_VERSIONS: &[&str] = &["13", "14", "14", "15"];

/// First names as displayed, and as they appear in mail nicknames.
const GIVEN_NAMES: &[(&str, &str)] = &[
    ("Margaret", "margaret"),
    ("Pieter", "pieter"),
    ("Sanne", "sanne"),
    ("David", "david"),
    ("Rachel", "rachel"),
    ("Oliver", "oliver"),
    ("Anika", "anika"),
    ("Rob", "rob"),
    ("Zoë", "zoe"),
    ("Daan", "daan"),
    ("Jürgen", "jurgen"),
    ("Lotte", "lotte"),
    ("Emma", "emma"),
    ("Priya", "priya"),
    ("Marcus", "marcus"),
    ("Kenji", "kenji"),
    ("José", "jose"),
    ("Hannah", "hannah"),
    ("Tyler", "tyler"),
    ("Chloé", "chloe"),
    ("Grace", "grace"),
    ("Amelia", "amelia"),
    ("Harry", "harry"),
    ("Łukasz", "lukasz"),
    ("Çağla", "cagla"),
    ("Emre", "emre"),
    ("Noah", "noah"),
    ("Fatima", "fatima"),
    ("Liam", "liam"),
    ("Sophie", "sophie"),
    ("Ben", "ben"),
    ("Mia", "mia"),
    ("Aisha", "aisha"),
    ("Mateo", "mateo"),
    ("Ingrid", "ingrid"),
    ("Wei", "wei"),
];
const SURNAMES: &[&str] = &[
    "okafor", "devries", "bakker", "chen", "thompson", "hughes", "patel", "jansen", "vandijk", "visser",
    "weiss", "smit", "mulder", "raman", "johnson", "watanabe", "garcia", "schmidt", "brooks", "martin",
    "kim", "clarke", "evans", "nowak", "yilmaz", "demir", "williams", "haddad", "oconnor", "deboer",
    "carter", "muller",
];

/// Vendors leave I and O out of serials.
const SERIAL_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
const NAME_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// ---------------------------------------------------------------------------
// Weighted tables
// ---------------------------------------------------------------------------

/// A fixed list with weights, sampled in O(1) by the alias method.
struct Weighted<T: 'static> {
    items: &'static [(T, u32)],
    index: WeightedAliasIndex<u32>,
}

impl<T> Weighted<T> {
    fn new(items: &'static [(T, u32)]) -> io::Result<Self> {
        let index = WeightedAliasIndex::new(items.iter().map(|(_, w)| *w).collect())
            .map_err(|e| io::Error::other(format!("weight table: {e}")))?;
        Ok(Weighted { items, index })
    }

    fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> &T {
        &self.items[self.index.sample(rng)].0
    }
}

/// Every weighted table, built once per run and shared by all chunks.
struct Tables {
    kinds: Weighted<Kind>,
    laptops: Weighted<Hardware>,
    desktops: Weighted<Hardware>,
    hybrid: Weighted<Hardware>,
    consumer: Weighted<Hardware>,
    tags: Weighted<(&'static str, Form, Dept)>,
    orders: Weighted<&'static str>,
    ztd: Weighted<&'static str>,
    cloud_models: Weighted<&'static str>,
    builds_autopilot: Weighted<usize>,
    builds_hybrid: Weighted<usize>,
    builds_entra: Weighted<usize>,
    builds_personal: Weighted<usize>,
    builds_cloud: Weighted<usize>,
}

impl Tables {
    fn new() -> io::Result<Self> {
        Ok(Tables {
            kinds: Weighted::new(KINDS)?,
            laptops: Weighted::new(LAPTOPS)?,
            desktops: Weighted::new(DESKTOPS)?,
            hybrid: Weighted::new(HYBRID_HARDWARE)?,
            consumer: Weighted::new(CONSUMER_HARDWARE)?,
            tags: Weighted::new(TAGS)?,
            orders: Weighted::new(PURCHASE_ORDERS)?,
            ztd: Weighted::new(ZTD_PREFIXES)?,
            cloud_models: Weighted::new(CLOUD_PC_MODELS)?,
            builds_autopilot: Weighted::new(BUILDS_AUTOPILOT)?,
            builds_hybrid: Weighted::new(BUILDS_HYBRID)?,
            builds_entra: Weighted::new(BUILDS_ENTRA)?,
            builds_personal: Weighted::new(BUILDS_PERSONAL)?,
            builds_cloud: Weighted::new(BUILDS_CLOUD)?,
        })
    }
}

// ---------------------------------------------------------------------------
// One device
// ---------------------------------------------------------------------------

/// The fixed-vocabulary properties of one device; free-text ones (name,
/// version, physicalIds) live in [`Scratch`].
#[derive(Default)]
struct Rec {
    enabled: Option<bool>,
    category: Option<&'static str>,
    ownership: Option<&'static str>,
    profile: Option<&'static str>,
    ext: [Option<&'static str>; 3],
    rooted: Option<bool>,
    management: Option<&'static str>,
    manufacturer: Option<&'static str>,
    mdm: Option<&'static str>,
    model: Option<&'static str>,
    os: Option<&'static str>,
    os_version: Option<&'static str>,
    profile_type: Option<&'static str>,
    m365_label: bool,
    trust: Option<&'static str>,
}

/// Extension-attribute slots `Rec::ext` fills, in order.
const EXT_SLOTS: [u8; 3] = [1, 2, 15];

/// Reused per-device buffers, so rendering a chunk allocates almost nothing.
#[derive(Default)]
struct Scratch {
    name: String,
    ids: String,
    /// Byte ranges of the physicalIds in `ids`, shuffled before writing.
    id_ranges: Vec<(usize, usize)>,
}

impl Scratch {
    fn push_id(&mut self, parts: &[&str]) {
        let start = self.ids.len();
        for p in parts {
            self.ids.push_str(p);
        }
        self.id_ranges.push((start, self.ids.len()));
    }
}

/// An owner, derived from the user number alone.
struct Person {
    id: u128,
    given: &'static str,
    nick_given: &'static str,
    surname: &'static str,
}

struct Chunk<'a> {
    rng: Pcg64,
    t: &'a Tables,
    seed: u64,
    users: u64,
    scratch: Scratch,
    buf: Vec<u8>,
}

fn render_chunk(spec: &FleetSpec, t: &Tables, chunk: u64, index: u64) -> Vec<u8> {
    let start = index * chunk;
    let count = chunk.min(spec.devices.saturating_sub(start));
    let mut c = Chunk {
        rng: chunk_rng(spec.seed, index),
        t,
        seed: spec.seed,
        users: ((u128::from(spec.devices) * 7 / 10) as u64).max(1),
        scratch: Scratch::default(),
        buf: Vec::with_capacity(count as usize * 820),
    };
    for _ in 0..count {
        c.device();
    }
    c.buf
}

impl Chunk<'_> {
    fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.random_range(0..1000) < per_mille
    }

    fn one<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn person(&mut self) -> Person {
        let k = self.rng.random_range(0..self.users);
        let id = user_bits(self.seed, k);
        let h = splitmix64(id as u64);
        let (given, nick_given) = GIVEN_NAMES[(h % GIVEN_NAMES.len() as u64) as usize];
        let surname = SURNAMES[((h >> 32) % SURNAMES.len() as u64) as usize];
        Person { id, given, nick_given, surname }
    }

    fn windows_version(&mut self, builds: fn(&Tables) -> &Weighted<usize>) -> &'static str {
        let build = *builds(self.t).pick(&mut self.rng);
        self.one(BUILDS[build])
    }

    fn device(&mut self) {
        self.scratch.name.clear();
        self.scratch.ids.clear();
        self.scratch.id_ranges.clear();
        let id = self.rng.random::<u128>();
        let kind = *self.t.kinds.pick(&mut self.rng);
        let device_id = self.rng.random::<u128>();
        let rec = match kind {
            Kind::Sparse => return self.sparse(id),
            Kind::AutopilotTagged => self.autopilot_tagged(),
            Kind::AutopilotUntagged => self.autopilot_untagged(),
            Kind::AutopilotKiosk => self.kiosk(),
            Kind::HoloLens => self.hololens(),
            Kind::Hybrid => self.hybrid(),
            Kind::CloudPc => self.cloud_pc(),
            Kind::EntraJoined => self.entra_joined(),
            Kind::PersonalWindows => self.personal_windows(),
            Kind::CorporateIphone => self.corporate_iphone(),
            Kind::PersonalIphone => self.personal_iphone(),
            Kind::Ipad => self.ipad(),
            Kind::AndroidEnterprise | Kind::AndroidWorkProfile => self.android(kind),
            Kind::AndroidLegacy => self.android_legacy(),
            Kind::Mac => self.mac(),
        };
        self.scratch.id_ranges.shuffle(&mut self.rng);
        write_device(&mut self.buf, id, Some(device_id), &rec, &self.scratch);
    }

    // --- names and ids --------------------------------------------------

    fn push_chars(&mut self, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            let c = alphabet[self.rng.random_range(0..alphabet.len())];
            self.scratch.name.push(char::from(c));
        }
    }

    fn push_digits(&mut self, n: usize) {
        for i in 0..n {
            let d = if i == 0 { self.rng.random_range(1..10u8) } else { self.rng.random_range(0..10u8) };
            self.scratch.name.push(char::from(b'0' + d));
        }
    }

    fn push_serial(&mut self, kind: Serial) {
        match kind {
            Serial::Dell => self.push_chars(SERIAL_CHARS, 7),
            Serial::HpLaptop | Serial::HpDesktop => {
                self.scratch.name.push_str(if kind == Serial::HpLaptop { "5CG" } else { "CZC" });
                self.push_digits(4);
                self.push_chars(SERIAL_CHARS, 3);
            }
            Serial::Lenovo => {
                self.scratch.name.push_str("PF");
                self.push_chars(SERIAL_CHARS, 6);
            }
            Serial::Surface => {
                self.scratch.name.push('0');
                self.push_digits(11);
            }
            Serial::Other => self.push_chars(SERIAL_CHARS, 10),
        }
    }

    /// `CON-LT-<serial>`, cut to the 15-character NetBIOS limit as
    /// Autopilot naming templates are.
    fn template_name(&mut self, prefix: &str, serial: Serial) {
        self.scratch.name.push_str(prefix);
        self.push_serial(serial);
        self.scratch.name.truncate(15);
    }

    fn desktop_name(&mut self) {
        self.scratch.name.push_str("DESKTOP-");
        self.push_chars(NAME_CHARS, 7);
    }

    /// A 16-digit number that does not start with 0, as in HWID/GID ids.
    fn digits16(&mut self) -> [u8; 16] {
        let mut v = self.rng.random_range(1_000_000_000_000_000..10_000_000_000_000_000u64);
        let mut out = [b'0'; 16];
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out
    }

    /// `[GID]`, `[HWID]` and, for a device with a primary user, the
    /// `[USER-GID]` and `[USER-HWID]` ids, which repeat the HWID number.
    fn windows_ids(&mut self, user: Option<&Person>) {
        let g = self.digits16();
        let h = self.digits16();
        let (g, h) = (ascii(&g), ascii(&h));
        self.scratch.push_id(&["[GID]:g:", g]);
        self.scratch.push_id(&["[HWID]:h:", h]);
        if let Some(user) = user {
            let mut guid = [0u8; 36];
            let uid = format_guid(user.id, &mut guid);
            let ug = self.digits16();
            self.scratch.push_id(&["[USER-GID]:", uid, ":", ascii(&ug)]);
            self.scratch.push_id(&["[USER-HWID]:", uid, ":", h]);
        }
    }

    fn autopilot_ids(&mut self, tag: Option<&str>, order_per_mille: u32) {
        let ztd = *self.t.ztd.pick(&mut self.rng);
        let mut guid = [0u8; 36];
        let zid = format_guid(self.rng.random::<u128>(), &mut guid);
        self.scratch.push_id(&[ztd, ":", zid]);
        if let Some(tag) = tag {
            let key = if self.chance(200) { "[OrderID]:" } else { "[OrderId]:" };
            if self.chance(10) {
                // Imported from a CSV typed by hand in lower case.
                let lower = tag.to_ascii_lowercase();
                self.scratch.push_id(&[key, &lower]);
            } else {
                self.scratch.push_id(&[key, tag]);
            }
        }
        if self.chance(order_per_mille) {
            let po = *self.t.orders.pick(&mut self.rng);
            self.scratch.push_id(&["[PurchaseOrderId]:", po]);
        }
    }

    fn windows(&mut self, hw: Hardware, version: &'static str, trust: &'static str) -> Rec {
        Rec {
            enabled: Some(true),
            rooted: Some(false),
            manufacturer: Some(hw.0),
            model: Some(hw.1),
            os: Some("Windows"),
            os_version: Some(version),
            profile_type: Some("RegisteredDevice"),
            trust: Some(trust),
            ..Rec::default()
        }
    }

    fn managed(rec: &mut Rec, mdm: &'static str) {
        rec.management = Some("MDM");
        rec.mdm = Some(mdm);
    }

    // --- kinds ----------------------------------------------------------

    fn autopilot_tagged(&mut self) -> Rec {
        let (tag, form, dept) = *self.t.tags.pick(&mut self.rng);
        let hw = *match form {
            Form::Laptop => self.t.laptops.pick(&mut self.rng),
            Form::Desktop => self.t.desktops.pick(&mut self.rng),
        };
        self.template_name(if form == Form::Laptop { "CON-LT-" } else { "CON-DT-" }, hw.2);
        let user = self.person();
        self.windows_ids(Some(&user));
        self.autopilot_ids(Some(tag), 600);
        let version = self.windows_version(|t| &t.builds_autopilot);
        let mut rec = self.windows(hw, version, "AzureAd");
        let engineering_desktop = dept == Dept::Eng && form == Form::Desktop;
        // Engineering desktops are partly co-managed so ConfigMgr can keep
        // pushing the build toolchain.
        Self::managed(&mut rec, if engineering_desktop && self.chance(200) { CONFIGMGR } else { INTUNE });
        rec.enabled = Some(!self.chance(20));
        rec.ownership = Some("company");
        rec.profile = if engineering_desktop || self.chance(150) {
            Some("Contoso Pre-provisioned")
        } else if self.chance(50) {
            None // waiting for a profile assignment
        } else {
            Some("Contoso UD Entra")
        };
        rec.category = Some(match (form, engineering_desktop) {
            (_, true) => "Engineering workstation",
            (Form::Laptop, _) => "Standard laptop",
            (Form::Desktop, _) => "Standard desktop",
        });
        if self.chance(600) {
            rec.ext[0] = Some(dept.cost_centre());
        }
        if self.chance(250) {
            rec.ext[1] = Some(self.one(SITES));
        }
        // Privileged access workstations, marked by IT.
        if (dept == Dept::It || engineering_desktop) && self.chance(80) {
            rec.ext[2] = Some("SAW");
            rec.ext[0] = Some(Dept::It.cost_centre());
        }
        rec.m365_label = self.chance(100);
        rec
    }

    fn autopilot_untagged(&mut self) -> Rec {
        let hw = *self.t.laptops.pick(&mut self.rng);
        if self.chance(20) {
            // Renamed locally by the İstanbul office (a Unicode display name).
            self.scratch.name.push_str("İstanbul-LT-");
            self.push_digits(3);
        } else if self.chance(500) {
            self.template_name("CON-LT-", hw.2);
        } else {
            self.desktop_name(); // no naming template on the fallback profile
        }
        let user = self.person();
        self.windows_ids(Some(&user));
        self.autopilot_ids(None, 300);
        let version = self.windows_version(|t| &t.builds_autopilot);
        let mut rec = self.windows(hw, version, "AzureAd");
        Self::managed(&mut rec, INTUNE);
        rec.enabled = Some(!self.chance(20));
        rec.ownership = Some("company");
        rec.profile = if self.chance(150) { None } else { Some("Contoso UD Entra") };
        rec.m365_label = self.chance(100);
        rec
    }

    fn kiosk(&mut self) -> Rec {
        let hw = *self.t.desktops.pick(&mut self.rng);
        if self.chance(10) {
            // Renamed by facilities.
            self.scratch.name.push_str("Kiosk \"Lobby\" Screen ");
            self.push_digits(1);
        } else {
            self.template_name("CON-KSK-", hw.2);
        }
        self.windows_ids(None);
        self.autopilot_ids(Some("KIOSK-LOBBY"), 500);
        let version = self.windows_version(|t| &t.builds_autopilot);
        let mut rec = self.windows(hw, version, "AzureAd");
        Self::managed(&mut rec, INTUNE);
        rec.ownership = Some("company");
        rec.profile = Some("Contoso Kiosk SD");
        // Some were rebuilt before the Shared profile type was applied.
        rec.profile_type = Some(if self.chance(200) { "RegisteredDevice" } else { "Shared" });
        rec.category = Some("Kiosk");
        rec
    }

    fn hololens(&mut self) -> Rec {
        // HoloLens picks its own HOLOLENS-xxxxxx name at setup.
        self.scratch.name.push_str("HOLOLENS-");
        self.push_chars(SERIAL_CHARS, 6);
        self.windows_ids(None);
        let tag = if self.chance(670) { Some("HOLO-FIELD") } else { None };
        self.autopilot_ids(tag, 0);
        let version = if self.chance(500) { "10.0.22621.1399" } else { "10.0.22621.1272" };
        let mut rec = self.windows((MICROSOFT, "HoloLens 2", Serial::Other), version, "AzureAd");
        Self::managed(&mut rec, INTUNE);
        rec.ownership = Some("company");
        rec.profile = Some("Contoso HoloLens SD");
        rec.category = Some("Mixed reality");
        rec
    }

    fn hybrid(&mut self) -> Rec {
        let hw = *self.t.hybrid.pick(&mut self.rng);
        let site = self.one(SITES);
        self.scratch.name.push_str(site);
        self.scratch.name.push_str("-WS");
        self.push_digits(4);
        let version = self.windows_version(|t| &t.builds_hybrid);
        let mut rec = self.windows(hw, version, "ServerAd");
        let roll = self.rng.random_range(0..100);
        let shared = (65..70).contains(&roll);
        match roll {
            0..50 | 65..70 => Self::managed(&mut rec, CONFIGMGR), // co-managed
            50..65 => Self::managed(&mut rec, INTUNE),
            _ => {} // domain-joined, not enrolled
        }
        if shared {
            self.windows_ids(None);
            rec.profile_type = Some("Shared");
            rec.category = Some("Shared desktop");
        } else {
            let user = self.person();
            self.windows_ids(Some(&user));
        }
        rec.ownership = Some("company");
        rec.enabled = Some(!self.chance(60));
        if self.chance(300) {
            rec.ext[1] = Some(site);
        }
        rec
    }

    fn cloud_pc(&mut self) -> Rec {
        let user = self.person();
        // CPC-<first five of the mail nickname>-<five random>.
        self.scratch.name.push_str("CPC-");
        let nick: String = user.nick_given.chars().chain(user.surname.chars()).take(5).collect();
        self.scratch.name.push_str(&nick);
        self.scratch.name.push('-');
        self.push_chars(SERIAL_CHARS, 5);
        self.windows_ids(Some(&user));
        let model = *self.t.cloud_models.pick(&mut self.rng);
        let version = self.windows_version(|t| &t.builds_cloud);
        let hybrid = self.chance(300);
        let mut rec = self.windows(
            (MICROSOFT, model, Serial::Other),
            version,
            if hybrid { "ServerAd" } else { "AzureAd" },
        );
        Self::managed(&mut rec, INTUNE);
        rec.enabled = Some(!self.chance(10));
        rec.ownership = Some("company");
        let policy = self.one(CLOUD_PC_POLICIES);
        rec.profile = Some(policy);
        if policy == "CPC-Finance-Policy" && self.chance(500) {
            rec.ext[0] = Some("CC-1045");
        }
        rec.m365_label = self.chance(100);
        rec
    }

    fn entra_joined(&mut self) -> Rec {
        let hw = *if self.chance(800) {
            self.t.laptops.pick(&mut self.rng)
        } else {
            self.t.desktops.pick(&mut self.rng)
        };
        self.desktop_name();
        let user = self.person();
        self.windows_ids(Some(&user));
        let version = self.windows_version(|t| &t.builds_entra);
        let mut rec = self.windows(hw, version, "AzureAd");
        Self::managed(&mut rec, INTUNE);
        rec.enabled = Some(!self.chance(40));
        rec.ownership = Some(if self.chance(333) { "unknown" } else { "company" });
        rec
    }

    fn personal_windows(&mut self) -> Rec {
        let hw = *self.t.consumer.pick(&mut self.rng);
        let user = self.person();
        if self.chance(200) {
            self.scratch.name.push_str(user.given);
            self.scratch.name.push_str(if hw.2 == Serial::Surface { "'s Surface" } else { "'s Laptop" });
        } else {
            self.desktop_name();
        }
        self.windows_ids(Some(&user));
        let version = self.windows_version(|t| &t.builds_personal);
        let mut rec = self.windows(hw, version, "Workplace");
        rec.enabled = Some(!self.chance(50));
        rec.ownership = Some("personal");
        rec.category = Some("BYOD");
        rec
    }

    fn mobile(
        &mut self,
        os: &'static str,
        version: &'static str,
        maker: &'static str,
        model: &'static str,
    ) -> Rec {
        Rec {
            enabled: Some(true),
            rooted: Some(false),
            manufacturer: Some(maker),
            model: Some(model),
            os: Some(os),
            os_version: Some(version),
            profile_type: Some("RegisteredDevice"),
            ..Rec::default()
        }
    }

    fn corporate_iphone(&mut self) -> Rec {
        self.scratch.name.push_str("CON-IPH-");
        self.push_chars(SERIAL_CHARS, 10);
        // Entra reports most as "iOS" but some as "iPhone", depending on
        // how they first registered.
        let os = if self.chance(167) { "iPhone" } else { "iOS" };
        let (version, model) = (self.one(IOS_VERSIONS), self.one(IPHONES));
        let mut rec = self.mobile(os, version, "Apple", model);
        // Mail through Exchange ActiveSync turns MDM into easMdm.
        Self::managed(&mut rec, INTUNE);
        if self.chance(30) {
            rec.management = Some("easMdm");
        }
        rec.trust = Some("AzureAd");
        rec.enabled = Some(!self.chance(30));
        rec.ownership = Some("company");
        rec.profile = Some("DEP iPhones");
        rec.category = Some("Corporate phone");
        rec
    }

    fn personal_iphone(&mut self) -> Rec {
        let user = self.person();
        self.scratch.name.push_str(user.given);
        self.scratch.name.push_str("'s iPhone");
        let os = if self.chance(667) { "iPhone" } else { "iOS" };
        let (version, model) = (self.one(IOS_VERSIONS), self.one(IPHONES));
        let mut rec = self.mobile(os, version, "Apple", model);
        match self.rng.random_range(0..100) {
            0..55 => Self::managed(&mut rec, INTUNE),
            55..75 => {
                Self::managed(&mut rec, INTUNE);
                rec.management = Some("easMdm");
            }
            _ => {} // registered only
        }
        rec.trust = Some("Workplace");
        rec.enabled = Some(!self.chance(50));
        rec.ownership = Some("personal");
        rec.category = Some("BYOD");
        rec
    }

    fn ipad(&mut self) -> Rec {
        self.scratch.name.push_str("CON-IPD-");
        self.push_chars(SERIAL_CHARS, 10);
        let os = if self.chance(750) { "iPad" } else { "iOS" };
        let (version, model) = (self.one(IPADOS_VERSIONS), self.one(IPADS));
        let mut rec = self.mobile(os, version, "Apple", model);
        Self::managed(&mut rec, INTUNE);
        rec.trust = Some("AzureAd");
        rec.enabled = Some(!self.chance(20));
        rec.ownership = Some("company");
        rec.profile = Some("DEP iPads");
        rec.category = Some("Shared tablet");
        rec
    }

    fn mac(&mut self) -> Rec {
        if self.chance(150) {
            let user = self.person();
            self.scratch.name.push_str(user.given);
            self.scratch.name.push_str("'s MacBook Air");
        } else {
            self.scratch.name.push_str("CON-MAC-");
            self.push_chars(SERIAL_CHARS, 10);
        }
        let (version, model) = (self.one(MACOS_VERSIONS), self.one(MACS));
        let mut rec = self.mobile("MacMDM", version, "Apple", model);
        Self::managed(&mut rec, INTUNE);
        rec.trust = Some("AzureAd");
        rec.enabled = Some(!self.chance(20));
        rec.ownership = Some("company");
        rec.profile = Some("Contoso macOS ADE");
        rec
    }

    /// Intune names Android Enterprise devices
    /// `<user>_<flavour>_<M/D/YYYY>_<h:mm AM>`.
    fn android_name(&mut self, user: &Person, flavour: &str) {
        use std::fmt::Write as _;
        let (month, day, year) = (
            self.rng.random_range(1..=12),
            self.rng.random_range(1..=28),
            self.rng.random_range(2023..=2026),
        );
        let (hour, minute) = (self.rng.random_range(1..=12), self.rng.random_range(0..60));
        let half = if self.chance(500) { "AM" } else { "PM" };
        let _ = write!(
            self.scratch.name,
            "{}_{flavour}_{month}/{day}/{year}_{hour}:{minute:02} {half}",
            user.nick_given
        );
    }

    fn android(&mut self, kind: Kind) -> Rec {
        let user = self.person();
        let (maker, model) = self.one(ANDROID_HARDWARE);
        let version = self.one(ANDROID_VERSIONS);
        let enterprise = kind == Kind::AndroidEnterprise;
        let os = if enterprise { "AndroidEnterprise" } else { "AndroidForWork" };
        self.android_name(&user, os);
        let mut rec = self.mobile(os, version, maker, model);
        Self::managed(&mut rec, INTUNE);
        if enterprise {
            rec.trust = Some("AzureAd");
            rec.enabled = Some(!self.chance(20));
            rec.ownership = Some("company");
            rec.profile = Some("Contoso AE Fully Managed");
            rec.category = Some("Corporate phone");
        } else {
            rec.trust = Some("Workplace");
            rec.enabled = Some(!self.chance(40));
            rec.ownership = Some("personal");
            rec.category = Some("BYOD");
            rec.rooted = Some(self.chance(10)); // flagged by compliance
        }
        rec
    }

    fn android_legacy(&mut self) -> Rec {
        // Device-administrator registrations that were never cleaned up.
        let user = self.person();
        self.scratch.name.push_str(user.given);
        self.scratch.name.push_str("'s Android");
        let version = if self.chance(500) { "11" } else { "12" };
        let mut rec = self.mobile("Android", version, "samsung", "SM-G973F");
        rec.trust = Some("Workplace");
        rec.enabled = Some(!self.chance(150));
        rec.ownership = Some("personal");
        rec
    }

    /// Half-registered or orphaned objects: most properties absent, or all
    /// present and null.
    fn sparse(&mut self, id: u128) {
        let os = match self.rng.random_range(0..20) {
            0..12 => {
                if self.chance(500) {
                    self.desktop_name();
                } else {
                    self.scratch.name.push_str("WIN-");
                    self.push_chars(NAME_CHARS, 11);
                }
                Some("Windows")
            }
            12..15 => {
                self.scratch.name.push_str("iPhone");
                Some("iOS")
            }
            15..17 => {
                self.scratch.name.push_str("Galaxy S21");
                Some("AndroidForWork")
            }
            _ => {
                self.scratch.name.push_str("Unknown device");
                None
            }
        };
        let enabled = !self.chance(300);
        let explicit_nulls = self.chance(300);
        let empty_ids = self.chance(500);
        let b = &mut self.buf;
        push_guid_field(b, "{\"id\":", id);
        push_bool(b, "accountEnabled", Some(enabled));
        push_str(b, "displayName", Some(&self.scratch.name));
        push_str(b, "operatingSystem", os);
        if explicit_nulls {
            for key in [
                "deviceId",
                "deviceOwnership",
                "enrollmentProfileName",
                "extensionAttributes",
                "managementType",
                "manufacturer",
                "mdmAppId",
                "model",
                "operatingSystemVersion",
                "profileType",
                "trustType",
            ] {
                push_str(b, key, None);
            }
        }
        if explicit_nulls || empty_ids {
            b.extend_from_slice(b",\"physicalIds\":[],\"systemLabels\":[]");
        }
        b.extend_from_slice(b"}\n");
    }
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

fn write_device(b: &mut Vec<u8>, id: u128, device_id: Option<u128>, rec: &Rec, s: &Scratch) {
    push_guid_field(b, "{\"id\":", id);
    push_bool(b, "accountEnabled", rec.enabled);
    push_str(b, "deviceCategory", rec.category);
    match device_id {
        Some(d) => push_guid_field(b, ",\"deviceId\":", d),
        None => push_str(b, "deviceId", None),
    }
    push_str(b, "deviceOwnership", rec.ownership);
    push_str(b, "displayName", Some(&s.name));
    push_str(b, "enrollmentProfileName", rec.profile);
    if rec.ext.iter().any(Option::is_some) {
        b.extend_from_slice(b",\"extensionAttributes\":{");
        let mut first = true;
        for (slot, value) in EXT_SLOTS.iter().zip(rec.ext) {
            if let Some(value) = value {
                if !first {
                    b.push(b',');
                }
                first = false;
                b.extend_from_slice(b"\"extensionAttribute");
                push_u64(b, u64::from(*slot));
                b.extend_from_slice(b"\":");
                push_json_string(b, value);
            }
        }
        b.push(b'}');
    }
    push_bool(b, "isRooted", rec.rooted);
    push_str(b, "managementType", rec.management);
    push_str(b, "manufacturer", rec.manufacturer);
    push_str(b, "mdmAppId", rec.mdm);
    push_str(b, "model", rec.model);
    push_str(b, "operatingSystem", rec.os);
    push_str(b, "operatingSystemVersion", rec.os_version);
    b.extend_from_slice(b",\"physicalIds\":[");
    for (i, &(start, end)) in s.id_ranges.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        push_json_string(b, s.ids.get(start..end).unwrap_or_default());
    }
    b.push(b']');
    push_str(b, "profileType", rec.profile_type);
    b.extend_from_slice(if rec.m365_label {
        b",\"systemLabels\":[\"M365Managed\"]"
    } else {
        b",\"systemLabels\":[]"
    });
    push_str(b, "trustType", rec.trust);
    b.extend_from_slice(b"}\n");
}

fn push_key(b: &mut Vec<u8>, key: &str) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(b"\":");
}

fn push_str(b: &mut Vec<u8>, key: &str, value: Option<&str>) {
    push_key(b, key);
    match value {
        Some(v) => push_json_string(b, v),
        None => b.extend_from_slice(b"null"),
    }
}

fn push_bool(b: &mut Vec<u8>, key: &str, value: Option<bool>) {
    push_key(b, key);
    b.extend_from_slice(match value {
        Some(true) => b"true",
        Some(false) => b"false",
        None => b"null",
    });
}

fn push_guid_field(b: &mut Vec<u8>, prefix: &str, bits: u128) {
    let mut guid = [0u8; 36];
    b.extend_from_slice(prefix.as_bytes());
    b.push(b'"');
    b.extend_from_slice(format_guid(bits, &mut guid).as_bytes());
    b.push(b'"');
}

fn push_u64(b: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.extend_from_slice(&digits[i..]);
}

/// A JSON string literal: quotes, backslashes and control characters
/// escaped, everything else (including non-ASCII) copied as UTF-8.
fn push_json_string(b: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let escape: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        b.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            b.extend_from_slice(b"\\u00");
            b.push(HEX[usize::from(c >> 4)]);
            b.push(HEX[usize::from(c & 0xf)]);
        } else {
            b.extend_from_slice(escape);
        }
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
    b.push(b'"');
}

/// Formats 128 random bits as a lower-case version-4 GUID.
fn format_guid(bits: u128, out: &mut [u8; 36]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Version 4 in bits 76..80, variant 10 in bits 62..64.
    let v = (bits & !(0xf << 76) & !(0b11 << 62)) | (0x4 << 76) | (0b10 << 62);
    let mut nibble = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
        } else {
            *slot = HEX[((v >> (124 - 4 * nibble)) & 0xf) as usize];
            nibble += 1;
        }
    }
    ascii(out)
}

fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
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
