#!/usr/bin/env python3
"""Build the Contoso example tenant for fleetlab.

Run from the repository root:

    python3 scenarios/contoso/make_inventory.py

It writes devices.json, users.json, groups.toml and expected.json next to
itself, then prints the device mix that README.md quotes.

Contoso and its staff are fictional. Serial numbers, GUIDs, dates and the
choice of which device gets which quirk come from one seeded generator, so a
re-run gives byte-identical files. Model strings, operating-system values,
Autopilot profile names and physicalIds formats copy what Entra ID and Intune
show for real fleets (rule-language spec, §2.1 and §5), so the rules in
groups.toml meet the same mess a real tenant has: mixed tag casing, two
spellings of HP, records with most fields missing.

expected.json is an independent oracle. It is NOT produced by fleetlab: each
group has its own small Python predicate written from the rule's meaning
under the spec's semantics (case-insensitive strings, null makes positive
operators false and negated ones true, -any over nothing is false, -all over
nothing is true, -match is an unanchored case-insensitive search).
"""

from __future__ import annotations

import json
import random
import re
import tomllib
import unicodedata
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20261128)

# The snapshot date. Sign-in and registration times are drawn before it so
# the data reads like one export taken on a single day.
SNAPSHOT = datetime(2026, 11, 28, 7, 30, tzinfo=timezone.utc)

INTUNE = "0000000a-0000-0000-c000-000000000000"
CONFIGMGR = "54b943f8-d761-4f8d-951e-9cea1846db5a"

# ---------------------------------------------------------------------------
# Small generators
# ---------------------------------------------------------------------------


def guid() -> str:
    # uuid4() would read os.urandom; drawing the bits from rng keeps runs identical.
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def digits(n: int) -> str:
    # Real HWID/GID payloads never start with 0, so neither do ours.
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


# Vendors leave I and O out of serials to avoid confusion with 1 and 0.
SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def alnum(n: int) -> str:
    return "".join(rng.choice(SERIAL_CHARS) for _ in range(n))


def serial(vendor: str) -> str:
    if vendor == "dell":
        return alnum(7)  # service tag
    if vendor == "hp-laptop":
        return "5CG" + digits(4) + alnum(3)
    if vendor == "hp-desktop":
        return "CZC" + digits(4) + alnum(3)
    if vendor == "lenovo":
        return "PF" + alnum(6)
    if vendor == "surface":
        return "0" + digits(11)
    if vendor == "apple":
        return alnum(10)
    raise ValueError(vendor)


def netbios(name: str) -> str:
    # Autopilot naming templates are cut to the 15-character NetBIOS limit,
    # which is why long HP serials lose their tail in CON-LT-… names.
    return name[:15]


def random_pc_name() -> str:
    return "DESKTOP-" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(7))


def when(start: datetime, end: datetime) -> datetime:
    span = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randint(0, span))


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


def ascii_fold(s: str) -> str:
    # Mail nicknames and UPNs are ASCII even when display names are not.
    s = s.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ı", "i")
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


# ---------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------

# Real Microsoft 365 service plan ids, so assignedPlans look like a licensed tenant.
PLANS = {
    "exchange": "efb87545-963c-4e0d-99df-69c6916d9eb0",  # EXCHANGE_S_ENTERPRISE
    "SharePoint": "5dbe027f-2339-4123-9542-606e4d348a72",  # SHAREPOINTENTERPRISE
    "TeamspaceAPI": "57ff2da0-773e-42df-b2af-ffb7a2317929",  # TEAMS1
    "SCO": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",  # INTUNE_A
    "AADPremiumService": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",  # AAD_PREMIUM
    "MicrosoftCommunicationsOnline": "0feaeb32-d00e-4d66-bd5a-43b5b83db82c",  # MCOSTANDARD
    "MicrosoftOffice": "43de0ff5-c92c-492b-9116-175376d08c38",  # OFFICESUBSCRIPTION
}

OFFICES = {
    "NL": ("Amsterdam", "Netherlands", "NL", "nl-NL"),
    "NL2": ("Utrecht", "Netherlands", "NL", "nl-NL"),
    "US": ("Seattle", "United States", "US", "en-US"),
    "US2": ("New York", "United States", "US", "en-US"),
    "UK": ("London", "United Kingdom", "GB", "en-GB"),
    "UK2": ("Manchester", "United Kingdom", "GB", "en-GB"),
    "TR": ("İstanbul", "Türkiye", "TR", "tr-TR"),
}

# (given, surname, office, department, job title, manager's index or None)
# Index 0 is the CEO; department heads report to her; everyone else to a head.
PEOPLE = [
    ("Margaret", "Okafor", "US", "Executive", "Chief Executive Officer", None),
    ("Pieter", "de Vries", "NL", "Finance", "Finance Director", 0),
    ("Sanne", "Bakker", "NL", "Human Resources", "HR Director", 0),
    ("David", "Chen", "US", "Engineering", "VP Engineering", 0),
    ("Rachel", "Thompson", "US2", "Sales", "Head of Sales", 0),
    ("Oliver", "Hughes", "UK", "Operations", "Operations Director", 0),
    ("Anika", "Patel", "US", "IT", "Head of IT", 0),
    ("Rob", "Jansen", "NL", "Finance", "Financial Controller", 1),
    ("Zoë", "van Dijk", "NL", "Finance", "Accountant", 1),
    ("Daan", "Visser", "NL2", "Finance", "Accounts Payable Specialist", 1),
    ("Jürgen", "Weiß", "NL", "Finance", "Senior Financial Analyst", 1),
    ("Lotte", "Smit", "NL2", "Human Resources", "HR Business Partner", 2),
    ("Emma", "Mulder", "NL", "Human Resources", "Recruiter", 2),
    ("Thijs", "Meijer", "NL", "Human Resources", "Payroll Specialist", 2),
    ("Priya", "Raman", "US", "Engineering", "Principal Engineer", 3),
    ("Marcus", "Johnson", "US", "Engineering", "Senior Software Engineer", 3),
    ("Kenji", "Watanabe", "US", "Engineering", "Software Engineer II", 3),
    ("José", "García", "US", "Engineering", "Site Reliability Engineer", 3),
    ("Hannah", "Schmidt", "US", "Engineering", "QA Engineer", 3),
    ("Tyler", "Brooks", "US2", "Sales", "Account Executive", 4),
    ("Brianna", "Lopez", "US2", "Sales", "Account Executive", 4),
    ("Chloé", "Martin", "US2", "Sales", "Sales Engineer", 4),
    ("Ethan", "Walker", "US", "Sales", "Sales Development Representative", 4),
    ("Grace", "Kim", "US2", "Sales", "Regional Sales Manager", 4),
    ("Amelia", "Clarke", "UK", "Operations", "Operations Analyst", 5),
    ("Harry", "Evans", "UK2", "Operations", "Logistics Coordinator", 5),
    ("Isla", "Robertson", "UK", "Operations", "Facilities Manager", 5),
    ("Łukasz", "Nowak", "UK2", "Operations", "Warehouse Supervisor", 5),
    ("Çağla", "Yılmaz", "TR", "Operations", "Regional Operations Lead", 5),
    ("Emre", "Demir", "TR", "Operations", "Field Technician", 28),
    ("Noah", "Williams", "US", "IT", "Endpoint Engineer", 6),
    ("Fatima", "Haddad", "US", "IT", "Identity Administrator", 6),
    ("Liam", "O'Connor", "UK", "IT", "Service Desk Analyst", 6),
    ("Sophie", "de Boer", "NL", "IT", "Workplace Engineer", 6),
    ("Ben", "Carter", "US", "IT", "Security Engineer", 6),
    ("Mia", "Jensen", "NL2", "Finance", "Finance Intern", 1),
    ("Lucas", "Hendriks", "NL", "Sales", "Account Manager Benelux", 4),
]

