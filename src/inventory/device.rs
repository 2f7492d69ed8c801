//! The Graph `device` resource, as far as membership rules read it.

use serde::{Deserialize, Serialize};

use crate::inventory::extra::Extensions;
use crate::inventory::HasId;
use crate::rule::{DeviceProperty, Property, Record, Scalar};

/// `extensionAttributes` of a Graph device (`extensionAttribute1`…`15`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ExtensionAttributes {
    pub extension_attribute1: Option<String>,
    pub extension_attribute2: Option<String>,
    pub extension_attribute3: Option<String>,
    pub extension_attribute4: Option<String>,
    pub extension_attribute5: Option<String>,
    pub extension_attribute6: Option<String>,
    pub extension_attribute7: Option<String>,
    pub extension_attribute8: Option<String>,
    pub extension_attribute9: Option<String>,
    pub extension_attribute10: Option<String>,
    pub extension_attribute11: Option<String>,
    pub extension_attribute12: Option<String>,
    pub extension_attribute13: Option<String>,
    pub extension_attribute14: Option<String>,
    pub extension_attribute15: Option<String>,
}

impl ExtensionAttributes {
    /// Sets slot `n` (1–15); other numbers are ignored.
    pub fn set(&mut self, n: u8, value: String) {
        let slot = match n {
            1 => &mut self.extension_attribute1,
            2 => &mut self.extension_attribute2,
            3 => &mut self.extension_attribute3,
            4 => &mut self.extension_attribute4,
            5 => &mut self.extension_attribute5,
            6 => &mut self.extension_attribute6,
            7 => &mut self.extension_attribute7,
            8 => &mut self.extension_attribute8,
            9 => &mut self.extension_attribute9,
            10 => &mut self.extension_attribute10,
            11 => &mut self.extension_attribute11,
            12 => &mut self.extension_attribute12,
            13 => &mut self.extension_attribute13,
            14 => &mut self.extension_attribute14,
            15 => &mut self.extension_attribute15,
            _ => return,
        };
        *slot = Some(value);
    }

    /// The value of slot `n` (1–15).
    pub fn get(&self, n: u8) -> Option<&str> {
        let v = match n {
            1 => &self.extension_attribute1,
            2 => &self.extension_attribute2,
            3 => &self.extension_attribute3,
            4 => &self.extension_attribute4,
            5 => &self.extension_attribute5,
            6 => &self.extension_attribute6,
            7 => &self.extension_attribute7,
            8 => &self.extension_attribute8,
            9 => &self.extension_attribute9,
            10 => &self.extension_attribute10,
            11 => &self.extension_attribute11,
            12 => &self.extension_attribute12,
            13 => &self.extension_attribute13,
            14 => &self.extension_attribute14,
            15 => &self.extension_attribute15,
            _ => &None,
        };
        v.as_deref()
    }
}

/// A group id in `memberOf`: Graph returns directory objects, exports often
/// plain ids; both load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum GroupRef {
    Id(String),
    Object { id: String },
}

impl GroupRef {
    pub(crate) fn id(&self) -> &str {
        match self {
            GroupRef::Id(id) | GroupRef::Object { id } => id,
        }
    }
}

/// A Graph `device` (v1.0 and beta fields that rules read).
///
/// ```
/// use fleetlab::inventory::Device;
/// let d: Device = serde_json::from_str(r#"{"id": "1", "operatingSystem": "Windows"}"#)?;
/// assert_eq!(d.operating_system.as_deref(), Some("Windows"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Device {
    /// The Entra object id (`device.objectId`).
    pub id: String,
    pub account_enabled: Option<bool>,
    pub device_category: Option<String>,
    pub device_id: Option<String>,
    pub device_ownership: Option<String>,
    pub display_name: Option<String>,
    pub enrollment_profile_name: Option<String>,
    #[serde(default)]
    pub extension_attributes: Option<ExtensionAttributes>,
    pub is_rooted: Option<bool>,
    pub management_type: Option<String>,
    pub manufacturer: Option<String>,
    pub mdm_app_id: Option<String>,
    pub model: Option<String>,
    pub operating_system: Option<String>,
    pub operating_system_version: Option<String>,
    #[serde(default)]
    pub physical_ids: Option<Vec<String>>,
    pub profile_type: Option<String>,
    #[serde(default)]
    pub system_labels: Option<Vec<String>>,
    pub trust_type: Option<String>,
    #[serde(default)]
    pub(crate) member_of: Option<Vec<GroupRef>>,
    /// Custom directory extensions (`extension_<appId>_<name>`), which
    /// Graph returns as top-level properties.
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl Device {
    /// Ids of the groups this device is a direct member of, when known.
    pub fn member_of(&self) -> impl Iterator<Item = &str> {
        self.member_of.iter().flatten().map(GroupRef::id)
    }
}

impl Device {
    /// Replaces the group ids of `memberOf`.
    pub fn set_member_of(&mut self, ids: Option<Vec<String>>) {
        self.member_of = ids.map(|v| v.into_iter().map(GroupRef::Id).collect());
    }
}

impl HasId for Device {
    fn id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }
}

fn any_of(list: &Option<Vec<String>>, f: &mut dyn FnMut(&str) -> bool) -> bool {
    list.iter().flatten().any(|s| f(s))
}

impl Record for Device {
    fn scalar(&self, property: &Property) -> Scalar<'_> {
        use DeviceProperty as P;
        let p = match property {
            Property::Device(p) => p,
            Property::Extension { name, .. } => return Scalar::from_opt(self.extensions.get(name)),
            Property::User(_) => return Scalar::Null,
        };
        fn s(v: &Option<String>) -> Scalar<'_> {
            Scalar::from_opt(v.as_deref())
        }
        match p {
            P::AccountEnabled => self.account_enabled.map_or(Scalar::Null, Scalar::Bool),
            P::IsRooted => self.is_rooted.map_or(Scalar::Null, Scalar::Bool),
            P::DeviceCategory => s(&self.device_category),
            P::DeviceId => s(&self.device_id),
            P::DeviceManagementAppId => s(&self.mdm_app_id),
            P::DeviceManufacturer => s(&self.manufacturer),
            P::DeviceModel => s(&self.model),
            P::DisplayName => s(&self.display_name),
            P::DeviceOsType => s(&self.operating_system),
            P::DeviceOsVersion => s(&self.operating_system_version),
            P::DeviceOwnership => s(&self.device_ownership),
            P::DeviceTrustType => s(&self.trust_type),
            P::EnrollmentProfileName => s(&self.enrollment_profile_name),
            P::ManagementType => s(&self.management_type),
            P::ObjectId => Scalar::from_opt(Some(&self.id)),
            P::ProfileType => s(&self.profile_type),
            P::ExtensionAttribute(slot) => {
                Scalar::from_opt(self.extension_attributes.as_ref().and_then(|e| e.get(slot.number())))
            }
            P::DevicePhysicalIds | P::SystemLabels | P::MemberOf => Scalar::Null,
        }
    }

    fn any_item(&self, property: &Property, f: &mut dyn FnMut(&str) -> bool) -> bool {
        match property {
            Property::Device(DeviceProperty::DevicePhysicalIds) => any_of(&self.physical_ids, f),
            Property::Device(DeviceProperty::SystemLabels) => any_of(&self.system_labels, f),
            Property::Device(DeviceProperty::MemberOf) => self.member_of().any(f),
            _ => false,
        }
    }
}
