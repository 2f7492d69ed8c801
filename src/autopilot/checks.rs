//! The validation rules, as data: a stable code, a severity, what the rule
//! enforces and the document it comes from.
//!
//! Codes are kebab-case and stable (scripts and CI gates match on them;
//! never rename one). Every check in [`CATALOGUE`] has a test that
//! triggers it and one that shows it silent on a valid neighbour
//! (`tests/it/autopilot_checks.rs`), and a test fails when a code is added
//! here without them.
//!
//! Severity: **error** for what Intune rejects or what makes the device
//! fail to deploy; **warning** for what is accepted but has no effect,
//! is undocumented, or is a known trap.

use std::fmt;

use serde::Serialize;

use crate::autopilot::source::{Location, Origin};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Intune would reject it, or deployment would fail: `lint` exits 1.
    Error,
    /// Accepted but ineffective, undocumented or risky.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One validation rule.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable kebab-case code.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What the rule enforces, in one sentence.
    pub summary: &'static str,
    /// The document and section it comes from (files of `../shared/spec/`,
    /// with the source keys those files cite).
    pub source: &'static str,
}

/// A rule broken by a tenant file, a profile or an edit.
///
/// ```
/// use fleetlab::autopilot::{checks, Finding, Severity};
/// let f = Finding::detached(&checks::NAME_TEMPLATE_TOO_LONG, "profile[0].device_name_template", "20 > 15");
/// assert_eq!(f.severity, Severity::Error);
/// assert_eq!(f.code, "name-template-too-long");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's code.
    pub code: &'static str,
    /// The check's severity.
    pub severity: Severity,
    /// What is wrong, naming the object and the values involved.
    pub message: String,
    /// The key blamed, as written (`profile[2].pre_provisioning`).
    pub path: String,
    /// Where that key stands, when the object came from a file.
    pub location: Option<Location>,
    /// The check's source document.
    pub source: &'static str,
}

impl Finding {
    /// A finding about key `key` of the object at `origin`.
    pub(crate) fn new(
        check: &'static Check,
        origin: &Origin,
        key: &str,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            code: check.code,
            severity: check.severity,
            message: message.into(),
            path: origin.path(key),
            location: origin.location(key),
            source: check.source,
        }
    }

    /// A finding with an explicit location.
    pub(crate) fn located(
        check: &'static Check,
        path: String,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            code: check.code,
            severity: check.severity,
            message: message.into(),
            path,
            location,
            source: check.source,
        }
    }

    /// A finding with no file behind it.
    pub fn detached(check: &'static Check, path: &str, message: impl Into<String>) -> Finding {
        Finding::located(check, path.to_string(), None, message)
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: {}[{}]: {}", self.severity, self.code, self.message),
            None => write!(f, "{}: {}[{}]: {}", self.path, self.severity, self.code, self.message),
        }
    }
}

/// Sorts findings by file, position, then code, and drops exact repeats.
pub(crate) fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        let key =
            |f: &Finding| f.location.as_ref().map(|l| (l.file.clone(), l.line, l.column)).unwrap_or_default();
        key(a).cmp(&key(b)).then_with(|| a.path.cmp(&b.path)).then_with(|| a.code.cmp(b.code))
    });
    findings.dedup();
}

macro_rules! checks {
    ($($name:ident = $code:literal, $sev:ident, $summary:literal, $source:literal;)*) => {
        $(
            #[doc = $summary]
            #[doc = ""]
            #[doc = concat!("Source: `", $source, "`.")]
            // Summaries name tenant-file tables as `[esp]`, not as doc links.
            #[allow(rustdoc::broken_intra_doc_links)]
            pub const $name: Check =
                Check { code: $code, severity: Severity::$sev, summary: $summary, source: $source };
        )*
        /// Every check, in documentation order.
        pub const CATALOGUE: &[&Check] = &[$(&$name),*];
    };
}