GUESTS = [
    ("Alex", "Morgan", "fabrikam.com", "Fabrikam", "Implementation Consultant"),
    ("Sam", "Rivera", "northwindtraders.com", "Northwind Traders", "Auditor"),
    ("Jamie", "Lee", "gmail.com", None, None),
]


def make_users() -> list[dict]:
    users = []
    ids = [guid() for _ in PEOPLE]
    # Two leavers keep their accounts disabled for a retention period, a
    # common state that user rules on accountEnabled have to see.
    disabled = {22, 26}
    for i, (given, surname, office, dept, title, mgr) in enumerate(PEOPLE):
        city, country, usage, lang = OFFICES[office]
        nick = ascii_fold(f"{given}.{surname}").replace(" ", "").replace("'", "").lower()
        upn = f"{nick}@contoso.com"
        hired = day(2015, 1, 1) + timedelta(days=rng.randint(0, 365 * 11))
        hired = hired.replace(day=1) if rng.random() < 0.7 else hired
        proxies = [f"SMTP:{upn}", f"smtp:{nick}@contoso.onmicrosoft.com"]
        if country == "Netherlands":
            proxies.append(f"smtp:{nick}@contoso.nl")
        if rng.random() < 0.25:
            proxies.append(f"smtp:{ascii_fold(given).lower()}@contoso.com")
        enabled = i not in disabled
        users.append(
            {
                "id": ids[i],
                "displayName": f"{given} {surname}",
                "userPrincipalName": upn,
                "mail": upn,
                "mailNickname": nick,
                "givenName": given,
                "surname": surname,
                "department": dept,
                "jobTitle": title,
                "city": city,
                "country": country,
                "companyName": "Contoso Ltd.",
                "employeeId": str(100100 + i * 37),
                "userType": "Member",
                "accountEnabled": enabled,
                "usageLocation": usage,
                "preferredLanguage": lang,
                # Hire dates only sync for staff hired after HR connected the
                # HR system, so long-serving people have none.
                "employeeHireDate": iso(hired) if hired.year >= 2019 else None,
                "otherMails": [f"{ascii_fold(given).lower()}.{rng.randint(10, 99)}@outlook.com"]
                if rng.random() < 0.2
                else [],
                "proxyAddresses": proxies,
                "assignedPlans": make_plans(hired, enabled, intern=(title == "Finance Intern")),
                "onPremisesExtensionAttributes": ext_block(
                    {1: COST_CENTRES.get(dept)} if rng.random() < 0.8 else {}
                ),
                "manager": None if mgr is None else {"id": ids[mgr]},
            }
        )
    for given, surname, domain, company, title in GUESTS:
        ext_mail = f"{given.lower()}.{surname.lower()}@{domain}"
        users.append(
            {
                "id": guid(),
                "displayName": f"{given} {surname}" + (f" ({company})" if company else ""),
                "userPrincipalName": ext_mail.replace("@", "_") + "#EXT#@contoso.onmicrosoft.com",
                "mail": ext_mail,
                "mailNickname": ext_mail.replace("@", "_") + "#EXT#",
                "givenName": given,
                "surname": surname,
                "department": None,
                "jobTitle": title,
                "city": None,
                "country": None,
                "companyName": company,
                "employeeId": None,
                "userType": "Guest",
                "accountEnabled": True,
                "usageLocation": None,
                "preferredLanguage": None,
                "employeeHireDate": None,
                "otherMails": [ext_mail],
                "proxyAddresses": [f"SMTP:{ext_mail}"],
                "assignedPlans": [],
                "onPremisesExtensionAttributes": ext_block({}),
                "manager": None,
            }
        )
    return users


COST_CENTRES = {
    "Finance": "CC-1020",
    "Human Resources": "CC-2010",
    "Engineering": "CC-3100",
    "Sales": "CC-4200",
    "Operations": "CC-5000",
    "IT": "CC-6000",
    "Executive": "CC-0100",
}


def make_plans(hired: datetime, enabled: bool, intern: bool) -> list[dict]:
    # Interns get no licence, which leaves one member with an empty
    # assignedPlans collection (the -all/-any edge case).
    if intern:
        return []
    start = max(hired, day(2021, 3, 1))
    plans = []
    for service, plan_id in PLANS.items():
        status = "Enabled" if enabled else "Suspended"
        plans.append(
            {
                "assignedDateTime": iso(start + timedelta(minutes=rng.randint(0, 600))),
                "capabilityStatus": status,
                "service": service,
                "servicePlanId": plan_id,
            }
        )
    # The 2023 switch from Skype to Teams Phone left a Deleted plan behind on
    # some accounts; keep a few so capabilityStatus is not always Enabled.
    if rng.random() < 0.2:
        plans.append(
            {
                "assignedDateTime": iso(day(2021, 3, 1)),
                "capabilityStatus": "Deleted",
                "service": "MicrosoftCommunicationsOnline",
                "servicePlanId": "4828c8ec-dc2e-4779-b502-87ac9ce28ab7",  # MCOEV
            }
        )
    return plans


