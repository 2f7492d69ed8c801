//! The per-kind builders: one device of each kind of the mix, drawn from the
//! chunk's generator.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------
// One device
// ---------------------------------------------------------------------------

/// The fixed-vocabulary properties of one device; free-text ones (name,
/// version, physicalIds) live in [`Scratch`].
#[derive(Default)]
pub(super) struct Rec {
    pub(super) enabled: Option<bool>,
    pub(super) category: Option<&'static str>,
    pub(super) ownership: Option<&'static str>,
    pub(super) profile: Option<&'static str>,
    pub(super) ext: [Option<&'static str>; 3],
    pub(super) rooted: Option<bool>,
    pub(super) management: Option<&'static str>,
    pub(super) manufacturer: Option<&'static str>,
    pub(super) mdm: Option<&'static str>,
    pub(super) model: Option<&'static str>,
    pub(super) os: Option<&'static str>,
    pub(super) os_version: Option<&'static str>,
    pub(super) profile_type: Option<&'static str>,
    pub(super) m365_label: bool,
    pub(super) trust: Option<&'static str>,
}

/// Extension-attribute slots `Rec::ext` fills, in order.
pub(super) const EXT_SLOTS: [u8; 3] = [1, 2, 15];

/// Reused per-device buffers, so rendering a chunk allocates almost nothing.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) name: String,
    pub(super) ids: String,
    /// Byte ranges of the physicalIds in `ids`, shuffled before writing.
    pub(super) id_ranges: Vec<(usize, usize)>,
}

impl Scratch {
    pub(super) fn push_id(&mut self, parts: &[&str]) {
        let start = self.ids.len();
        for p in parts {
            self.ids.push_str(p);
        }
        self.id_ranges.push((start, self.ids.len()));
    }
}

/// An owner, derived from the user number alone.
pub(super) struct Person {
    pub(super) id: u128,
    pub(super) given: &'static str,
    pub(super) nick_given: &'static str,
    pub(super) surname: &'static str,
}

pub(super) struct Chunk<'a> {
    pub(super) rng: Pcg64,
    pub(super) t: &'a Tables,
    pub(super) seed: u64,
    pub(super) users: u64,
    pub(super) scratch: Scratch,
    pub(super) buf: Vec<u8>,
}

pub(super) fn render_chunk(spec: &FleetSpec, t: &Tables, chunk: u64, index: u64) -> Vec<u8> {
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
    pub(super) fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.random_range(0..1000) < per_mille
    }

    pub(super) fn one<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    pub(super) fn person(&mut self) -> Person {
        let k = self.rng.random_range(0..self.users);
        let id = user_bits(self.seed, k);
        let h = splitmix64(id as u64);
        let (given, nick_given) = GIVEN_NAMES[(h % GIVEN_NAMES.len() as u64) as usize];
        let surname = SURNAMES[((h >> 32) % SURNAMES.len() as u64) as usize];
        Person { id, given, nick_given, surname }
    }

    pub(super) fn windows_version(&mut self, builds: fn(&Tables) -> &Weighted<usize>) -> &'static str {
        let build = *builds(self.t).pick(&mut self.rng);
        self.one(BUILDS[build])
    }

    pub(super) fn device(&mut self) {
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

    pub(super) fn push_chars(&mut self, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            let c = alphabet[self.rng.random_range(0..alphabet.len())];
            self.scratch.name.push(char::from(c));
        }
    }

    pub(super) fn push_digits(&mut self, n: usize) {
        for i in 0..n {
            let d = if i == 0 { self.rng.random_range(1..10u8) } else { self.rng.random_range(0..10u8) };
            self.scratch.name.push(char::from(b'0' + d));
        }
    }

    pub(super) fn push_serial(&mut self, kind: Serial) {
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
    pub(super) fn template_name(&mut self, prefix: &str, serial: Serial) {
        self.scratch.name.push_str(prefix);
        self.push_serial(serial);
        self.scratch.name.truncate(15);
    }

    pub(super) fn desktop_name(&mut self) {
        self.scratch.name.push_str("DESKTOP-");
        self.push_chars(NAME_CHARS, 7);
    }

    /// A 16-digit number that does not start with 0, as in HWID/GID ids.
    pub(super) fn digits16(&mut self) -> [u8; 16] {
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
    pub(super) fn windows_ids(&mut self, user: Option<&Person>) {
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

    pub(super) fn autopilot_ids(&mut self, tag: Option<&str>, order_per_mille: u32) {
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

    pub(super) fn windows(&mut self, hw: Hardware, version: &'static str, trust: &'static str) -> Rec {
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

    pub(super) fn managed(rec: &mut Rec, mdm: &'static str) {
        rec.management = Some("MDM");
        rec.mdm = Some(mdm);
    }

    // --- kinds ----------------------------------------------------------

    pub(super) fn autopilot_tagged(&mut self) -> Rec {
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

    pub(super) fn autopilot_untagged(&mut self) -> Rec {
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

    pub(super) fn kiosk(&mut self) -> Rec {
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

    pub(super) fn hololens(&mut self) -> Rec {
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

    pub(super) fn hybrid(&mut self) -> Rec {
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

    pub(super) fn cloud_pc(&mut self) -> Rec {
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

    pub(super) fn entra_joined(&mut self) -> Rec {
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

    pub(super) fn personal_windows(&mut self) -> Rec {
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

    pub(super) fn mobile(
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

    pub(super) fn corporate_iphone(&mut self) -> Rec {
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

    pub(super) fn personal_iphone(&mut self) -> Rec {
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

    pub(super) fn ipad(&mut self) -> Rec {
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

    pub(super) fn mac(&mut self) -> Rec {
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
    pub(super) fn android_name(&mut self, user: &Person, flavour: &str) {
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

    pub(super) fn android(&mut self, kind: Kind) -> Rec {
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

    pub(super) fn android_legacy(&mut self) -> Rec {
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
    pub(super) fn sparse(&mut self, id: u128) {
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
