//! The properties a membership rule may read: name, type, and the Graph
//! field that holds the value (spec §2).
//!
//! Properties are enums, not strings, so that an embedding service matches
//! on them exhaustively in its [`crate::rule::Record`] implementation and
//! the compiler tells it when fleetlab learns a new one. Names are looked up
//! case-insensitively (the docs' own examples disagree on casing); the
//! canonical casing is what the printer writes.

use std::fmt;

use crate::rule::ast::{ObjectType, Operator};

/// The value type of a property, which fixes the operators it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// A single string (the common case).
    String,
    /// `true`/`false`.
    Bool,
    /// An ISO-8601 instant (`employeeHireDate`).
    DateTime,
    /// A collection of strings (`devicePhysicalIds`, `proxyAddresses`, …).
    StringCollection,
    /// `assignedPlans`: objects with `capabilityStatus`, `service`, `servicePlanId`.
    PlanCollection,
    /// `memberOf`: ids of the groups the object is a direct member of.
    GroupCollection,
}

impl PropertyType {
    /// The type in words, for diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Bool => "boolean",
            PropertyType::DateTime => "date-time",
            PropertyType::StringCollection => "string collection",
            PropertyType::PlanCollection => "collection of service plans",
            PropertyType::GroupCollection => "group membership collection",
        }
    }

    /// True for the types `-any`/`-all` apply to.
    pub fn is_collection(self) -> bool {
        matches!(
            self,
            PropertyType::StringCollection | PropertyType::PlanCollection | PropertyType::GroupCollection
        )
    }

    /// Whether `op` may compare a value of this type. String collections
    /// take every string operator as an implicit `-any` (the legacy form).
    pub fn allows(self, op: Operator) -> bool {
        match self {
            PropertyType::String | PropertyType::StringCollection => {
                !matches!(op, Operator::Le | Operator::Ge | Operator::NotAsComparison)
            }
            PropertyType::Bool => matches!(op, Operator::Eq | Operator::Ne),
            PropertyType::DateTime => {
                matches!(op, Operator::Eq | Operator::Ne | Operator::Le | Operator::Ge)
            }
            PropertyType::PlanCollection | PropertyType::GroupCollection => false,
        }
    }

    /// The operators this type accepts, for hints.
    pub fn allowed_list(self) -> String {
        if self.is_collection() && self != PropertyType::StringCollection {
            return "-any, -all".to_string();
        }
        let ops: Vec<&str> =
            Operator::ALL.iter().filter(|op| self.allows(**op)).map(|op| op.keyword()).collect();
        let mut s = ops.join(" ");
        if self == PropertyType::StringCollection {
            s.push_str(" (as implicit -any), -any, -all");
        }
        s
    }
}

/// One of `extensionAttribute1` … `extensionAttribute15`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtensionSlot(u8);

impl ExtensionSlot {
    /// The slot numbered `n`, if `1 <= n <= 15`.
    pub fn new(n: u8) -> Option<ExtensionSlot> {
        (1..=15).contains(&n).then_some(ExtensionSlot(n))
    }
    /// The slot number, 1 to 15.
    pub fn number(self) -> u8 {
        self.0
    }
}