def ext_block(values: dict[int, str | None]) -> dict:
    return {f"extensionAttribute{n}": values.get(n) for n in range(1, 16)}


# ---------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------

WIN10 = ["10.0.19045.5487", "10.0.19045.5371", "10.0.19045.4894"]
WIN11_23H2 = ["10.0.22631.4890", "10.0.22631.4751", "10.0.22631.4602"]
WIN11_24H2 = ["10.0.26100.3194", "10.0.26100.3037", "10.0.26100.2894"]


class Fleet:
    def __init__(self, users: list[dict]):
        self.devices: list[dict] = []
        self.kinds: list[str] = []
        members = [u for u in users if u["userType"] == "Member"]
        self.staff = [u for u in members if u["accountEnabled"]]
        self.by_dept: dict[str, list[dict]] = {}
        for u in self.staff:
            self.by_dept.setdefault(u["department"], []).append(u)
        self.by_name = {u["givenName"]: u for u in members}

    def owner(self, dept: str | None = None) -> dict:
        pool = self.by_dept.get(dept) if dept else None
        return rng.choice(pool or self.staff)

    def add(self, kind: str, record: dict) -> dict:
        self.devices.append(record)
        self.kinds.append(kind)
        return record


def windows_ids(user: dict | None, autopilot: list[str] | None = None) -> list[str]:
    # Shape copied from real Graph payloads: USER-HWID repeats the HWID
    # number, USER-GID has its own. Shared and userless devices lack USER-*.
    hw, g = digits(16), digits(16)
    ids = [f"[GID]:g:{g}", f"[HWID]:h:{hw}"]
    if user is not None:
        ids += [f"[USER-GID]:{user['id']}:{digits(16)}", f"[USER-HWID]:{user['id']}:{hw}"]
    ids += autopilot or []
    # Graph returns physicalIds in no particular order; rules must not care.
    rng.shuffle(ids)
    return ids


def autopilot_ids(tag: str | None, po: str | None) -> list[str]:
    # Tag casing differs between the docs and real tenants; string
    # operators are case-insensitive, so every variant must still match.
    ztd = rng.choices(["[ZTDID]", "[ZTDId]", "[ZTDid]"], weights=[6, 5, 1])[0]
    ids = [f"{ztd}:{guid()}"]
    if tag is not None:
        ids.append(f"{rng.choices(['[OrderId]', '[OrderID]'], weights=[4, 1])[0]}:{tag}")
    if po is not None:
        ids.append(f"[PurchaseOrderId]:{po}")
    return ids


def graph_device(
    *,
    name: str,
    os_: str | None,
    osv: str | None,
    manufacturer: str | None,
    model: str | None,
    trust: str | None,
    ids: list[str],
    ownership: str | None,
    mgmt: str | None,
    mdm: str | None,
    profile: str | None = None,
    profile_type: str = "RegisteredDevice",
    category: str | None = None,
    labels: list[str] | None = None,
    rooted: bool | None = False,
    enabled: bool = True,
    ext: dict[int, str | None] | None = None,
    since: datetime = day(2022, 1, 10),
    hybrid: bool = False,
) -> dict:
    registered = when(since, SNAPSHOT - timedelta(days=3))
    # Disabled devices stopped signing in long ago; active ones within weeks.
    last_seen = (
        when(registered, registered + timedelta(days=200))
        if not enabled
        else when(max(registered, SNAPSHOT - timedelta(days=45)), SNAPSHOT)
    )
    last_seen = min(last_seen, SNAPSHOT)
    record = {
        "id": guid(),
        "deletedDateTime": None,
        "accountEnabled": enabled,
        "approximateLastSignInDateTime": iso(last_seen),
        "createdDateTime": iso(registered),
        "deviceCategory": category,
        "deviceId": guid(),
        "deviceOwnership": ownership,
        "displayName": name,
        "enrollmentProfileName": profile,
        "extensionAttributes": ext_block(ext or {}),
        "isCompliant": (rng.random() < 0.92) if mgmt else None,
        "isManaged": mgmt is not None,
        "isRooted": rooted,
        "managementType": mgmt,
        "manufacturer": manufacturer,
        "mdmAppId": mdm,
        "model": model,
        "onPremisesLastSyncDateTime": iso(when(SNAPSHOT - timedelta(hours=3), SNAPSHOT)) if hybrid else None,
        "onPremisesSyncEnabled": True if hybrid else None,
        "operatingSystem": os_,
        "operatingSystemVersion": osv,
        "physicalIds": ids,
        "profileType": profile_type,
        "registrationDateTime": iso(registered),
        "systemLabels": labels or [],
        "trustType": trust,
    }
    return record


# Autopilot batches: (group tag, count, hardware choices, form factor,
# profile, cost centre, purchase orders). Hardware entries are
# (manufacturer, model, serial kind, weight).
HP_840_G10 = ("HP", "HP EliteBook 840 G10 Notebook PC", "hp-laptop")
HP_840_G10_OLDNAME = ("Hewlett-Packard", "HP EliteBook 840 G10 Notebook PC", "hp-laptop")
HP_840_G8 = ("HP", "HP EliteBook 840 G8 Notebook PC", "hp-laptop")
HP_MINI = ("HP", "HP Elite Mini 800 G9 Desktop PC", "hp-desktop")
DELL_7440 = ("Dell Inc.", "Latitude 7440", "dell")
DELL_5540 = ("Dell Inc.", "Latitude 5540", "dell")
DELL_7010 = ("Dell Inc.", "OptiPlex 7010", "dell")
DELL_3660 = ("Dell Inc.", "Precision 3660", "dell")
T14_A = ("LENOVO", "21HD0053MH", "lenovo")  # ThinkPad T14 Gen 4
T14_B = ("LENOVO", "21HES0B200", "lenovo")  # ThinkPad T14 Gen 4
T14_US = ("LENOVO", "21HD0053US", "lenovo")
X1_C11 = ("Lenovo", "21HMCTO1WW", "lenovo")  # ThinkPad X1 Carbon Gen 11, newer BIOS casing
SL5 = ("Microsoft Corporation", "Surface Laptop 5", "surface")
SP9 = ("Microsoft Corporation", "Surface Pro 9", "surface")

# Purchase orders: the SAP numbers finance quotes when a batch is bought.
# 4500187321 was the big 2024 NL refresh, split over two departments.
PO_NL_2024 = "4500187321"
PO_NL_2025 = "4500201877"
PO_US_2024 = "4500190456"
PO_UK_2025 = "4500212093"

