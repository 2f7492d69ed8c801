//! The Graph `user` resource, as far as membership rules read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inventory::device::GroupRef;
use crate::inventory::HasId;
use crate::rule::{PlanItem, Property, Record, Scalar, UserProperty};

/// One entry of a user's `assignedPlans`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct AssignedPlan {
    pub capability_status: Option<String>,
    pub service: Option<String>,
    pub service_plan_id: Option<String>,
}

/// The user's manager as `$expand=manager` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManagerRef {
    id: String,
}

/// A Graph `user` (the fields user rules read).
///
/// Directory extensions (`extension_<appId>_<name>`) are kept from any
/// top-level field of that shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct User {
    /// The Entra object id (`user.objectId`).
    pub id: String,
    pub account_enabled: Option<bool>,
    pub on_premises_sync_enabled: Option<bool>,
    pub employee_hire_date: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub company_name: Option<String>,
    pub department: Option<String>,
    pub display_name: Option<String>,
    pub employee_id: Option<String>,
    pub fax_number: Option<String>,
    pub given_name: Option<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    pub mobile_phone: Option<String>,
    pub on_premises_distinguished_name: Option<String>,
    pub on_premises_security_identifier: Option<String>,
    pub password_policies: Option<String>,
    pub office_location: Option<String>,
    pub postal_code: Option<String>,
    pub preferred_language: Option<String>,
    pub sip_proxy_address: Option<String>,
    pub state: Option<String>,
    pub street_address: Option<String>,
    pub surname: Option<String>,
    #[serde(default)]
    pub business_phones: Option<Vec<String>>,
    pub usage_location: Option<String>,
    pub user_principal_name: Option<String>,
    pub user_type: Option<String>,
    #[serde(default)]
    pub other_mails: Option<Vec<String>>,
    #[serde(default)]
    pub proxy_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub assigned_plans: Option<Vec<AssignedPlan>>,
    #[serde(default)]
    pub on_premises_extension_attributes: Option<crate::inventory::ExtensionAttributes>,
    #[serde(default)]
    pub(crate) manager: Option<ManagerRef>,
    #[serde(default)]
    pub(crate) member_of: Option<Vec<GroupRef>>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, serde_json::Value>,
}

impl User {
    /// Rule property names this record uses as field names where Graph
    /// spells the field differently (such as `mobile` for `mobilePhone`).
    pub fn misnamed(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> =
            self.extra.keys().filter_map(|k| crate::inventory::extra::rule_style(k)).collect();
        out.dedup();
        out
    }

    /// The manager's object id, when the record carries it.
    pub fn manager(&self) -> Option<&str> {
        self.manager.as_ref().map(|m| m.id.as_str())
    }
}

impl HasId for User {
    fn id(&self) -> &str {
        &self.id
    }
    fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }
}

impl Record for User {
    fn scalar(&self, property: &Property) -> Scalar<'_> {
        use UserProperty as P;
        fn s(v: &Option<String>) -> Scalar<'_> {
            Scalar::from_opt(v.as_deref())
        }
        let p = match property {
            Property::User(p) => p,
            Property::Extension { name, .. } => {
                let value = self.extra.get(name).or_else(|| {
                    self.extra.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
                });
                return match value {
                    Some(serde_json::Value::String(v)) => Scalar::from_opt(Some(v)),
                    Some(serde_json::Value::Bool(b)) => Scalar::Bool(*b),
                    _ => Scalar::Null,
                };
            }
            Property::Device(_) => return Scalar::Null,
        };
        match p {
            P::AccountEnabled => self.account_enabled.map_or(Scalar::Null, Scalar::Bool),
            P::DirSyncEnabled => self.on_premises_sync_enabled.map_or(Scalar::Null, Scalar::Bool),
            P::EmployeeHireDate => s(&self.employee_hire_date),
            P::City => s(&self.city),
            P::Country => s(&self.country),
            P::CompanyName => s(&self.company_name),
            P::Department => s(&self.department),
            P::DisplayName => s(&self.display_name),
            P::EmployeeId => s(&self.employee_id),
            P::FacsimileTelephoneNumber => s(&self.fax_number),
            P::GivenName => s(&self.given_name),
            P::JobTitle => s(&self.job_title),
            P::Mail => s(&self.mail),
            P::MailNickName => s(&self.mail_nickname),
            P::Mobile => s(&self.mobile_phone),
            P::ObjectId => Scalar::from_opt(Some(&self.id)),
            P::OnPremisesDistinguishedName => s(&self.on_premises_distinguished_name),
            P::OnPremisesSecurityIdentifier => s(&self.on_premises_security_identifier),
            P::PasswordPolicies => s(&self.password_policies),
            P::PhysicalDeliveryOfficeName => s(&self.office_location),
            P::PostalCode => s(&self.postal_code),
            P::PreferredLanguage => s(&self.preferred_language),
            P::SipProxyAddress => s(&self.sip_proxy_address),
            P::State => s(&self.state),
            P::StreetAddress => s(&self.street_address),
            P::Surname => s(&self.surname),
            P::TelephoneNumber => {
                Scalar::from_opt(self.business_phones.as_ref().and_then(|v| v.first()).map(String::as_str))
            }
            P::UsageLocation => s(&self.usage_location),
            P::UserPrincipalName => s(&self.user_principal_name),
            P::UserType => s(&self.user_type),
            P::ExtensionAttribute(slot) => Scalar::from_opt(
                self.on_premises_extension_attributes.as_ref().and_then(|e| e.get(slot.number())),
            ),
            P::OtherMails | P::ProxyAddresses | P::AssignedPlans | P::MemberOf => Scalar::Null,
        }
    }

    fn any_item(&self, property: &Property, f: &mut dyn FnMut(&str) -> bool) -> bool {
        match property {
            Property::User(UserProperty::OtherMails) => self.other_mails.iter().flatten().any(|s| f(s)),
            Property::User(UserProperty::ProxyAddresses) => {
                self.proxy_addresses.iter().flatten().any(|s| f(s))
            }
            Property::User(UserProperty::MemberOf) => self.member_of.iter().flatten().any(|g| f(g.id())),
            _ => false,
        }
    }

    fn any_plan(&self, f: &mut dyn FnMut(&PlanItem<'_>) -> bool) -> bool {
        self.assigned_plans.iter().flatten().any(|p| {
            f(&PlanItem {
                capability_status: p.capability_status.as_deref(),
                service: p.service.as_deref(),
                service_plan_id: p.service_plan_id.as_deref(),
            })
        })
    }

    fn manager_id(&self) -> Option<&str> {
        self.manager()
    }
}
