//! How the evaluator reads an object: the [`Record`] trait.
//!
//! Why a trait of three callbacks rather than a value map: a service that
//! embeds fleetlab already has its own device type (a database row, a
//! protobuf, a cache entry). Asking it to build a map per device would cost
//! an allocation per device and per property. With this trait the evaluator
//! borrows strings straight out of the caller's data, and collections are
//! walked through a callback that can stop early (`-any` stops at the first
//! hit), so no `Vec` is ever built on the hot path.

use crate::rule::catalogue::{PlanField, Property};

/// A single value as the evaluator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar<'a> {
    /// Unset (Graph `null`, a missing field, or an empty string).
    Null,
    /// A string (also date-times, as ISO-8601 text).
    Str(&'a str),
    /// A boolean.
    Bool(bool),
}

impl<'a> Scalar<'a> {
    /// `Str` for a non-empty string, `Null` otherwise: Entra stores no empty strings.
    pub fn from_opt(value: Option<&'a str>) -> Scalar<'a> {
        match value {
            Some(s) if !s.is_empty() => Scalar::Str(s),
            _ => Scalar::Null,
        }
    }
}

/// One item of `user.assignedPlans`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanItem<'a> {
    /// `capabilityStatus`, such as `Enabled`.
    pub capability_status: Option<&'a str>,
    /// `service`, such as `exchange`.
    pub service: Option<&'a str>,
    /// `servicePlanId`, a GUID.
    pub service_plan_id: Option<&'a str>,
}

impl<'a> PlanItem<'a> {
    /// The value of one field (`None` when unset or empty).
    pub fn field(&self, field: PlanField) -> Option<&'a str> {
        let v = match field {
            PlanField::CapabilityStatus => self.capability_status,
            PlanField::Service => self.service,
            PlanField::ServicePlanId => self.service_plan_id,
        };
        v.filter(|s| !s.is_empty())
    }
}

/// Read access to one device or user, for the evaluator.
///
/// Implement [`Record::scalar`] for the single-valued properties your rules
/// use; override the collection methods if your rules use collections.
/// Properties you do not know return [`Scalar::Null`], which is what Entra
/// does with an unset attribute.
///
/// ```
/// use fleetlab::rule::{DeviceProperty, Property, Record, Rule, Scalar};
///
/// struct Row { os: String, ids: Vec<String> }
///
/// impl Record for Row {
///     fn scalar(&self, p: &Property) -> Scalar<'_> {
///         match p {
///             Property::Device(DeviceProperty::DeviceOsType) => Scalar::Str(&self.os),
///             _ => Scalar::Null,
///         }
///     }
///     fn any_item(&self, p: &Property, f: &mut dyn FnMut(&str) -> bool) -> bool {
///         match p {
///             Property::Device(DeviceProperty::DevicePhysicalIds) => self.ids.iter().any(|s| f(s)),
///             _ => false,
///         }
///     }
/// }
///
/// let rule = Rule::new(r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#)?;
/// let row = Row { os: "Windows".into(), ids: vec!["[ZTDId]:abc".into()] };
/// assert!(rule.matches(&row));
/// # Ok::<(), fleetlab::rule::RuleErrors>(())
/// ```
pub trait Record {
    /// The value of a single-valued property.
    fn scalar(&self, property: &Property) -> Scalar<'_>;

    /// Calls `f` on each item of a string collection (`devicePhysicalIds`,
    /// `systemLabels`, `otherMails`, `proxyAddresses`, and the group ids of
    /// `memberOf`) until it returns true; returns whether it did. A missing
    /// collection has no items.
    fn any_item(&self, property: &Property, f: &mut dyn FnMut(&str) -> bool) -> bool {
        let _ = (property, f);
        false
    }

    /// Calls `f` on each of `user.assignedPlans` until it returns true.
    fn any_plan(&self, f: &mut dyn FnMut(&PlanItem<'_>) -> bool) -> bool {
        let _ = f;
        false
    }

    /// The object id of the user's manager, for `Direct Reports for "…"`.
    fn manager_id(&self) -> Option<&str> {
        None
    }
}

impl<R: Record + ?Sized> Record for &R {
    fn scalar(&self, property: &Property) -> Scalar<'_> {
        (**self).scalar(property)
    }
    fn any_item(&self, property: &Property, f: &mut dyn FnMut(&str) -> bool) -> bool {
        (**self).any_item(property, f)
    }
    fn any_plan(&self, f: &mut dyn FnMut(&PlanItem<'_>) -> bool) -> bool {
        (**self).any_plan(f)
    }
    fn manager_id(&self) -> Option<&str> {
        (**self).manager_id()
    }
}