BATCHES = [
    # tag, count, hardware (with weights), desktop?, profile, dept, cost centre, POs (with weights)
    ("NL-LT-FIN", 41, [(HP_840_G10, 30), (HP_840_G10_OLDNAME, 7), (SL5, 4)], False,
     "Contoso UD Entra", "Finance", "CC-1020", [(PO_NL_2024, 5), (PO_NL_2025, 3), (None, 2)]),
    ("NL-LT-FIN-TEMP", 4, [(HP_840_G8, 1)], False,
     "Contoso UD Entra", "Finance", None, [(None, 1)]),
    ("NL-LT-HR", 23, [(T14_A, 3), (T14_B, 2)], False,
     "Contoso UD Entra", "Human Resources", "CC-2010", [(PO_NL_2024, 3), (None, 1)]),
    ("NL-DT-FIN", 12, [(DELL_7010, 1)], True,
     "Contoso UD Entra", "Finance", "CC-1020", [(PO_NL_2025, 2), (None, 1)]),
    ("US-DT-ENG", 34, [(DELL_3660, 3), (DELL_7010, 2)], True,
     "Contoso Pre-provisioned", "Engineering", "CC-3100", [(PO_US_2024, 3), (None, 1)]),
    ("US-LT-SALES", 29, [(DELL_7440, 5), (SL5, 2), (T14_US, 1)], False,
     "Contoso UD Entra", "Sales", "CC-4200", [(PO_US_2024, 2), (None, 1)]),
    ("UK-LT-OPS", 22, [(X1_C11, 3), (DELL_5540, 2)], False,
     "Contoso UD Entra", "Operations", "CC-5000", [(PO_UK_2025, 1), (None, 2)]),
]


def pick(weighted):
    return rng.choices([x for x, _ in weighted], weights=[w for _, w in weighted])[0]


# Laptops of leavers, disabled until they are wiped and re-issued.
RETIRED = {("NL-LT-HR", 2), ("NL-LT-HR", 19), ("US-LT-SALES", 11), ("US-LT-SALES", 26)}


def build_autopilot(fleet: Fleet) -> None:
    for tag, count, hardware, desktop, profile, dept, cc, pos in BATCHES:
        for i in range(count):
            manu, model, skind = pick(hardware)
            user = fleet.owner(dept)
            # Three NL-LT-FIN laptops were imported from a CSV typed by hand
            # in lower case; the tag must still match case-insensitively.
            real_tag = tag.lower() if tag == "NL-LT-FIN" and i in (5, 17, 33) else tag
            form = "DT" if desktop else "LT"
            name = netbios(f"CON-{form}-{serial(skind)}")
            osv = rng.choice(WIN11_24H2 if rng.random() < 0.55 else WIN11_23H2)
            if tag == "NL-LT-HR" and i < 6:
                osv = rng.choice(WIN10)  # the 2023 batch not yet upgraded
            ext: dict[int, str | None] = {}
            if tag == "NL-LT-FIN" and i == 9:
                ext[1] = "cc-1020"  # typed by hand; -in must ignore case
            elif cc and rng.random() < 0.6:
                ext[1] = cc
            mdm = INTUNE
            # Engineering desktops are co-managed so ConfigMgr can keep
            # pushing the build toolchain.
            if tag == "US-DT-ENG" and i % 5 == 2:
                mdm = CONFIGMGR
            # Privileged access workstations, marked by IT in extensionAttribute15.
            if tag == "US-DT-ENG" and i in (0, 7, 13, 21, 30):
                ext[15] = "SAW"
                ext[1] = "CC-6000"
            enabled = (tag, i) not in RETIRED
            labels = ["M365Managed"] if (tag == "US-LT-SALES" and i % 4 == 0) else []
            fleet.add(
                f"Windows Autopilot {'desktop' if desktop else 'laptop'}",
                graph_device(
                    name=name,
                    os_="Windows",
                    osv=osv,
                    manufacturer=manu,
                    model=model,
                    trust="AzureAd",
                    ids=windows_ids(user, autopilot_ids(real_tag, pick(pos))),
                    ownership="company",
                    mgmt="MDM",
                    mdm=mdm,
                    profile=profile,
                    category="Engineering workstation" if tag == "US-DT-ENG" else "Standard laptop" if not desktop else "Standard desktop",
                    labels=labels,
                    enabled=enabled,
                    ext=ext,
                    since=day(2023, 3, 1) if "TEMP" not in tag else day(2025, 9, 1),
                ),
            )

    # Lobby kiosks run a single-app kiosk with no signed-in user. Two were
    # rebuilt before the Shared profile type was applied, so only the tag
    # catches them.
    for i in range(9):
        manu, model, skind = HP_MINI
        name = netbios(f"CON-KSK-{serial(skind)}")
        if i == 4:
            name = 'Kiosk "Lobby" Screen 3'  # renamed by facilities
        fleet.add(
            "Windows Autopilot kiosk",
            graph_device(
                name=name,
                os_="Windows",
                osv=rng.choice(WIN11_23H2),
                manufacturer=manu,
                model=model,
                trust="AzureAd",
                ids=windows_ids(None, autopilot_ids("KIOSK-LOBBY", PO_NL_2025 if i < 5 else None)),
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                profile="Contoso Kiosk SD",
                profile_type="RegisteredDevice" if i in (2, 7) else "Shared",
                category="Kiosk",
            ),
        )

    # Registered in Autopilot without a group tag: stock laptops the
    # service desk hands out, plus two the İstanbul office renamed locally.
    for i in range(14):
        manu, model, skind = rng.choice([SP9, SL5, DELL_7440, T14_A])
        user = fleet.owner()
        if i < 2:
            name = f"İstanbul-LT-0{i + 1}"
            user = fleet.by_name["Çağla" if i == 0 else "Emre"]
        elif i % 2:
            name = random_pc_name()  # no naming template on the fallback profile
        else:
            name = netbios(f"CON-LT-{serial(skind)}")
        fleet.add(
            "Windows Autopilot laptop (no group tag)",
            graph_device(
                name=name,
                os_="Windows",
                osv=rng.choice(WIN11_24H2),
                manufacturer=manu,
                model=model,
                trust="AzureAd",
                ids=windows_ids(user, autopilot_ids(None, None)),
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                # Devices waiting for a profile assignment show none yet.
                profile=None if i in (6, 11) else "Contoso UD Entra",
                enabled=i != 9,
                labels=["M365Managed"] if i % 5 == 0 else [],
            ),
        )


