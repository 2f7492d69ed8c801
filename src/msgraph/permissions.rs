//! Which application permission each Graph route needs (graph-api.md §2,
//! §3.3), shared by the client and the fake.
//!
//! Decisions, and why:
//!
//! * **One table for both sides.** The fake refuses a route when the
//!   token's roles hold none of [`Requirement::accepted`]; the client,
//!   when Graph answers 403, names [`Requirement::least`] so the admin
//!   knows what to grant. Directory 403s (`Authorization_RequestDenied`,
//!   "Insufficient privileges to complete the operation.") never say which
//!   permission is missing, so without the table the message would be a
//!   dead end.
//! * **Least privilege first.** `least` is the narrowest permission the
//!   adapter's use of the route needs (`GroupMember.Read.All` to read
//!   groups and members, not `Group.Read.All`); `accepted` lists every
//!   role that also grants it (`ReadWrite` implies `Read`, `Directory.*`
//!   covers directory objects).
//! * Routes the table does not know (`$batch`, the token endpoint) need
//!   nothing themselves; a batch's items are checked one by one.

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The least privileged permission that grants the route.
    pub least: &'static str,
    /// Every application permission that grants it.
    pub accepted: &'static [&'static str],
}

impl Requirement {
    /// True when `roles` hold one of the accepted permissions
    /// (case-insensitive, as Entra compares role values).
    pub fn granted_by<S: AsRef<str>>(&self, roles: &[S]) -> bool {
        roles.iter().any(|r| self.accepted.iter().any(|a| a.eq_ignore_ascii_case(r.as_ref())))
    }
}

/// The application permissions `fleetlab sync` needs for everything it
/// does: pull (devices, groups and members, Autopilot) and apply (groups,
/// profiles, assignments, device properties). The fake grants these by
/// default.
pub const ADAPTER_ROLES: &[&str] = &[
    "Device.Read.All",
    "GroupMember.Read.All",
    "Group.ReadWrite.All",
    "DeviceManagementServiceConfig.ReadWrite.All",
];

const DM_READ: Requirement = Requirement {
    least: "DeviceManagementServiceConfig.Read.All",
    accepted: &["DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All"],
};
const DM_WRITE: Requirement = Requirement {
    least: "DeviceManagementServiceConfig.ReadWrite.All",
    accepted: &["DeviceManagementServiceConfig.ReadWrite.All"],
};
const DEVICE_READ: Requirement = Requirement {
    least: "Device.Read.All",
    accepted: &["Device.Read.All", "Device.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
};
const DEVICE_WRITE: Requirement = Requirement {
    least: "Device.ReadWrite.All",
    accepted: &["Device.ReadWrite.All", "Directory.ReadWrite.All"],
};
const GROUP_READ: Requirement = Requirement {
    least: "GroupMember.Read.All",
    accepted: &[
        "GroupMember.Read.All",
        "Group.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
};
const GROUP_CREATE: Requirement = Requirement {
    least: "Group.ReadWrite.All",
    accepted: &["Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"],
};
const GROUP_WRITE: Requirement = Requirement {
    least: "Group.ReadWrite.All",
    accepted: &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
};
const MEMBER_WRITE: Requirement = Requirement {
    least: "GroupMember.ReadWrite.All",
    accepted: &["GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"],
};
const USER_READ: Requirement = Requirement {
    least: "User.Read.All",
    accepted: &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
};

/// The permission `method` on `path` needs. `path` may carry the version
/// segment and a query (`/v1.0/groups?$top=5`); both are ignored.
///
/// ```
/// use fleetlab::msgraph::permissions::required;
/// assert_eq!(required("GET", "/v1.0/devices/delta").map(|r| r.least), Some("Device.Read.All"));
/// assert_eq!(required("POST", "/beta/deviceManagement/windowsAutopilotDeploymentProfiles").map(|r| r.least),
///            Some("DeviceManagementServiceConfig.ReadWrite.All"));
/// assert_eq!(required("POST", "/v1.0/$batch"), None);
/// ```
pub fn required(method: &str, path: &str) -> Option<Requirement> {
    let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
    let path = ["v1.0/", "beta/"].iter().find_map(|v| path.strip_prefix(v)).unwrap_or(path);
    let read = method.eq_ignore_ascii_case("GET");
    let first = path.split('/').next().unwrap_or("");
    if first == "deviceManagement" {
        return Some(if read { DM_READ } else { DM_WRITE });
    }
    if first == "devices" || first.starts_with("devices(") {
        return Some(if read { DEVICE_READ } else { DEVICE_WRITE });
    }
    if first == "groups" || first.starts_with("groups(") {
        let segments = path.split('/').count();
        return Some(match () {
            _ if read => GROUP_READ,
            _ if path.contains("/members/") || path.ends_with("/members") => MEMBER_WRITE,
            _ if method.eq_ignore_ascii_case("POST") && segments == 1 => GROUP_CREATE,
            _ => GROUP_WRITE,
        });
    }
    if first == "users" && read {
        return Some(USER_READ);
    }
    None
}

/// The sentence the client adds to a 403: which permission to grant, and
/// where.
pub fn hint(method: &str, path: &str) -> Option<String> {
    required(method, path).map(|r| {
        format!(
            "the application lacks the {} application permission (Entra admin center → App registrations → \
             the app → API permissions → Microsoft Graph → Application permissions; then Grant admin consent)",
            r.least
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_least_privilege() {
        let least = |m: &str, p: &str| required(m, p).map(|r| r.least);
        assert_eq!(least("GET", "/v1.0/groups/delta"), Some("GroupMember.Read.All"));
        assert_eq!(least("POST", "/v1.0/groups"), Some("Group.ReadWrite.All"));
        assert_eq!(least("PATCH", "/v1.0/groups/abc"), Some("Group.ReadWrite.All"));
        assert_eq!(least("POST", "/v1.0/groups/abc/members/$ref"), Some("GroupMember.ReadWrite.All"));
        assert_eq!(least("GET", "devices(deviceId='x')"), Some("Device.Read.All"));
        assert_eq!(least("PATCH", "devices/x"), Some("Device.ReadWrite.All"));
        assert_eq!(
            least("GET", "/beta/deviceManagement/windowsAutopilotDeviceIdentities"),
            Some("DeviceManagementServiceConfig.Read.All")
        );
        assert_eq!(least("GET", "/v1.0/users"), Some("User.Read.All"));
        assert_eq!(least("GET", "/v1.0/organization"), None);
    }

    #[test]
    fn write_roles_grant_reads() {
        let r = required("GET", "/beta/deviceManagement/windowsAutopilotDeploymentProfiles");
        assert!(r.is_some_and(|r| r.granted_by(&["deviceManagementServiceConfig.readWrite.all"])));
        assert!(required("POST", "/v1.0/groups").is_some_and(|r| r.granted_by(&["Group.Create"])));
        assert!(required("PATCH", "/v1.0/groups/x").is_some_and(|r| !r.granted_by(&["Group.Create"])));
        assert!(required("GET", "/v1.0/devices").is_some_and(|r| !r.granted_by::<&str>(&[])));
    }
}
