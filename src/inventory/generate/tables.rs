//! The weight tables: value lists and shares of the mix, and their alias
//! tables built once per fleet.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------
// Value lists
// ---------------------------------------------------------------------------

pub(super) const INTUNE: &str = "0000000a-0000-0000-c000-000000000000";
pub(super) const CONFIGMGR: &str = "54b943f8-d761-4f8d-951e-9cea1846db5a";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) const KINDS: &[(Kind, u32)] = &[
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
pub(super) enum Serial {
    Dell,
    HpLaptop,
    HpDesktop,
    Lenovo,
    Surface,
    Other,
}

/// (manufacturer, model, serial format)
pub(super) type Hardware = (&'static str, &'static str, Serial);

pub(super) const HP: &str = "HP";
pub(super) const HP_OLD: &str = "Hewlett-Packard";
pub(super) const DELL: &str = "Dell Inc.";
pub(super) const LENOVO: &str = "LENOVO";
pub(super) const MICROSOFT: &str = "Microsoft Corporation";

/// Business laptops. Lenovo reports machine-type codes as the model, and
/// newer BIOSes spell the maker "Lenovo".
pub(super) const LAPTOPS: &[(Hardware, u32)] = &[
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
pub(super) const DESKTOPS: &[(Hardware, u32)] = &[
    ((DELL, "OptiPlex 7010", Serial::Dell), 10),
    ((DELL, "Precision 3660", Serial::Dell), 4),
    ((HP, "HP Elite Mini 800 G9 Desktop PC", Serial::HpDesktop), 8),
    ((HP, "HP EliteDesk 800 G6 Desktop Mini PC", Serial::HpDesktop), 4),
    ((HP_OLD, "HP EliteDesk 800 G2 SFF", Serial::HpDesktop), 2),
    ((LENOVO, "11T40026GE", Serial::Lenovo), 5),
    ((LENOVO, "11MY002WUS", Serial::Lenovo), 3),
];

/// Domain-joined PCs: older desktops and laptops, a few virtual machines.
pub(super) const HYBRID_HARDWARE: &[(Hardware, u32)] = &[
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
pub(super) const CONSUMER_HARDWARE: &[(Hardware, u32)] = &[
    ((MICROSOFT, "Surface Pro 9", Serial::Surface), 3),
    ((HP, "HP Pavilion Laptop 15-eg3xxx", Serial::HpLaptop), 3),
    (("ASUSTeK COMPUTER INC.", "ROG Strix G16 G614JV", Serial::Other), 2),
    ((DELL, "Inspiron 16 5630", Serial::Dell), 3),
    ((LENOVO, "82XV", Serial::Lenovo), 3),
    (("Acer", "Aspire 5 A515-58M", Serial::Other), 1),
];

/// Windows feature updates; each has five monthly patch levels.
pub(super) const WIN10_22H2: &[&str] =
    &["10.0.19045.5487", "10.0.19045.5371", "10.0.19045.5247", "10.0.19045.5131", "10.0.19045.4894"];
pub(super) const WIN11_23H2: &[&str] =
    &["10.0.22631.4890", "10.0.22631.4751", "10.0.22631.4602", "10.0.22631.4460", "10.0.22631.4317"];
pub(super) const WIN11_24H2: &[&str] =
    &["10.0.26100.3194", "10.0.26100.3037", "10.0.26100.2894", "10.0.26100.2605", "10.0.26100.2314"];
pub(super) const BUILDS: [&[&str]; 3] = [WIN10_22H2, WIN11_23H2, WIN11_24H2];

/// Build shares (22H2, 23H2, 24H2) per population.
pub(super) const BUILDS_AUTOPILOT: &[(usize, u32)] = &[(0, 8), (1, 40), (2, 52)];
pub(super) const BUILDS_HYBRID: &[(usize, u32)] = &[(0, 50), (1, 38), (2, 12)];
pub(super) const BUILDS_ENTRA: &[(usize, u32)] = &[(0, 30), (1, 45), (2, 25)];
pub(super) const BUILDS_PERSONAL: &[(usize, u32)] = &[(0, 15), (1, 35), (2, 50)];
pub(super) const BUILDS_CLOUD: &[(usize, u32)] = &[(1, 35), (2, 65)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    Laptop,
    Desktop,
}

/// Autopilot group tags: (tag, form factor, department).
pub(super) const TAGS: &[((&str, Form, Dept), u32)] = &[
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
pub(super) enum Dept {
    Fin,
    Hr,
    Eng,
    Sales,
    Ops,
    It,
}

impl Dept {
    pub(super) fn cost_centre(self) -> &'static str {
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
pub(super) const PURCHASE_ORDERS: &[(&str, u32)] = &[
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
pub(super) const ZTD_PREFIXES: &[(&str, u32)] = &[("[ZTDID]", 6), ("[ZTDId]", 5), ("[ZTDid]", 1)];

pub(super) const SITES: &[&str] = &["NLAMS", "NLUTR", "USSEA", "USNYC", "UKLON", "UKMAN", "DEFRA", "TRIST"];

pub(super) const CLOUD_PC_MODELS: &[(&str, u32)] = &[
    ("Cloud PC Enterprise 2vCPU/8GB/128GB", 5),
    ("Cloud PC Enterprise 4vCPU/16GB/256GB", 3),
    ("Cloud PC Enterprise 2vCPU/4GB/64GB", 2),
    ("Cloud PC Enterprise 8vCPU/32GB/512GB", 1),
];
pub(super) const CLOUD_PC_POLICIES: &[&str] =
    &["CPC-Finance-Policy", "CPC-Engineering-Policy", "CPC-Contractors-Policy"];

pub(super) const IPHONES: &[&str] =
    &["iPhone 15", "iPhone 15", "iPhone 14", "iPhone 13", "iPhone 15 Pro", "iPhone 16"];
pub(super) const IOS_VERSIONS: &[&str] = &["17.6.1", "18.1.1", "18.3.2", "18.3.2", "18.5"];
pub(super) const IPADS: &[&str] =
    &["iPad Air", "iPad Air", "iPad (10th generation)", "iPad Pro 11-inch (M4)"];
pub(super) const IPADOS_VERSIONS: &[&str] = &["17.7.2", "18.3.1", "18.5"];
pub(super) const MACS: &[&str] =
    &["MacBookPro18,3", "MacBookAir10,1", "Mac14,2", "Mac15,12", "MacBookPro18,3"];
pub(super) const MACOS_VERSIONS: &[&str] = &["14.7.4", "15.3.1", "15.3.1", "15.5"];
pub(super) const ANDROID_HARDWARE: &[(&str, &str)] = &[
    ("samsung", "SM-G991B"),
    ("samsung", "SM-A546B"),
    ("samsung", "SM-S921B"),
    ("samsung", "SM-A546B"),
    ("Google", "Pixel 8"),
    ("Zebra Technologies", "TC52"),
];
pub(super) const ANDROID_VERSIONS: &[&str] = &["13", "14", "14", "15"];

/// First names as displayed, and as they appear in mail nicknames.
pub(super) const GIVEN_NAMES: &[(&str, &str)] = &[
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
pub(super) const SURNAMES: &[&str] = &[
    "okafor", "devries", "bakker", "chen", "thompson", "hughes", "patel", "jansen", "vandijk", "visser",
    "weiss", "smit", "mulder", "raman", "johnson", "watanabe", "garcia", "schmidt", "brooks", "martin",
    "kim", "clarke", "evans", "nowak", "yilmaz", "demir", "williams", "haddad", "oconnor", "deboer",
    "carter", "muller",
];

/// Vendors leave I and O out of serials.
pub(super) const SERIAL_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
pub(super) const NAME_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// ---------------------------------------------------------------------------
// Weighted tables
// ---------------------------------------------------------------------------

/// A fixed list with weights, sampled in O(1) by the alias method.
pub(super) struct Weighted<T: 'static> {
    pub(super) items: &'static [(T, u32)],
    pub(super) index: WeightedAliasIndex<u32>,
}

impl<T> Weighted<T> {
    pub(super) fn new(items: &'static [(T, u32)]) -> io::Result<Self> {
        let index = WeightedAliasIndex::new(items.iter().map(|(_, w)| *w).collect())
            .map_err(|e| io::Error::other(format!("weight table: {e}")))?;
        Ok(Weighted { items, index })
    }

    pub(super) fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> &T {
        &self.items[self.index.sample(rng)].0
    }
}

/// Every weighted table, built once per run and shared by all chunks.
pub(super) struct Tables {
    pub(super) kinds: Weighted<Kind>,
    pub(super) laptops: Weighted<Hardware>,
    pub(super) desktops: Weighted<Hardware>,
    pub(super) hybrid: Weighted<Hardware>,
    pub(super) consumer: Weighted<Hardware>,
    pub(super) tags: Weighted<(&'static str, Form, Dept)>,
    pub(super) orders: Weighted<&'static str>,
    pub(super) ztd: Weighted<&'static str>,
    pub(super) cloud_models: Weighted<&'static str>,
    pub(super) builds_autopilot: Weighted<usize>,
    pub(super) builds_hybrid: Weighted<usize>,
    pub(super) builds_entra: Weighted<usize>,
    pub(super) builds_personal: Weighted<usize>,
    pub(super) builds_cloud: Weighted<usize>,
}

impl Tables {
    pub(super) fn new() -> io::Result<Self> {
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