def build_hololens(fleet: Fleet) -> None:
    for i in range(6):
        fleet.add(
            "HoloLens 2",
            graph_device(
                # HoloLens picks its own HOLOLENS-xxxxxx name at setup.
                name="HOLOLENS-" + alnum(6),
                os_="Windows",
                osv="10.0.22621.1399",
                manufacturer="Microsoft Corporation",
                model="HoloLens 2",
                trust="AzureAd",
                ids=windows_ids(None, autopilot_ids("HOLO-FIELD" if i < 4 else None, None)),
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                profile="Contoso HoloLens SD",
                category="Mixed reality",
                since=day(2024, 6, 1),
            ),
        )


def build_cloud_pcs(fleet: Fleet) -> None:
    policies = [
        ("CPC-Finance-Policy", "Finance", "Cloud PC Enterprise 2vCPU/8GB/128GB", "CC-1045"),
        ("CPC-Engineering-Policy", "Engineering", "Cloud PC Enterprise 4vCPU/16GB/256GB", None),
        ("CPC-Contractors-Policy", None, "Cloud PC Enterprise 2vCPU/4GB/64GB", None),
    ]
    for i in range(18):
        policy, dept, model, cc = policies[0 if i < 8 else 1 if i < 14 else 2]
        user = fleet.owner(dept)
        # Cloud PC names are CPC-<first five of the UPN>-<five random>.
        name = f"CPC-{user['mailNickname'].replace('.', '')[:5]}-{alnum(5)}"
        hybrid = policy == "CPC-Engineering-Policy" and i % 2 == 0
        fleet.add(
            "Windows 365 Cloud PC",
            graph_device(
                name=name,
                os_="Windows",
                osv=rng.choice(WIN11_24H2 + WIN11_23H2),
                manufacturer="Microsoft Corporation",
                model=model,
                trust="ServerAd" if hybrid else "AzureAd",
                ids=windows_ids(user),
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                profile=policy,
                ext={1: cc} if cc else {},
                since=day(2024, 2, 1),
                hybrid=hybrid,
            ),
        )


def build_hybrid(fleet: Fleet) -> None:
    # Older on-premises fleet: domain-joined, synced by Entra Connect, named
    # by site, and never registered in Autopilot.
    sites = ["NLAMS", "NLUTR", "USSEA", "USNYC", "UKLON", "UKMAN"]
    hardware = [
        (("Dell Inc.", "OptiPlex 7010"), 6),
        (("Dell Inc.", "Latitude 5540"), 4),
        (("HP", "HP EliteDesk 800 G6 Desktop Mini PC"), 3),
        (("Hewlett-Packard", "HP EliteDesk 800 G2 SFF"), 3),
        (("LENOVO", "20XW0055MH"), 2),  # ThinkPad T14 Gen 2
    ]
    for i in range(47):
        if i < 24:
            mgmt, mdm, kind = "MDM", CONFIGMGR, "Hybrid joined PC, co-managed"
        elif i < 31:
            mgmt, mdm, kind = "MDM", INTUNE, "Hybrid joined PC, Intune only"
        elif i < 34:
            mgmt, mdm, kind = "MDM", CONFIGMGR, "Hybrid joined shared PC"
        else:
            mgmt, mdm, kind = None, None, "Hybrid joined PC, not enrolled"
        if i == 45:
            manu, model = "VMware, Inc.", "VMware20,1"
            kind = "Hybrid joined virtual machine"
        elif i == 46:
            manu, model = "Microsoft Corporation", "Virtual Machine"
            kind = "Hybrid joined virtual machine"
        else:
            manu, model = pick(hardware)
        shared = kind == "Hybrid joined shared PC"
        old = manu == "Hewlett-Packard" or rng.random() < 0.6
        fleet.add(
            kind,
            graph_device(
                name=f"{rng.choice(sites)}-WS{rng.randint(1000, 9999)}",
                os_="Windows",
                osv=rng.choice(WIN10 if old else WIN11_23H2),
                manufacturer=manu,
                model=model,
                trust="ServerAd",
                ids=windows_ids(None if shared else fleet.owner()),
                ownership="company",
                mgmt=mgmt,
                mdm=mdm,
                profile_type="Shared" if shared else "RegisteredDevice",
                category="Shared desktop" if shared else None,
                enabled=i != 40,
                since=day(2020, 5, 1),
                hybrid=True,
            ),
        )


def build_entra_joined(fleet: Fleet) -> None:
    # Joined by hand through Settings > Accounts before Autopilot existed
    # at Contoso, or bought locally; they keep their OEM names.
    hardware = [
        ("ASUSTeK COMPUTER INC.", "ASUS Zenbook 14 UX3405MA"),
        ("Acer", "Swift Go SFG14-71"),
        ("Dell Inc.", "XPS 13 9340"),
        ("LENOVO", "21HD0053US"),
        ("Microsoft Corporation", "Surface Pro 9"),
    ]
    for i in range(11):
        manu, model = hardware[i % len(hardware)]
        name = random_pc_name()
        user = fleet.owner()
        if i == 3:
            name, user = "İSTANBUL-DT-01", fleet.by_name["Çağla"]
        if i == 8:
            # ASCII spelling on purpose: under Unicode lower-casing "Istanbul"
            # and "İstanbul" are different strings.
            name, user = "Istanbul-KIOSK-01", fleet.by_name["Emre"]
        fleet.add(
            "Entra joined PC, not Autopilot",
            graph_device(
                name=name,
                os_="Windows",
                osv=rng.choice(WIN11_23H2 + WIN10),
                manufacturer=manu,
                model=model,
                trust="AzureAd",
                ids=windows_ids(user),
                ownership="company" if i % 3 else "unknown",
                mgmt="MDM",
                mdm=INTUNE,
                since=day(2021, 9, 1),
            ),
        )