macro_rules! property_enum {
    ($(#[$meta:meta])* $enum:ident { $($variant:ident => $name:literal, $ty:ident, $graph:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $enum {
            $(#[doc = concat!("`", $name, "` (Graph `", $graph, "`)")] $variant,)*
            /// `extensionAttribute1` … `extensionAttribute15`.
            ExtensionAttribute(ExtensionSlot),
        }

        impl $enum {
            const TABLE: &'static [($enum, &'static str, PropertyType, &'static str)] =
                &[$(($enum::$variant, $name, PropertyType::$ty, $graph),)*];

            /// Every property except the extension attributes, in catalogue order.
            pub fn all() -> impl Iterator<Item = $enum> {
                Self::TABLE.iter().map(|row| row.0)
            }

            fn row(self) -> Option<&'static ($enum, &'static str, PropertyType, &'static str)> {
                Self::TABLE.iter().find(|row| row.0 == self)
            }

            /// The canonical rule name, such as `deviceOSType`.
            pub fn name(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $enum::ExtensionAttribute(slot) => format!("extensionAttribute{}", slot.0).into(),
                    other => other.row().map(|r| r.1).unwrap_or("").into(),
                }
            }

            /// The value type.
            pub fn ty(self) -> PropertyType {
                match self {
                    $enum::ExtensionAttribute(_) => PropertyType::String,
                    other => other.row().map(|r| r.2).unwrap_or(PropertyType::String),
                }
            }

            /// Where Graph keeps the value (a dotted path for nested fields).
            pub fn graph_field(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $enum::ExtensionAttribute(slot) => {
                        format!("{}.extensionAttribute{}", Self::EXTENSION_PARENT, slot.0).into()
                    }
                    other => other.row().map(|r| r.3).unwrap_or("").into(),
                }
            }

            /// Looks a name up case-insensitively.
            pub fn lookup(name: &str) -> Option<$enum> {
                if let Some(slot) = extension_slot(name) {
                    return Some($enum::ExtensionAttribute(slot));
                }
                Self::TABLE.iter().find(|row| row.1.eq_ignore_ascii_case(name)).map(|row| row.0)
            }
        }
    };
}

fn extension_slot(name: &str) -> Option<ExtensionSlot> {
    let prefix = "extensionattribute";
    let head = name.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let digits = &name[prefix.len()..];
    if digits.starts_with('0') {
        return None;
    }
    ExtensionSlot::new(digits.parse().ok()?)
}

property_enum! {
    /// A property of an Entra ID device (spec §2.1).
    DeviceProperty {
        AccountEnabled => "accountEnabled", Bool, "accountEnabled";
        DeviceCategory => "deviceCategory", String, "deviceCategory";
        DeviceId => "deviceId", String, "deviceId";
        DeviceManagementAppId => "deviceManagementAppId", String, "mdmAppId";
        DeviceManufacturer => "deviceManufacturer", String, "manufacturer";
        DeviceModel => "deviceModel", String, "model";
        DisplayName => "displayName", String, "displayName";
        DeviceOsType => "deviceOSType", String, "operatingSystem";
        DeviceOsVersion => "deviceOSVersion", String, "operatingSystemVersion";
        DeviceOwnership => "deviceOwnership", String, "deviceOwnership";
        DevicePhysicalIds => "devicePhysicalIds", StringCollection, "physicalIds";
        DeviceTrustType => "deviceTrustType", String, "trustType";
        EnrollmentProfileName => "enrollmentProfileName", String, "enrollmentProfileName";
        IsRooted => "isRooted", Bool, "isRooted";
        ManagementType => "managementType", String, "managementType";
        MemberOf => "memberOf", GroupCollection, "memberOf";
        ObjectId => "objectId", String, "id";
        ProfileType => "profileType", String, "profileType";
        SystemLabels => "systemLabels", StringCollection, "systemLabels";
    }
}

impl DeviceProperty {
    const EXTENSION_PARENT: &'static str = "extensionAttributes";
}