checks! {
    // Profile fields
    DISPLAY_NAME_REQUIRED = "display-name-required", Error,
        "A profile needs a display name.",
        "autopilot-profiles.md, Profile settings; graph-api.md §4.2 [GD-beta-prof-aad]";
    DISPLAY_NAME_TOO_LONG = "display-name-too-long", Error,
        "A profile display name has at most 200 characters.",
        "graph-api.md §1.2.1, §4.2 [GD-beta-prof-aad]";
    DISPLAY_NAME_CHARACTERS = "display-name-characters", Warning,
        "Profile display names avoid ! # % ^ * ) ( + ; ' > <, which some tools reject (undocumented service rule).",
        "graph-api.md §4.2 [TF][IM]";
    DISPLAY_NAME_OFFLINE_PREFIX = "display-name-offline-prefix", Warning,
        "No profile is named OfflineAutopilotprofile-…, the name offline configuration files report.",
        "graph-api.md §1.7, §4.4";
    DESCRIPTION_TOO_LONG = "description-too-long", Error,
        "A profile description has at most 1,500 characters.",
        "graph-api.md §1.2.1, §4.2 [GD-beta-prof-aad]";
    // Device type, join, mode
    HOLOLENS_SELF_DEPLOYING = "hololens-self-deploying", Error,
        "A HoloLens profile uses self-deploying mode (the mode a HoloLens profile without one gets).",
        "autopilot-profiles.md, Profile settings (HoloLens ⇒ Self-deploying); Microsoft Learn, Windows Autopilot for HoloLens 2 (learn.microsoft.com/hololens/hololens2-autopilot): \"HoloLens 2 supports Windows Autopilot Self-Deploying Mode\", the HoloLens profile offering no mode; graph-api.md §4.2 [TF][MD-enrollment]; enrollment-model.md §1.9";
    HOLOLENS_ENTRA_JOIN = "hololens-entra-join", Error,
        "A HoloLens profile joins Microsoft Entra ID (no hybrid join).",
        "graph-api.md §4.2 [TF][MD-enrollment]; enrollment-model.md §1.9";
    HOLOLENS_PRE_PROVISIONING = "hololens-pre-provisioning", Error,
        "A HoloLens profile does not allow pre-provisioning.",
        "graph-api.md §4.2 [TF][MD-enrollment]";
    HOLOLENS_CONVERT_DEVICES = "hololens-convert-devices", Error,
        "A HoloLens profile does not convert targeted devices (no hardware hash extraction).",
        "graph-api.md §4.2 [TF]; enrollment-model.md §1.9";
    HYBRID_SELF_DEPLOYING = "hybrid-self-deploying", Error,
        "Self-deploying mode joins Microsoft Entra ID only, never hybrid.",
        "enrollment-model.md §1.6 [MD-sd]";
    PRE_PROVISIONING_SELF_DEPLOYING = "pre-provisioning-self-deploying", Error,
        "Pre-provisioning is not available with self-deploying mode.",
        "autopilot-profiles.md, Profile settings";
    ATTESTATION_VIRTUAL_MACHINE = "attestation-virtual-machine", Error,
        "Self-deploying and pre-provisioning need TPM 2.0 attestation, which virtual machines cannot do.",
        "enrollment-model.md §1.6, §1.7 [MD-sd][MD-pp]";
    // OOBE settings
    LICENSE_TERMS_USER_DRIVEN = "license-terms-user-driven", Error,
        "Licence terms can be shown only in user-driven mode (self-deploying hides them; stating hide is fine).",
        "autopilot-profiles.md, Profile settings";
    PRIVACY_SETTINGS_USER_DRIVEN = "privacy-settings-user-driven", Error,
        "Privacy settings can be shown only in user-driven mode (self-deploying hides them; stating hide is fine).",
        "autopilot-profiles.md, Profile settings";
    CHANGE_ACCOUNT_OPTIONS_STANDARD_USER = "change-account-options-standard-user", Error,
        "Change account options can be shown or hidden only in user-driven mode with a standard user account.",
        "autopilot-profiles.md, Profile settings";
    AUTOMATIC_KEYBOARD_LANGUAGE = "automatic-keyboard-language", Warning,
        "Automatically configure keyboard applies only when a language is selected (neither the OS default nor user-select).",
        "Microsoft Learn, Configure Autopilot profiles (learn.microsoft.com/autopilot/profiles): \"If a Language (Region) is selected, choose Yes to skip the keyboard selection page\"; autopilot-profiles.md, Profile settings";
    LOCALE_FORMAT = "locale-format", Warning,
        "The language is os-default, user-select or a language tag such as en-US or sr-Latn-RS.",
        "graph-api.md §4.2, §8 question 3 [TF]";
    SKIP_CONNECTIVITY_CHECK_ENTRA = "skip-connectivity-check-entra", Error,
        "Skip domain connectivity check exists only on hybrid join profiles.",
        "graph-api.md §1.2, §4.2 [GD-beta-prof-ad][TF]";
    // Device name template
    NAME_TEMPLATE_HYBRID = "name-template-hybrid", Error,
        "Hybrid join profiles take no device name template (the domain join profile names devices).",
        "graph-api.md §4.1 [MD-profiles][TF]";
    NAME_TEMPLATE_CHARACTER = "name-template-character", Error,
        "Device names use only letters, digits and hyphens.",
        "graph-api.md §4.1 [MD-profiles][AccountsCSP]";
    NAME_TEMPLATE_MACRO = "name-template-macro", Error,
        "The only macros are %SERIAL% and %RAND:n% with n ≥ 1.",
        "graph-api.md §4.1 [MD-profiles]; Microsoft Learn, Configure Autopilot profiles (learn.microsoft.com/autopilot/profiles), Apply device name template";
    NAME_TEMPLATE_MACRO_CASE = "name-template-macro-case", Warning,
        "Macros are documented in upper case (%SERIAL%, %RAND:n%); other casings are undocumented.",
        "Microsoft Learn, Configure Autopilot profiles (learn.microsoft.com/autopilot/profiles) and Accounts CSP write the macros in upper case and say nothing of other casings";
    NAME_TEMPLATE_TOO_LONG = "name-template-too-long", Error,
        "An expanded device name has at most 15 characters, leaving room for at least one serial character.",
        "graph-api.md §4.1 [MD-profiles][AccountsCSP]";
    NAME_TEMPLATE_ALL_DIGITS = "name-template-all-digits", Error,
        "A device name is not all digits.",
        "graph-api.md §4.1 [MD-profiles][AccountsCSP]";
    NAME_TEMPLATE_SERIAL_DIGITS = "name-template-serial-digits", Warning,
        "A template of only %SERIAL% and digits gives all-digit names for all-digit serials (Surface serials are).",
        "graph-api.md §4.1";
    NAME_TEMPLATE_SERIAL_TRUNCATED = "name-template-serial-truncated", Warning,
        "Serials longer than the room the template leaves are truncated from the left.",
        "graph-api.md §4.1 [MD-profiles]";
    NAME_TEMPLATE_MULTIPLE_SERIAL = "name-template-multiple-serial", Warning,
        "More than one %SERIAL% is undocumented.",
        "graph-api.md §4.1 (inference)";
    // Enrollment Status Page and apps
    ESP_BLOCKING_APPS_LIMIT = "esp-blocking-apps-limit", Error,
        "An Enrollment Status Page blocks on at most 100 selected apps.",
        "enrollment-model.md §1.3, §3.6 [MD-esp]";
    ESP_BLOCKING_APP_UNKNOWN = "esp-blocking-app-unknown", Error,
        "Every blocking app of an Enrollment Status Page is one of the tenant's required apps.",
        "enrollment-model.md §2.2 [G-esp]";
    ESP_QUALITY_UPDATES_BLOCKING = "esp-quality-updates-blocking", Warning,
        "Installing Windows quality updates during OOBE takes effect only when device use is blocked until apps install.",
        "enrollment-model.md §1.3 [MD-esp]";
    APP_MSI_WIN32_MIX = "app-msi-win32-mix", Warning,
        "Device-targeted MSI line-of-business and Win32 apps collide during the ESP (TrustedInstaller).",
        "enrollment-model.md §1.3 [MD-esp]";
    DUPLICATE_APP_NAME = "duplicate-app-name", Error,
        "App names are unique in a tenant file (ESP blocking lists refer to them).",
        "fleetlab tenant file format";
    PRE_PROVISIONING_ESP = "pre-provisioning-esp", Warning,
        "A profile that allows pre-provisioning has an Enrollment Status Page targeted to its devices (a profile esp or the tenant [esp], showing progress).",
        "Microsoft Learn, Windows Autopilot for pre-provisioned deployment (learn.microsoft.com/autopilot/pre-provision), Prerequisites: \"An enrollment status page (ESP) profile must be targeted to the device\"";
    // Tenant
    PROFILE_LIMIT = "profile-limit", Error,
        "A tenant has at most 350 Autopilot profiles.",
        "graph-api.md §4.2 [MD-profiles]; enrollment-model.md §1.1";
    DUPLICATE_PROFILE_NAME = "duplicate-profile-name", Error,
        "Profile display names are unique (tools key profiles by display name).",
        "graph-api.md §5.3 [DSC]; fleetlab tenant file format";
    DUPLICATE_GROUP_NAME = "duplicate-group-name", Error,
        "Group names are unique, compared case-insensitively (assignments refer to groups by name).",
        "fleetlab tenant file format";
    ALL_DEVICES_MULTIPLE = "all-devices-multiple", Error,
        "At most one profile is assigned to all devices.",
        "autopilot-profiles.md, Profile settings; graph-api.md §4.3 [CIPP#2803]";
    ALL_DEVICES_EXCLUSION = "all-devices-exclusion", Error,
        "A profile assigned to all devices has no excluded groups.",
        "graph-api.md §4.3 [MD-profiles]";
    ASSIGNMENT_UNKNOWN_GROUP = "assignment-unknown-group", Error,
        "Every assigned or excluded group is defined in the tenant.",
        "graph-api.md §1.3, §4.3";
    ASSIGNMENT_INCLUDE_EXCLUDE = "assignment-include-exclude", Warning,
        "A group both included and excluded by one profile is dead weight: the exclusion wins.",
        "graph-api.md §4.3 (inference)";
    GROUP_RULE_INVALID = "group-rule-invalid", Error,
        "A group's rule is a valid dynamic device membership rule.",
        "rule-language.md; graph-api.md §4.4 [Entra-dyn]";
    GROUP_MEMBERSHIP = "group-membership", Error,
        "A group is dynamic (a rule) or assigned (a members list of device ids), exactly one of the two.",
        "autopilot-profiles.md, Entra device groups (static or dynamic); Microsoft Learn, Windows Autopilot for HoloLens 2, Create a device group (Membership type Assigned or Dynamic Device); fleetlab tenant file format";
    GROUP_MEMBER_OF_CHAIN = "group-member-of-chain", Error,
        "A memberOf rule's source groups are not memberOf groups themselves (nor the group itself).",
        "rule-language.md §6.4 [S6]: \"a memberOf group cannot feed another memberOf group\" (Microsoft Learn, Create a group of groups with memberOf, learn.microsoft.com/entra/identity/users/groups-dynamic-rule-member-of)";
    GROUP_RULE_WARNING = "group-rule-warning", Warning,
        "The rule checker's warnings about a group's rule.",
        "rule-language.md";
    GROUP_NO_AUTOPILOT_ATTRIBUTE = "group-no-autopilot-attribute", Warning,
        "A group that drives a profile selects devices by devicePhysicalIds or enrollmentProfileName.",
        "graph-api.md §4.4 [IntuneDocs#2919]";
    GROUP_UNKNOWN_PROFILE_NAME = "group-unknown-profile-name", Warning,
        "A rule on enrollmentProfileName names a profile of the tenant.",
        "graph-api.md §1.7, §4.4";
    ENROLLMENT_USER_MISSING = "enrollment-user-missing", Warning,
        "A tenant whose MDM needs a placeholder enrollment user ([tenant] placeholder_enrollment_user) and has self-deploying profiles describes that user.",
        "autopilot-profiles.md, Prerequisites (the vendor console's requirement; Intune has none)";
    ENROLLMENT_USER_PREREQUISITE = "enrollment-user-prerequisite", Error,
        "The placeholder enrollment user is the one [tenant] names, at the primary domain, synced with an email, enabled, allowed to enroll and present in the MDM.",
        "autopilot-profiles.md, Prerequisites (the vendor console's requirement; Intune has none)";
    ENROLLMENT_USER_UNCONFIRMED = "enrollment-user-unconfirmed", Warning,
        "Every prerequisite of the placeholder enrollment user is stated.",
        "autopilot-profiles.md, Prerequisites (the vendor console's requirement; Intune has none)";
    // Graph JSON
    GRAPH_DEPRECATED_CONFLICT = "graph-deprecated-conflict", Warning,
        "A Graph profile's deprecated and new property names agree; the new one is used.",
        "graph-api.md §1.2.2";
    // Device edits
    EDIT_UNKNOWN_DEVICE = "edit-unknown-device", Error,
        "An edit names a device of the inventory.",
        "graph-api.md §1.1, §1.7";
    EDIT_AMBIGUOUS_DEVICE = "edit-ambiguous-device", Error,
        "An edit names one device only (display names can repeat).",
        "graph-api.md §1.1, §1.7";
    EDIT_NOT_REGISTERED = "edit-not-registered", Error,
        "Only devices registered with Autopilot (a `[ZTDId]` item in physicalIds) have Autopilot properties to edit.",
        "graph-api.md §0, §1.1";
    EDIT_DUPLICATE_DEVICE = "edit-duplicate-device", Error,
        "Each device is edited or deleted once per change set.",
        "fleetlab edit file format";
    EDIT_EMPTY = "edit-empty", Warning,
        "An edit changes at least one property.",
        "graph-api.md §5.4 [TF]";
    EDIT_FRIENDLY_NAME_WITHOUT_USER = "edit-friendly-name-without-user", Error,
        "A user-friendly name is set only together with a user.",
        "autopilot-profiles.md, Editing; graph-api.md §4.4 [TF]";
    EDIT_DEVICE_NAME_UNSET = "edit-device-name-unset", Error,
        "A device name cannot be unset once set.",
        "autopilot-profiles.md, Editing";
    EDIT_DEVICE_NAME_INVALID = "edit-device-name-invalid", Error,
        "A device name has at most 15 letters, digits and hyphens, not all digits, and no macros.",
        "graph-api.md §1.1, §4.1, F5";
    EDIT_DEVICE_NAME_HYBRID = "edit-device-name-hybrid", Warning,
        "A per-device name is ignored on hybrid join.",
        "graph-api.md §4.1";
    DELETE_ENROLLED_DEVICE = "delete-enrolled-device", Error,
        "The Autopilot record of a device still enrolled in Intune is not deleted: the managed device is deleted first.",
        "Microsoft Learn, Manually register devices with Windows Autopilot (learn.microsoft.com/autopilot/add-devices), Delete Autopilot devices: \"You can delete Windows Autopilot devices that aren't enrolled in Intune\"; \"If the devices are enrolled in Intune, delete them from the Intune All devices pane\" first";
    EDIT_GROUP_TAG_CONTROL = "edit-group-tag-control", Error,
        "A group tag has no control characters.",
        "graph-api.md §4.4";
    EDIT_GROUP_TAG_QUOTE = "edit-group-tag-quote", Warning,
        "A group tag avoids quotes and backticks, which rules must escape.",
        "graph-api.md §4.4";
    EDIT_GROUP_TAG_WHITESPACE = "edit-group-tag-whitespace", Warning,
        "A group tag has no leading or trailing spaces (they are trimmed).",
        "graph-api.md §4.4";
    EDIT_USER_UPN = "edit-user-upn", Error,
        "An assigned user is a user principal name (name@domain).",
        "graph-api.md §4.4 [MD-add-devices]";
    EDIT_USER_HYBRID = "edit-user-hybrid", Error,
        "Assigning a user is not supported with hybrid join (0x80070774).",
        "enrollment-model.md §1.5 [SA-enrerr]";
    EDIT_USER_SELF_DEPLOYING = "edit-user-self-deploying", Warning,
        "Self-deploying mode ignores the assigned user.",
        "enrollment-model.md §1.6 [MD-sd]";
}

/// The check with code `code`.
pub fn by_code(code: &str) -> Option<&'static Check> {
    CATALOGUE.iter().copied().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            assert!(
                a.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                a.code
            );
            assert!(CATALOGUE[..i].iter().all(|b| b.code != a.code), "{} twice", a.code);
            assert!(!a.source.is_empty() && a.summary.ends_with('.'), "{}", a.code);
        }
        assert_eq!(by_code("hololens-self-deploying"), Some(&HOLOLENS_SELF_DEPLOYING));
    }
}
