//! The JSON writer: one Graph `device` record as a JSON Lines line, written
//! by hand into the chunk's buffer (no serde tree: at ten million devices the
//! writer is the generator's hot loop).

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

pub(super) fn write_device(b: &mut Vec<u8>, id: u128, device_id: Option<u128>, rec: &Rec, s: &Scratch) {
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

pub(super) fn push_key(b: &mut Vec<u8>, key: &str) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(key.as_bytes());
    b.extend_from_slice(b"\":");
}

pub(super) fn push_str(b: &mut Vec<u8>, key: &str, value: Option<&str>) {
    push_key(b, key);
    match value {
        Some(v) => push_json_string(b, v),
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn push_bool(b: &mut Vec<u8>, key: &str, value: Option<bool>) {
    push_key(b, key);
    b.extend_from_slice(match value {
        Some(true) => b"true",
        Some(false) => b"false",
        None => b"null",
    });
}

pub(super) fn push_guid_field(b: &mut Vec<u8>, prefix: &str, bits: u128) {
    let mut guid = [0u8; 36];
    b.extend_from_slice(prefix.as_bytes());
    b.push(b'"');
    b.extend_from_slice(format_guid(bits, &mut guid).as_bytes());
    b.push(b'"');
}

pub(super) fn push_u64(b: &mut Vec<u8>, mut v: u64) {
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
pub(super) fn push_json_string(b: &mut Vec<u8>, s: &str) {
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
pub(super) fn format_guid(bits: u128, out: &mut [u8; 36]) -> &str {
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

pub(super) fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}