property_enum! {
    /// A property of an Entra ID user (spec §2.2).
    UserProperty {
        AccountEnabled => "accountEnabled", Bool, "accountEnabled";
        DirSyncEnabled => "dirSyncEnabled", Bool, "onPremisesSyncEnabled";
        EmployeeHireDate => "employeeHireDate", DateTime, "employeeHireDate";
        City => "city", String, "city";
        Country => "country", String, "country";
        CompanyName => "companyName", String, "companyName";
        Department => "department", String, "department";
        DisplayName => "displayName", String, "displayName";
        EmployeeId => "employeeId", String, "employeeId";
        FacsimileTelephoneNumber => "facsimileTelephoneNumber", String, "faxNumber";
        GivenName => "givenName", String, "givenName";
        JobTitle => "jobTitle", String, "jobTitle";
        Mail => "mail", String, "mail";
        MailNickName => "mailNickName", String, "mailNickname";
        Mobile => "mobile", String, "mobilePhone";
        ObjectId => "objectId", String, "id";
        OnPremisesDistinguishedName => "onPremisesDistinguishedName", String, "onPremisesDistinguishedName";
        OnPremisesSecurityIdentifier => "onPremisesSecurityIdentifier", String, "onPremisesSecurityIdentifier";
        PasswordPolicies => "passwordPolicies", String, "passwordPolicies";
        PhysicalDeliveryOfficeName => "physicalDeliveryOfficeName", String, "officeLocation";
        PostalCode => "postalCode", String, "postalCode";
        PreferredLanguage => "preferredLanguage", String, "preferredLanguage";
        SipProxyAddress => "sipProxyAddress", String, "sipProxyAddress";
        State => "state", String, "state";
        StreetAddress => "streetAddress", String, "streetAddress";
        Surname => "surname", String, "surname";
        TelephoneNumber => "telephoneNumber", String, "businessPhones";
        UsageLocation => "usageLocation", String, "usageLocation";
        UserPrincipalName => "userPrincipalName", String, "userPrincipalName";
        UserType => "userType", String, "userType";
        OtherMails => "otherMails", StringCollection, "otherMails";
        ProxyAddresses => "proxyAddresses", StringCollection, "proxyAddresses";
        AssignedPlans => "assignedPlans", PlanCollection, "assignedPlans";
        MemberOf => "memberOf", GroupCollection, "memberOf";
    }
}

impl UserProperty {
    const EXTENSION_PARENT: &'static str = "onPremisesExtensionAttributes";
}

/// A property a checked rule reads.
///
/// ```
/// use fleetlab::rule::{DeviceProperty, ObjectType, Property};
/// let p = Property::lookup(ObjectType::Device, "devicephysicalids").unwrap();
/// assert_eq!(p, Property::Device(DeviceProperty::DevicePhysicalIds));
/// assert_eq!(p.to_string(), "device.devicePhysicalIds");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Property {
    /// A catalogue property of a device.
    Device(DeviceProperty),
    /// A catalogue property of a user.
    User(UserProperty),
    /// A directory extension, `extension_<appId>_<name>`, read as a string.
    Extension {
        /// The object it belongs to.
        object: ObjectType,
        /// The full name, as written.
        name: String,
    },
}

impl Property {
    /// Looks `name` up for `object`, case-insensitively.
    pub fn lookup(object: ObjectType, name: &str) -> Option<Property> {
        if is_extension_name(name) {
            return Some(Property::Extension { object, name: name.to_string() });
        }
        match object {
            ObjectType::Device => DeviceProperty::lookup(name).map(Property::Device),
            ObjectType::User => UserProperty::lookup(name).map(Property::User),
        }
    }

    /// The object type the property belongs to.
    pub fn object(&self) -> ObjectType {
        match self {
            Property::Device(_) => ObjectType::Device,
            Property::User(_) => ObjectType::User,
            Property::Extension { object, .. } => *object,
        }
    }

    /// The canonical name without prefix.
    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Property::Device(p) => p.name(),
            Property::User(p) => p.name(),
            Property::Extension { name, .. } => name.clone().into(),
        }
    }

    /// The value type.
    pub fn ty(&self) -> PropertyType {
        match self {
            Property::Device(p) => p.ty(),
            Property::User(p) => p.ty(),
            Property::Extension { .. } => PropertyType::String,
        }
    }

    /// The Graph field that holds the value.
    pub fn graph_field(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Property::Device(p) => p.graph_field(),
            Property::User(p) => p.graph_field(),
            Property::Extension { name, .. } => name.clone().into(),
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.object(), self.name())
    }
}

