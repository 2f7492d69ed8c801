//! Object ids that go into request paths.
//!
//! An id comes from the server (or from the snapshot, which holds what a
//! server sent), and the client puts it into a URL that carries the bearer
//! token, sometimes with `DELETE`. An id such as
//! `../../../v1.0/secretpath?x=` would otherwise turn a profile's
//! `/assignments` listing into a request for another resource, and a prune
//! into a deletion of it. So every id is checked before it is used
//! ([`path_segment`]) and refused, never sent, when it is not an id.
//!
//! What an id may be: Graph's ids are GUIDs for devices, groups, Autopilot
//! identities, imports and deployment profiles, and profile assignments
//! are a profile id joined to a target with `_`
//! (`{profileId}_{groupId}_0`, `{profileId}_allDevices_0`). The check
//! accepts ASCII letters, digits and `-`, `_`, `.`, `~`, `:` (the URL
//! path's unreserved characters plus the colon some Intune keys use), at
//! most 256 of them, and never `.` or `..` alone. The accepted id is also
//! percent-encoded as a path segment, so that a future widening of the
//! accepted set cannot reintroduce the hole.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the characters [`is_valid`] accepts is escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b':');

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 256;

/// True when `id` has the shape of a Graph object id.
///
/// ```
/// use fleetlab::msgraph::ids::is_valid;
/// assert!(is_valid("73eae2b2-5a11-400a-984f-d3ff1f975164"));
/// assert!(is_valid("17fa8111-be93-44d7-b6e6-e0310c3ae72d_allDevices_0"));
/// assert!(!is_valid("../../../v1.0/secretpath?x="));
/// assert!(!is_valid(""));
/// assert!(!is_valid(".."));
/// ```
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':'))
}

/// `id` checked and escaped for use as one path segment; `what` names the
/// object (and where the id came from) for the error.
///
/// ```
/// use fleetlab::msgraph::ids::path_segment;
/// assert_eq!(path_segment("profile", "73eae2b2-5a11-400a-984f-d3ff1f975164")?,
///            "73eae2b2-5a11-400a-984f-d3ff1f975164");
/// let refused = path_segment("profile", "../../v1.0/x?y=").err().map(|e| e.to_string());
/// assert!(refused.is_some_and(|e| e.contains("not a Graph object id")));
/// # Ok::<(), fleetlab::msgraph::GraphError>(())
/// ```
pub fn path_segment(what: &str, id: &str) -> Result<String, crate::msgraph::GraphError> {
    if is_valid(id) {
        Ok(utf8_percent_encode(id, SEGMENT).to_string())
    } else {
        Err(crate::msgraph::GraphError::BadId { what: what.to_string(), id: shown(id) })
    }
}

/// An id as it may be shown in a message: quoted, escaped, and cut to 80
/// characters (a hostile id can be megabytes long).
pub(crate) fn shown(id: &str) -> String {
    let short: String = id.chars().take(80).collect();
    if short.len() < id.len() {
        format!("{short:?}… ({} bytes)", id.len())
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_never_carry_path_or_query_syntax() {
        for bad in ["a/b", "a?b", "a#b", "a%2Fb", "a b", "é", "a\u{0}", "..", "."] {
            assert!(path_segment("x", bad).is_err(), "{bad:?}");
        }
        assert!(path_segment("x", &"a".repeat(MAX_ID_LEN + 1)).is_err());
        let long = path_segment("x", &"/".repeat(10_000)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(long.len() < 300, "{long}");
        assert_eq!(path_segment("x", "a:b.c~d_e-f").ok().as_deref(), Some("a:b.c~d_e-f"));
    }
}