def build_registered_windows(fleet: Fleet) -> None:
    # Personal PCs that only added a work account; no MDM.
    hardware = [
        ("Microsoft Corporation", "Surface Pro 9"),
        ("HP", "HP Pavilion Laptop 15-eg3xxx"),
        ("ASUSTeK COMPUTER INC.", "ROG Strix G16 G614JV"),
        ("Dell Inc.", "Inspiron 16 5630"),
        ("LENOVO", "82XV"),  # IdeaPad Slim 5
    ]
    for i in range(7):
        manu, model = hardware[i % len(hardware)]
        user = fleet.owner()
        name = random_pc_name()
        if i == 0:
            user = fleet.by_name["Zoë"]
            name = "Zoë's Surface"
        fleet.add(
            "Entra registered personal PC",
            graph_device(
                name=name,
                os_="Windows",
                osv=rng.choice(WIN11_24H2 + WIN11_23H2),
                manufacturer=manu,
                model=model,
                trust="Workplace",
                ids=windows_ids(user),
                ownership="personal",
                mgmt=None,
                mdm=None,
                category="BYOD",
            ),
        )


def build_apple(fleet: Fleet) -> None:
    iphones = ["iPhone 15", "iPhone 15", "iPhone 14", "iPhone 13", "iPhone 15 Pro"]
    # Corporate iPhones from Apple Business Manager. Entra reports most as
    # "iOS" but some as "iPhone", depending on how they first registered.
    for i in range(38):
        fleet.add(
            "Corporate iPhone (ADE)",
            graph_device(
                name=f"CON-IPH-{serial('apple')}",
                os_="iPhone" if i % 6 == 1 else "iOS",
                osv=rng.choice(["17.6.1", "18.1.1", "18.3.2", "18.3.2"]),
                manufacturer="Apple",
                model=rng.choice(iphones),
                trust="AzureAd",
                ids=[],
                ownership="company",
                # One phone also syncs mail through Exchange ActiveSync, which
                # turns its management type into easMdm.
                mgmt="easMdm" if i == 20 else "MDM",
                mdm=INTUNE,
                profile="DEP iPhones",
                category="Corporate phone",
                enabled=i not in (14, 29),
                since=day(2023, 1, 15),
            ),
        )
    for i in range(17):
        user = fleet.by_name["Rob"] if i == 0 else fleet.owner()
        mgmt = None if i % 4 == 3 else ("easMdm" if i % 5 == 1 else "MDM")
        fleet.add(
            "Personal iPhone",
            graph_device(
                name=f"{user['givenName']}'s iPhone",
                os_="iPhone" if i % 3 else "iOS",
                osv=rng.choice(["17.6.1", "18.2.1", "18.3.2"]),
                manufacturer="Apple",
                model=rng.choice(iphones),
                trust="Workplace",
                ids=[],
                ownership="personal",
                mgmt=mgmt,
                mdm=INTUNE if mgmt else None,
                category="BYOD",
            ),
        )
    for i in range(14):
        fleet.add(
            "Corporate iPad (ADE)",
            graph_device(
                name=f"CON-IPD-{serial('apple')}",
                os_="iPad" if i % 4 else "iOS",
                osv=rng.choice(["17.7.2", "18.3.1"]),
                manufacturer="Apple",
                model=rng.choice(["iPad Air", "iPad Air", "iPad (10th generation)"]),
                trust="AzureAd",
                ids=[],
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                profile="DEP iPads",
                category="Shared tablet",
            ),
        )
    macs = [("MacBookPro18,3", 5), ("MacBookAir10,1", 3), ("Mac14,2", 4)]
    for i in range(12):
        user = fleet.by_name["Chloé"] if i == 0 else fleet.owner("Engineering")
        model = pick(macs)
        fleet.add(
            "Mac",
            graph_device(
                name="Chloé's MacBook Air" if i == 0 else f"CON-MAC-{serial('apple')}",
                os_="MacMDM",
                osv=rng.choice(["14.7.4", "15.3.1", "15.3.1"]),
                manufacturer="Apple",
                model="MacBookAir10,1" if i == 0 else model,
                trust="AzureAd",
                ids=[],
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                profile="Contoso macOS ADE",
            ),
        )


def android_name(user: dict, flavour: str, t: datetime) -> str:
    # Intune names Android Enterprise devices <user>_<flavour>_<date time>.
    stamp = f"{t.month}/{t.day}/{t.year}_{(t.hour % 12) or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"
    return f"{user['mailNickname'].split('.')[0]}_{flavour}_{stamp}"


def build_android(fleet: Fleet) -> None:
    phones = [("samsung", "SM-G991B", 4), ("samsung", "SM-A546B", 3), ("Google", "Pixel 8", 2)]
    for i in range(21):
        user = fleet.owner("Operations" if i % 2 else None)
        manu, model = pick([((m, n), w) for m, n, w in phones])
        fleet.add(
            "Android Enterprise fully managed",
            graph_device(
                name=android_name(user, "AndroidEnterprise", when(day(2024, 1, 1), SNAPSHOT)),
                os_="AndroidEnterprise",
                osv=rng.choice(["14", "14", "15"]),
                manufacturer=manu,
                model=model,
                trust="AzureAd",
                ids=[],
                ownership="company",
                mgmt="MDM",
                mdm=INTUNE,
                profile="Contoso AE Fully Managed",
                category="Corporate phone",
            ),
        )
    for i in range(13):
        user = fleet.by_name["Łukasz"] if i == 0 else fleet.owner()
        manu, model = pick([((m, n), w) for m, n, w in phones] + [(("OnePlus", "CPH2449"), 1)])
        fleet.add(
            "Android work profile (personal)",
            graph_device(
                name=f"{user['givenName']}'s Galaxy" if i == 0 else android_name(user, "AndroidForWork", when(day(2023, 6, 1), SNAPSHOT)),
                os_="AndroidForWork",
                osv=rng.choice(["13", "14", "15"]),
                manufacturer=manu,
                model=model,
                trust="Workplace",
                ids=[],
                ownership="personal",
                mgmt="MDM",
                mdm=INTUNE,
                category="BYOD",
                rooted=(i == 7),  # flagged by compliance; kept for the record
            ),
        )
    # Legacy device-administrator registrations that were never cleaned up.
    for i in range(3):
        user = fleet.owner()
        fleet.add(
            "Android registered (legacy)",
            graph_device(
                name=f"{user['givenName']}'s Android",
                os_="Android",
                osv=rng.choice(["11", "12"]),
                manufacturer="samsung",
                model="SM-G973F",
                trust="Workplace",
                ids=[],
                ownership="personal",
                mgmt=None,
                mdm=None,
                since=day(2020, 2, 1),
            ),
        )