/// `extension_<32 hex>_<name>`: a custom directory extension (spec §1.6).
fn is_extension_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else { return false };
    let Some((app, attr)) = rest.split_at_checked(32) else { return false };
    app.bytes().all(|b| b.is_ascii_hexdigit())
        && attr.len() > 1
        && attr.starts_with('_')
        && attr[1..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A field of an `assignedPlans` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanField {
    /// `assignedPlan.capabilityStatus` (`Enabled`, `Deleted`, `Suspended`, …).
    CapabilityStatus,
    /// `assignedPlan.service` (`exchange`, `SCO`, …).
    Service,
    /// `assignedPlan.servicePlanId` (a GUID).
    ServicePlanId,
}

impl PlanField {
    /// Looks a field up case-insensitively.
    pub fn lookup(name: &str) -> Option<PlanField> {
        [PlanField::CapabilityStatus, PlanField::Service, PlanField::ServicePlanId]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
    /// The canonical field name.
    pub fn name(self) -> &'static str {
        match self {
            PlanField::CapabilityStatus => "capabilityStatus",
            PlanField::Service => "service",
            PlanField::ServicePlanId => "servicePlanId",
        }
    }
}

/// Why a name is not in the catalogue, and what the user probably meant.
pub(crate) fn suggest(object: ObjectType, name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if object == ObjectType::Device {
        match lower.as_str() {
            "organizationalunit" => {
                return Some(
                    "organizationalUnit is no longer supported: Entra ID ignores it and adds no devices"
                        .into(),
                )
            }
            "domainname" => return Some("domainName was retired from membership rules".into()),
            "osversion" => return Some("did you mean `device.deviceOSVersion`?".into()),
            _ => {}
        }
        if let Some(p) = DeviceProperty::all().find(|p| p.graph_field().eq_ignore_ascii_case(name)) {
            return Some(format!("Graph calls it `{name}`, but in rules it is `device.{}`", p.name()));
        }
    }
    if let Some(n) = lower.strip_prefix("extensionattribute") {
        return Some(format!(
            "there is no extensionAttribute{n}: the extension attributes are extensionAttribute1 to 15"
        ));
    }
    let other = match object {
        ObjectType::Device => ObjectType::User,
        ObjectType::User => ObjectType::Device,
    };
    let names: Vec<String> = match object {
        ObjectType::Device => DeviceProperty::all().map(|p| p.name().into_owned()).collect(),
        ObjectType::User => UserProperty::all().map(|p| p.name().into_owned()).collect(),
    };
    let best =
        names.iter().map(|n| (levenshtein(&n.to_ascii_lowercase(), &lower), n)).min_by_key(|(d, _)| *d);
    if let Some((d, n)) = best {
        if d <= (lower.len() / 3).max(2) {
            return Some(format!("did you mean `{object}.{n}`?"));
        }
    }
    if Property::lookup(other, name).is_some() {
        return Some(format!("`{name}` is a {other} property; a {object} rule cannot read it"));
    }
    None
}

/// Edit distance in characters, for "did you mean" suggestions across
/// fleetlab: `strsim`'s Levenshtein, so every suggestion measures alike.
pub(crate) use strsim::levenshtein;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_print_canonically() {
        let p = Property::lookup(ObjectType::User, "EMPLOYEEHIREDATE");
        assert_eq!(p, Some(Property::User(UserProperty::EmployeeHireDate)));
        let ext = Property::lookup(ObjectType::Device, "extensionattribute15");
        assert_eq!(ext.map(|p| p.to_string()).as_deref(), Some("device.extensionAttribute15"));
        assert_eq!(Property::lookup(ObjectType::Device, "extensionAttribute16"), None);
        assert_eq!(Property::lookup(ObjectType::Device, "extensionAttribute01"), None);
    }

    #[test]
    fn custom_extensions_need_a_32_hex_app_id() {
        assert!(is_extension_name("extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber"));
        assert!(!is_extension_name("extension_c272a57b722d4eb29bfe327874ae79c_OfficeNumber"));
        assert!(!is_extension_name("extension_c272a57b722d4eb29bfe327874ae79cb_"));
    }

    #[test]
    fn suggestions_name_the_likely_fix() {
        assert_eq!(
            suggest(ObjectType::Device, "deviceOSTyp").as_deref(),
            Some("did you mean `device.deviceOSType`?")
        );
        assert!(suggest(ObjectType::Device, "operatingSystem").is_some_and(|s| s.contains("deviceOSType")));
        assert!(suggest(ObjectType::User, "devicePhysicalIds").is_some_and(|s| s.contains("device property")));
        assert_eq!(suggest(ObjectType::User, "invalidProperty"), None);
    }
}
