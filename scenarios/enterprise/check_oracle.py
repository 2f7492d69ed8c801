#!/usr/bin/env python3
"""Differential check of fleetlab's evaluator on the enterprise scenario.

Each group in groups.toml has a hand-written Python predicate below, written
from the rule-language semantics rather than by parsing the rule:

* string comparisons ignore case: both sides are lowered with str.lower();
* an unset value (null, a missing field, an empty string) makes positive
  operators false and negated ones (-ne, -notIn, -notStartsWith, ...) true;
* `-any` over a missing or empty collection is false, `-all` is true, and a
  scalar operator on a collection is an implicit `-any`;
* `-match` is re.search with re.IGNORECASE on the lowered value. (Python's
  `$`, like .NET's, also matches before a final newline; the Rust regex
  crate's does not. No generated value contains a newline.)

The script evaluates every predicate over a fleet file (JSON Lines, as
`fleetlab generate` writes; a JSON array or a Graph page also load), runs

    fleetlab eval --devices FILE --groups groups.toml --format json

and compares the member lists group by group. It exits 0 when every group
agrees, 1 on any difference (printing the first ones with the records
involved), 2 when it cannot run.

    python3 scenarios/enterprise/check_oracle.py /tmp/fleet200k.jsonl
    python3 scenarios/enterprise/check_oracle.py fleet.jsonl --fleetlab ~/.cargo/bin/fleetlab

Python 3.8+ standard library only (tomllib is used when present, 3.11+, to
check that the group file still holds the rules the predicates were written
for).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# ---------------------------------------------------------------------------
# A device as the rules see it
# ---------------------------------------------------------------------------


def _str(value):
    """A lowered string, or None when unset (null, missing or empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # never happens for string properties here
        return "true" if value else "false"
    return str(value).lower()


class Dev:
    """The properties the predicates read, lowered once per device."""

    __slots__ = (
        "id", "enabled", "rooted", "category", "mdm_app", "manufacturer", "model",
        "os", "os_version", "ownership", "trust", "profile", "management",
        "profile_type", "ids", "ext1", "ext15",
    )

    def __init__(self, d):
        ext = d.get("extensionAttributes") or {}
        self.id = d.get("id") or ""
        self.enabled = d.get("accountEnabled")  # True / False / None
        self.rooted = d.get("isRooted")
        self.category = _str(d.get("deviceCategory"))
        self.mdm_app = _str(d.get("mdmAppId"))
        self.manufacturer = _str(d.get("manufacturer"))
        self.model = _str(d.get("model"))
        self.os = _str(d.get("operatingSystem"))
        self.os_version = _str(d.get("operatingSystemVersion"))
        self.ownership = _str(d.get("deviceOwnership"))
        self.trust = _str(d.get("trustType"))
        self.profile = _str(d.get("enrollmentProfileName"))
        self.management = _str(d.get("managementType"))
        self.profile_type = _str(d.get("profileType"))
        # Items keep their places; an empty item is unset like an empty scalar.
        self.ids = [_str(p) for p in (d.get("physicalIds") or [])]
        self.ext1 = _str(ext.get("extensionAttribute1"))
        self.ext15 = _str(ext.get("extensionAttribute15"))


# --- operators, null-aware ---------------------------------------------------


def eq(v, c):
    return v is not None and v == c.lower()


def ne(v, c):
    return not eq(v, c)


def starts(v, c):
    return v is not None and v.startswith(c.lower())


def ends(v, c):
    return v is not None and v.endswith(c.lower())


def contains(v, c):
    return v is not None and c.lower() in v


def in_(v, items):
    return v is not None and v in {i.lower() for i in items}


def not_in(v, items):
    return not in_(v, items)


_REGEX = {}


def match(v, pattern):
    if v is None:
        return False
    rx = _REGEX.get(pattern)
    if rx is None:
        rx = _REGEX[pattern] = re.compile(pattern, re.IGNORECASE)
    return rx.search(v) is not None


def is_null(v):
    return v is None


def any_(items, pred):
    return any(pred(i) for i in items)


def all_(items, pred):
    return all(pred(i) for i in items)


def autopilot(x):
    return any_(x.ids, lambda i: starts(i, "[ZTDId]"))


def tag(x, value):
    return any_(x.ids, lambda i: eq(i, "[OrderID]:" + value))


COST_CENTRES = ["CC-1020", "CC-1045", "CC-2010", "CC-3100", "CC-4200", "CC-5000", "CC-6000"]
STANDARD_OEMS = ["Dell Inc.", "HP", "Hewlett-Packard", "LENOVO", "Microsoft Corporation"]
CONFIGMGR = "54b943f8-d761-4f8d-951e-9cea1846db5a"

# ---------------------------------------------------------------------------
# The groups: (name, rule as written in groups.toml, predicate)
# ---------------------------------------------------------------------------

ORACLE = [
    ("All devices",
     '''device.objectId -ne null''',
     lambda x: not is_null(_str(x.id))),
    ("Autopilot - All devices",
     '''(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))''',
     autopilot),
    ("Autopilot - NL-LT-FIN",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-FIN"))''',
     lambda x: tag(x, "NL-LT-FIN")),
    ("Autopilot - NL-LT-HR",
     '''device.devicePhysicalIds -any _ -eq "[OrderId]:NL-LT-HR"''',
     lambda x: tag(x, "NL-LT-HR")),
    ("Autopilot - NL-DT-FIN",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-DT-FIN"))''',
     lambda x: tag(x, "NL-DT-FIN")),
    ("Autopilot - NL-LT-SALES",
     r'''(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:NL-LT-SALES$"))''',
     lambda x: any_(x.ids, lambda i: match(i, r"^\[OrderID\]:NL-LT-SALES$"))),
    ("Autopilot - NL-LT-IT",
     '''(device.devicePhysicalIds -any (_ -in ["[OrderID]:NL-LT-IT", "[OrderId]:NL-LT-IT"]))''',
     lambda x: any_(x.ids, lambda i: in_(i, ["[OrderID]:NL-LT-IT", "[OrderId]:NL-LT-IT"]))),
    ("Autopilot - US-DT-ENG",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:US-DT-ENG"))''',
     lambda x: tag(x, "US-DT-ENG")),
    ("Autopilot - US-LT-ENG",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:US-LT-ENG"))''',
     lambda x: tag(x, "US-LT-ENG")),
    ("Autopilot - US-LT-SALES",
     '''device.devicePhysicalIds -eq "[OrderID]:US-LT-SALES"''',
     lambda x: tag(x, "US-LT-SALES")),  # implicit -any
    ("Autopilot - US-LT-OPS",
     '''(device.devicePhysicalIds -any (_ -endsWith "]:US-LT-OPS"))''',
     lambda x: any_(x.ids, lambda i: ends(i, "]:US-LT-OPS"))),
    ("Autopilot - US-DT-FIN",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:US-DT-FIN"))''',
     lambda x: tag(x, "US-DT-FIN")),
    ("Autopilot - US-LT-IT",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:US-LT-IT"))''',
     lambda x: tag(x, "US-LT-IT")),
    ("Autopilot - UK-LT-OPS",
     '''device.devicePhysicalIds -any _ -eq "[OrderID]:UK-LT-OPS"''',
     lambda x: tag(x, "UK-LT-OPS")),
    ("Autopilot - UK-LT-SALES",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:UK-LT-SALES"))''',
     lambda x: tag(x, "UK-LT-SALES")),
    ("Autopilot - UK-DT-IT",
     r'''(device.devicePhysicalIds -any (_ -match "^\[orderid\]:uk-dt-it$"))''',
     lambda x: any_(x.ids, lambda i: match(i, r"^\[orderid\]:uk-dt-it$"))),
    ("Autopilot - DE-LT-ENG",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:DE-LT-ENG"))''',
     lambda x: tag(x, "DE-LT-ENG")),
    ("Autopilot - DE-DT-OPS",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:DE-DT-OPS"))''',
     lambda x: tag(x, "DE-DT-OPS")),
    ("Autopilot - TR-LT-OPS",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:TR-LT-OPS"))''',
     lambda x: tag(x, "TR-LT-OPS")),
    ("Autopilot - NL-LT-FIN-TEMP",
     '''(device.devicePhysicalIds -any (_ -startsWith "[OrderID]:NL-LT-FIN-TEMP"))''',
     lambda x: any_(x.ids, lambda i: starts(i, "[OrderID]:NL-LT-FIN-TEMP"))),
    ("Autopilot - Netherlands",
     '''(device.devicePhysicalIds -any (_ -startsWith "[OrderID]:NL-"))''',
     lambda x: any_(x.ids, lambda i: starts(i, "[OrderID]:NL-"))),
    ("Autopilot - All laptops",
     r'''(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:.*-LT-.*"))''',
     lambda x: any_(x.ids, lambda i: match(i, r"^\[OrderID\]:.*-LT-.*"))),
    ("Autopilot - No group tag",
     '''(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and (device.devicePhysicalIds -all (_ -notStartsWith "[OrderID]"))''',
     lambda x: autopilot(x) and all_(x.ids, lambda i: not starts(i, "[OrderID]"))),
    ("Autopilot - PO 4500187321",
     '''(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:4500187321"))''',
     lambda x: any_(x.ids, lambda i: eq(i, "[PurchaseOrderId]:4500187321"))),
    ("Autopilot - FY2025 purchase orders",
     '''(device.devicePhysicalIds -any (_ -in ["[PurchaseOrderId]:4500212093", "[PurchaseOrderId]:4500223318", "[PurchaseOrderId]:4500230742"]))''',
     lambda x: any_(x.ids, lambda i: in_(i, ["[PurchaseOrderId]:4500212093",
                                             "[PurchaseOrderId]:4500223318",
                                             "[PurchaseOrderId]:4500230742"]))),
    ("Autopilot - Missing purchase order",
     r'''(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and (device.devicePhysicalIds -all (_ -notMatch "^\[PurchaseOrderId\]:\d{10}$")) -and (device.deviceModel -ne "HoloLens 2")''',
     lambda x: autopilot(x)
     and all_(x.ids, lambda i: not match(i, r"^\[PurchaseOrderId\]:\d{10}$"))
     and ne(x.model, "HoloLens 2")),
    ("Autopilot - No valid cost centre",
     '''(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and (device.extensionAttribute1 -notIn ["CC-1020", "CC-1045", "CC-2010", "CC-3100", "CC-4200", "CC-5000", "CC-6000"]) -and (device.deviceCategory -notIn ["Kiosk", "Mixed reality"])''',
     lambda x: autopilot(x) and not_in(x.ext1, COST_CENTRES)
     and not_in(x.category, ["Kiosk", "Mixed reality"])),
    ("Autopilot - Standard workstations",
     '''(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and -not (device.extensionAttribute15 -eq "SAW")''',
     lambda x: autopilot(x) and not eq(x.ext15, "SAW")),
    ("Finance cost centres",
     '''device.extensionAttribute1 -in ["CC-1020", "CC-1045"]''',
     lambda x: in_(x.ext1, ["CC-1020", "CC-1045"])),
    ("Windows devices not in Autopilot",
     '''(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -all (_ -notStartsWith "[ZTDID]"))''',
     lambda x: eq(x.os, "Windows") and all_(x.ids, lambda i: not starts(i, "[ZTDID]"))),
    ("Windows 10",
     '''(device.deviceOSType -eq "Windows") -and (device.deviceOSVersion -startsWith "10.0.1")''',
     lambda x: eq(x.os, "Windows") and starts(x.os_version, "10.0.1")),
    ("Windows 11",
     '''(device.deviceOSType -eq "Windows") -and (device.deviceOSVersion -startsWith "10.0.2") -and -not (device.deviceModel -eq "HoloLens 2")''',
     lambda x: eq(x.os, "Windows") and starts(x.os_version, "10.0.2")
     and not eq(x.model, "HoloLens 2")),
    ("Windows 11 24H2",
     '''device.deviceOSVersion -startsWith "10.0.26100."''',
     lambda x: starts(x.os_version, "10.0.26100.")),
    ("Windows 11 23H2 - Behind on patches",
     '''(device.deviceOSType -eq "Windows") -and (device.deviceOSVersion -startsWith "10.0.22631.") -and (device.deviceOSVersion -ne "10.0.22631.4890")''',
     lambda x: eq(x.os, "Windows") and starts(x.os_version, "10.0.22631.")
     and ne(x.os_version, "10.0.22631.4890")),
    ("HP devices",
     '''(device.deviceManufacturer -eq "HP") -or (device.deviceManufacturer -eq "Hewlett-Packard")''',
     lambda x: eq(x.manufacturer, "HP") or eq(x.manufacturer, "Hewlett-Packard")),
    ("HP EliteBook - Pre-G10",
     '''(device.deviceModel -contains "EliteBook") -and (device.deviceModel -notContains "G10")''',
     lambda x: contains(x.model, "EliteBook") and not contains(x.model, "G10")),
    ("Surface devices",
     '''device.deviceModel -startsWith "Surface"''',
     lambda x: starts(x.model, "Surface")),
    ("Windows - Other manufacturers",
     '''(device.deviceOSType -eq "Windows") -and (device.deviceManufacturer -notIn ["Dell Inc.", "HP", "Hewlett-Packard", "LENOVO", "Microsoft Corporation"]) -and (device.deviceManufacturer -ne null)''',
     lambda x: eq(x.os, "Windows") and not_in(x.manufacturer, STANDARD_OEMS)
     and not is_null(x.manufacturer)),
    ("Cloud PCs",
     '''device.deviceModel -startsWith "Cloud PC"''',
     lambda x: starts(x.model, "Cloud PC")),
    ("Cloud PCs - Finance",
     '''(device.deviceModel -startsWith "Cloud PC") -and ((device.enrollmentProfileName -eq "CPC-Finance-Policy") -or (device.extensionAttribute1 -eq "CC-1045"))''',
     lambda x: starts(x.model, "Cloud PC")
     and (eq(x.profile, "CPC-Finance-Policy") or eq(x.ext1, "CC-1045"))),
    ("HoloLens 2",
     '''(device.deviceModel -eq "HoloLens 2") -or (device.devicePhysicalIds -any (_ -eq "[OrderID]:HOLO-FIELD"))''',
     lambda x: eq(x.model, "HoloLens 2") or tag(x, "HOLO-FIELD")),
    ("Kiosks",
     '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:KIOSK-LOBBY")) -or ((device.deviceCategory -eq "Kiosk") -and (device.profileType -eq "Shared"))''',
     lambda x: tag(x, "KIOSK-LOBBY")
     or (eq(x.category, "Kiosk") and eq(x.profile_type, "Shared"))),
    ("Hybrid joined",
     '''device.deviceTrustType -eq "ServerAD"''',
     lambda x: eq(x.trust, "ServerAD")),
    ("Registered personal devices",
     '''(device.deviceTrustType -eq "Workplace") -and (device.deviceOwnership -eq "Personal")''',
     lambda x: eq(x.trust, "Workplace") and eq(x.ownership, "Personal")),
    ("Co-managed",
     '''device.deviceManagementAppId -eq "54b943f8-d761-4f8d-951e-9cea1846db5a"''',
     lambda x: eq(x.mdm_app, CONFIGMGR)),
    ("Corporate iOS and iPadOS",
     '''(device.managementType -eq "MDM") -and (device.deviceOwnership -eq "Company") -and (device.deviceOSType -in ["iOS", "iPhone", "iPad"]) -and (device.accountEnabled -eq true)''',
     lambda x: eq(x.management, "MDM") and eq(x.ownership, "Company")
     and in_(x.os, ["iOS", "iPhone", "iPad"]) and x.enabled is True),
    ("Android Enterprise",
     '''(device.deviceOSType -eq "AndroidEnterprise") -and (device.managementType -eq "MDM") -and -not (device.isRooted -eq true)''',
     lambda x: eq(x.os, "AndroidEnterprise") and eq(x.management, "MDM")
     and not (x.rooted is True)),
    ("macOS",
     '''device.deviceOSType -eq "MacMDM"''',
     lambda x: eq(x.os, "MacMDM")),
    ("Disabled devices",
     '''device.accountEnabled -eq false''',
     lambda x: x.enabled is False),
    ("Devices missing data",
     '''(device.deviceOSType -eq null) -or (device.deviceModel -eq null) -or (device.deviceTrustType -eq null)''',
     lambda x: is_null(x.os) or is_null(x.model) or is_null(x.trust)),
]

# ---------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------


def load_devices(path):
    """Graph device objects from JSON Lines, a JSON array or a Graph page."""
    with open(path, encoding="utf-8") as f:
        head = f.read(1)
        while head and head.isspace():
            head = f.read(1)
        f.seek(0)
        if head == "[":
            return json.load(f)
        first = f.readline()
        rest = f.read()
    if head == "{" and first.strip().endswith("}") and (not rest.strip() or rest.lstrip().startswith("{")):
        out = []
        for n, line in enumerate([first] + rest.splitlines(), 1):
            if line.strip():
                out.append(json.loads(line))
        if len(out) == 1 and isinstance(out[0].get("value"), list):
            return out[0]["value"]
        return out
    page = json.loads(first + rest)
    return page["value"] if isinstance(page, dict) else page


def check_group_file(groups_path):
    """Group names and rules in groups.toml must be the ones written here."""
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        return []
    with open(groups_path, "rb") as f:
        groups = tomllib.load(f).get("group", [])
    problems = []
    names = [g["name"] for g in groups]
    if names != [name for name, _, _ in ORACLE]:
        problems.append("group names or order differ from the oracle:\n  file:   %r\n  oracle: %r"
                        % (names, [name for name, _, _ in ORACLE]))
    for g, (name, rule, _) in zip(groups, ORACLE):
        if g["name"] == name and g["rule"] != rule:
            problems.append("rule of %r changed since its predicate was written:\n  file:   %s\n  oracle: %s"
                            % (name, g["rule"], rule))
    return problems


def find_fleetlab(explicit):
    if explicit:
        return explicit
    built = os.path.join(REPO, "target", "release", "fleetlab")
    if os.path.exists(built):
        return built
    return shutil.which("fleetlab")


def run_fleetlab(binary, devices, groups):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "membership.json")
        cmd = [binary, "eval", "--devices", devices, "--groups", groups, "--format", "json", "-o", out]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if proc.returncode != 0:
            sys.stderr.write("fleetlab failed (exit %d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stderr))
            sys.exit(2)
        with open(out, encoding="utf-8") as f:
            report = json.load(f)
    return {g["name"]: g["members"] for g in report["groups"]}, report.get("total")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("devices", help="fleet file (JSON Lines from `fleetlab generate`, or a Graph export)")
    ap.add_argument("--groups", default=os.path.join(HERE, "groups.toml"), help="group file (default: beside this script)")
    ap.add_argument("--fleetlab", help="the fleetlab binary (default: target/release/fleetlab, then PATH)")
    ap.add_argument("--show", type=int, default=5, help="differing groups and devices to print (default 5)")
    args = ap.parse_args()

    problems = check_group_file(args.groups)
    if problems:
        for p in problems:
            print("oracle out of date: " + p)
        return 1

    binary = find_fleetlab(args.fleetlab)
    if not binary:
        sys.stderr.write("fleetlab not found: build it (cargo build --release) or pass --fleetlab\n")
        return 2

    raw = load_devices(args.devices)
    devices = [Dev(d) for d in raw]
    expected = {}
    for name, _, pred in ORACLE:
        expected[name] = [x.id for x in devices if pred(x)]

    actual, total = run_fleetlab(binary, args.devices, args.groups)
    if total is not None and total != len(devices):
        print("fleetlab read %d devices, the oracle %d" % (total, len(devices)))
        return 1

    by_id = {d.get("id"): d for d in raw}
    mismatches = []
    for name, _, _ in ORACLE:
        want, got = expected[name], actual.get(name)
        if got is None:
            mismatches.append((name, want, None))
        elif got != want:
            mismatches.append((name, want, got))

    width = max(len(name) for name, _, _ in ORACLE)
    print("%-*s  %8s  %8s" % (width, "GROUP", "ORACLE", "FLEETLAB"))
    for name, _, _ in ORACLE:
        got = actual.get(name)
        flag = "" if got == expected[name] else "  <-- differs"
        print("%-*s  %8d  %8s%s" % (width, name, len(expected[name]), "-" if got is None else len(got), flag))

    if not mismatches:
        print("OK: all %d groups agree over %d devices" % (len(ORACLE), len(devices)))
        return 0

    print("\nMISMATCH in %d of %d groups" % (len(mismatches), len(ORACLE)))
    for name, want, got in mismatches[: args.show]:
        print("\n== %s" % name)
        if got is None:
            print("   missing from fleetlab's output")
            continue
        want_set, got_set = set(want), set(got)
        only_oracle = [i for i in want if i not in got_set]
        only_fleetlab = [i for i in got if i not in want_set]
        print("   oracle %d, fleetlab %d; only in oracle %d, only in fleetlab %d"
              % (len(want), len(got), len(only_oracle), len(only_fleetlab)))
        if not only_oracle and not only_fleetlab:
            print("   same members, different order")
        for label, ids in (("only in oracle", only_oracle), ("only in fleetlab", only_fleetlab)):
            for i in ids[: args.show]:
                print("   %s: %s" % (label, json.dumps(by_id.get(i), ensure_ascii=False)))
    return 1


if __name__ == "__main__":
    sys.exit(main())