def build_sparse(fleet: Fleet) -> None:
    # Stub objects as Graph returns them for half-registered or orphaned
    # devices: most properties absent or explicitly null. Rules must treat
    # absent and null alike.
    stubs = [
        {"displayName": "DESKTOP-" + alnum(7), "accountEnabled": True, "operatingSystem": "Windows"},
        {"displayName": "DESKTOP-" + alnum(7), "accountEnabled": True, "operatingSystem": "Windows", "physicalIds": []},
        {
            "displayName": "WIN-" + alnum(11),
            "accountEnabled": False,
            "operatingSystem": "Windows",
            "operatingSystemVersion": None,
            "manufacturer": None,
            "model": None,
            "trustType": None,
            "deviceOwnership": None,
            "managementType": None,
            "mdmAppId": None,
            "profileType": None,
            "enrollmentProfileName": None,
            "extensionAttributes": None,
            "physicalIds": [],
            "systemLabels": [],
        },
        {"displayName": "iPhone", "accountEnabled": True, "operatingSystem": "iOS"},
        {"displayName": "Unknown device", "accountEnabled": True, "operatingSystem": None, "physicalIds": []},
        {"displayName": "Galaxy S21", "accountEnabled": True, "operatingSystem": "AndroidForWork", "isRooted": None},
    ]
    for stub in stubs:
        fleet.add("Sparse record", {"id": guid(), **stub})


# ---------------------------------------------------------------------------
# Groups, each with its rule and an independent Python predicate
# ---------------------------------------------------------------------------
#
# Field access goes through the §2.1 mapping (rule property -> Graph field).
# The helpers encode the null rules once; each predicate then reads like its
# rule. Absent and null are the same thing here.


def field(d: dict, graph_name: str):
    return d.get(graph_name)


def ext(d: dict, n: int):
    return (d.get("extensionAttributes") or {}).get(f"extensionAttribute{n}")


def phys(d: dict) -> list[str]:
    return d.get("physicalIds") or []


def eq(v, want: str) -> bool:
    return isinstance(v, str) and v.lower() == want.lower()


def starts(v, prefix: str) -> bool:
    return isinstance(v, str) and v.lower().startswith(prefix.lower())


def isin(v, options: list[str]) -> bool:
    return isinstance(v, str) and v.lower() in {o.lower() for o in options}


def autopilot(d):
    return any(starts(x, "[ZTDId]") for x in phys(d))


def tagged(tag: str):
    def pred(d):
        return any(eq(x, f"[OrderID]:{tag}") for x in phys(d))

    return pred


def nl_prefix(d):
    return any(starts(x, "[OrderID]:NL-") for x in phys(d))


def laptop_tag(d):
    return any(re.search(r"^\[OrderID\]:.*-LT-.*", x, re.IGNORECASE) for x in phys(d))


def po_nl_2024(d):
    return any(eq(x, "[PurchaseOrderId]:4500187321") for x in phys(d))


def windows_not_autopilot(d):
    # -all over an empty or missing collection is true.
    return eq(field(d, "operatingSystem"), "Windows") and all(not starts(x, "[ZTDID]") for x in phys(d))


def kiosk(d):
    return any(eq(x, "[OrderID]:KIOSK-LOBBY") for x in phys(d)) or eq(field(d, "profileType"), "Shared")


def hololens(d):
    return eq(field(d, "model"), "HoloLens 2")


def cloud_pc(d):
    return starts(field(d, "model"), "Cloud PC")


def windows11_mdm(d):
    return (
        eq(field(d, "operatingSystem"), "Windows")
        and starts(field(d, "operatingSystemVersion"), "10.0.2")
        and eq(field(d, "managementType"), "MDM")
    )


def hp(d):
    return eq(field(d, "manufacturer"), "HP") or eq(field(d, "manufacturer"), "Hewlett-Packard")


def corporate_ios(d):
    os_ = field(d, "operatingSystem")
    return (
        eq(field(d, "managementType"), "MDM")
        and eq(field(d, "deviceOwnership"), "Company")
        and (eq(os_, "iOS") or eq(os_, "iPhone") or eq(os_, "iPad"))
    )


def android_enterprise(d):
    return starts(field(d, "operatingSystem"), "AndroidEnterprise")


def co_managed(d):
    return eq(field(d, "mdmAppId"), CONFIGMGR)


def disabled(d):
    return field(d, "accountEnabled") is False


def windows_other_oem(d):
    # -notIn on a null manufacturer is true.
    return eq(field(d, "operatingSystem"), "Windows") and not isin(
        field(d, "manufacturer"), ["Dell Inc.", "HP", "Hewlett-Packard", "LENOVO"]
    )


def autopilot_not_saw(d):
    return autopilot(d) and not eq(ext(d, 15), "SAW")


def finance_cost_centres(d):
    return isin(ext(d, 1), ["CC-1020", "CC-1045"])


def istanbul(d):
    return starts(field(d, "displayName"), "İstanbul")


def every_device(d):
    return field(d, "id") is not None


GROUPS = [
    ("All devices", "Every device object in the tenant; a sanity check for inventory loading.",
     "device.objectId -ne null", every_device),
    ("Autopilot - All devices", "Every device registered with Windows Autopilot.",
     '(device.devicePhysicalIDs -any (_ -startsWith "[ZTDId]"))', autopilot),
    ("Autopilot - NL-LT-FIN", "Finance laptops in the Netherlands, by Autopilot group tag.",
     '(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-FIN"))', tagged("NL-LT-FIN")),
    ("Autopilot - NL-LT-HR", "HR laptops in the Netherlands, by Autopilot group tag.",
     '(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-HR"))', tagged("NL-LT-HR")),
    ("Autopilot - NL-DT-FIN", "Finance desktops in the Netherlands, by Autopilot group tag.",
     '(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-DT-FIN"))', tagged("NL-DT-FIN")),
    ("Autopilot - US-DT-ENG", "Engineering desktops in the United States, by Autopilot group tag.",
     '(device.devicePhysicalIds -any (_ -eq "[OrderID]:US-DT-ENG"))', tagged("US-DT-ENG")),
    ("Autopilot - US-LT-SALES", "Sales laptops in the United States, by Autopilot group tag.",
     '(device.devicePhysicalIds -any (_ -eq "[OrderID]:US-LT-SALES"))', tagged("US-LT-SALES")),
    ("Autopilot - UK-LT-OPS", "Operations laptops in the United Kingdom (bare -any form, as in the Entra docs).",
     'device.devicePhysicalIds -any _ -eq "[OrderID]:UK-LT-OPS"', tagged("UK-LT-OPS")),
    ("Autopilot - Netherlands", "Every Dutch Autopilot device, by group-tag prefix.",
     '(device.devicePhysicalIds -any (_ -startsWith "[OrderID]:NL-"))', nl_prefix),
    ("Autopilot - All laptops", "Every Autopilot device whose group tag has the LT form factor.",
     r'(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:.*-LT-.*"))', laptop_tag),
    ("Autopilot - PO 4500187321", "Devices bought on the 2024 Netherlands refresh purchase order.",
     '(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:4500187321"))', po_nl_2024),
    ("Windows devices not in Autopilot", "Windows devices with no Autopilot registration, to chase for import.",
     '(device.deviceOSType -eq "Windows") and (device.devicePhysicalIDs -all (_ -notStartsWith "[ZTDID]"))',
     windows_not_autopilot),
    ("Kiosks", "Lobby kiosks by group tag, plus any shared-mode device.",
     '(device.devicePhysicalIds -any (_ -eq "[OrderID]:KIOSK-LOBBY")) -or (device.profileType -eq "Shared")', kiosk),
    ("HoloLens 2", "HoloLens 2 headsets.",
     'device.deviceModel -eq "HoloLens 2"', hololens),
    ("Cloud PCs", "Windows 365 Cloud PCs.",
     '(device.deviceModel -startsWith "Cloud PC")', cloud_pc),
    ("Windows 11 - Intune managed", "Windows 11 (build 2xxxx) devices enrolled in MDM.",
     '(device.deviceOSType -eq "Windows") and (device.deviceOSVersion -startsWith "10.0.2") and (device.managementType -eq "MDM")',
     windows11_mdm),
    ("HP devices", "HP hardware under either manufacturer string.",
     '(device.deviceManufacturer -eq "HP") or (device.deviceManufacturer -eq "Hewlett-Packard")', hp),
    ("Corporate iOS and iPadOS", "Company-owned, MDM-enrolled iPhones and iPads.",
     '(device.managementType -eq "MDM") and (device.deviceOwnership -eq "Company") and ((device.deviceOSType -eq "iOS") or (device.deviceOSType -eq "iPhone") or (device.deviceOSType -eq "iPad"))',
     corporate_ios),
    ("Android Enterprise", "Android Enterprise fully managed and dedicated devices.",
     'device.deviceOSType -startsWith "AndroidEnterprise"', android_enterprise),
    ("Co-managed", "Windows devices whose management authority is Configuration Manager co-management.",
     '(device.deviceManagementAppId -eq "54b943f8-d761-4f8d-951e-9cea1846db5a")', co_managed),
    ("Disabled devices", "Device objects that have been disabled, for clean-up review.",
     "device.accountEnabled -eq false", disabled),
    ("Windows - Other manufacturers", "Windows devices not made by Contoso's three standard OEMs.",
     '(device.deviceOSType -eq "Windows") and (device.deviceManufacturer -notIn ["Dell Inc.", "HP", "Hewlett-Packard", "LENOVO"])',
     windows_other_oem),
    ("Autopilot - Standard workstations", "Autopilot devices that are not privileged access workstations.",
     '(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and -not (device.extensionAttribute15 -eq "SAW")',
     autopilot_not_saw),
    ("Finance cost centres", "Devices charged to the Finance cost centres.",
     'device.extensionAttribute1 -in ["CC-1020", "CC-1045"]', finance_cost_centres),
    ("İstanbul office", "Devices named after the İstanbul office (Unicode display names).",
     'device.displayName -startsWith "İstanbul"', istanbul),
]


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def toml_basic(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings


def write_groups(path: Path) -> None:
    lines = [
        "# Dynamic device groups for the Contoso example tenant.",
        "# Rules are TOML literal strings ('''…''') so backslashes and quotes reach fleetlab unchanged.",
        "# Generated by make_inventory.py; expected.json lists each group's members.",
    ]
    for name, description, rule, _ in GROUPS:
        assert "'''" not in rule and "\n" not in rule
        lines += ["", "[[group]]", f"name = {toml_basic(name)}", f"description = {toml_basic(description)}",
                  f"rule = '''{rule}'''"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    users = make_users()
    fleet = Fleet(users)
    build_autopilot(fleet)
    build_hololens(fleet)
    build_cloud_pcs(fleet)
    build_hybrid(fleet)
    build_entra_joined(fleet)
    build_registered_windows(fleet)
    build_apple(fleet)
    build_android(fleet)
    build_sparse(fleet)

    # Graph pages are not sorted by kind; mix them so results are checked
    # in inventory order rather than in build order.
    order = list(range(len(fleet.devices)))
    rng.shuffle(order)
    devices = [fleet.devices[i] for i in order]
    kinds = [fleet.kinds[i] for i in order]

    write_json(HERE / "devices.json", {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#devices", "value": devices})
    write_json(HERE / "users.json", {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": users})
    write_groups(HERE / "groups.toml")

    expected = {name: [d["id"] for d in devices if pred(d)] for name, _, _, pred in GROUPS}
    write_json(HERE / "expected.json", expected)

    check(devices, expected)
    report(devices, kinds, users, expected)


def check(devices: list[dict], expected: dict[str, list[str]]) -> None:
    # Re-read what was written, so a bad escape in the TOML writer shows up here.
    groups = tomllib.loads((HERE / "groups.toml").read_text(encoding="utf-8"))["group"]
    assert [(g["name"], g["rule"]) for g in groups] == [(n, r) for n, _, r, _ in GROUPS]
    json.loads((HERE / "devices.json").read_text(encoding="utf-8"))
    assert len({d["id"] for d in devices}) == len(devices), "duplicate device id"
    for name, members in expected.items():
        assert members, f"{name} matches nothing"
        if name != "All devices":
            assert len(members) < len(devices), f"{name} matches every device"


def report(devices, kinds, users, expected) -> None:
    print(f"{len(devices)} devices, {len(users)} users "
          f"({sum(u['userType'] == 'Guest' for u in users)} guests), {len(expected)} groups\n")
    print("Device mix:")
    for kind, n in sorted(Counter(kinds).items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:4}  {kind}")
    print(f"\n  {sum(not d['accountEnabled'] for d in devices):4}  of them disabled")
    print("\nExpected members per group:")
    for name, members in expected.items():
        print(f"  {len(members):4}  {name}")


if __name__ == "__main__":
    main()
