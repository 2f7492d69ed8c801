"""fleetlab.Rule and fleetlab.check against the CLI's answers."""

import json

import pytest

import fleetlab

AUTOPILOT = '(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))'

INVALID = [
    'device.deviceOSType –eq "Windows"',
    'device.colour -eq "red"',
    'device.deviceOSType -eq',
    'device.devicePhysicalIds -eq "x" -and user.department -eq "y"',
    'device.deviceOSType -match "(unclosed"',
    "",
]


def test_canonical_form_is_the_cli_fmt(cli):
    text = 'device.deviceostype eq "Windows" and device.accountenabled eq TRUE'
    code, out = cli("fmt", "--rule", text)
    assert code == 0
    assert fleetlab.Rule(text).canonical == out.strip()
    assert fleetlab.Rule(text).canonical == '(device.deviceOSType -eq "Windows") -and (device.accountEnabled -eq true)'


@pytest.mark.parametrize("text", INVALID)
def test_invalid_rule_raises_value_error_like_cli_check(cli, text):
    code, out = cli("check", "--rule", text, "--format", "json")
    assert code == 1
    expected = json.loads(out)["errors"]
    with pytest.raises(ValueError) as info:
        fleetlab.Rule(text)
    err = info.value
    assert isinstance(err, fleetlab.RuleError)
    first = expected[0]
    assert err.code == first["code"]
    assert err.message == first["message"]
    assert err.help == first["help"]
    assert err.span == (first["span"]["start"], first["span"]["end"])
    assert (err.line, err.column) == (first["line"], first["column"])
    assert [e["code"] for e in err.errors] == [e["code"] for e in expected]
    assert err.code in str(err)


@pytest.mark.parametrize("text", INVALID)
def test_check_lists_the_cli_errors(cli, text):
    _, out = cli("check", "--rule", text, "--format", "json")
    expected = json.loads(out)["errors"]
    got = fleetlab.check(text)
    assert [d["severity"] for d in got] == ["error"] * len(expected)
    for d in got:
        del d["severity"]
    assert got == expected


def test_check_of_a_clean_rule_is_empty():
    assert fleetlab.check(AUTOPILOT) == []


def test_lenient_accepts_an_en_dash():
    rule = fleetlab.Rule('device.deviceOSType –eq "Windows"', lenient=True)
    assert rule.canonical == 'device.deviceOSType -eq "Windows"'


def test_strict_warns_about_casing_like_the_cli(cli):
    text = 'device.deviceostype -eq "Windows"'
    code, out = cli("check", "--rule", text, "--strict", "--format", "json")
    assert code == 0
    expected = json.loads(out)["warnings"]
    got = fleetlab.Rule(text, strict=True).warnings
    assert [w.pop("severity") for w in got] == ["warning"]
    assert got == expected
    assert [d["code"] for d in fleetlab.check(text, strict=True)] == ["non-canonical-name"]


def test_object_type_is_enforced():
    with pytest.raises(fleetlab.RuleError):
        fleetlab.Rule('user.department -eq "Sales"', object="device")
    assert fleetlab.Rule('user.department -eq "Sales"').object == "user"
    with pytest.raises(ValueError):
        fleetlab.Rule("device.accountEnabled -eq true", object="printer")


def test_matches_a_dict_record():
    rule = fleetlab.Rule(AUTOPILOT)
    assert rule.matches({"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]})
    assert not rule.matches({"id": "b", "operatingSystem": "Windows", "physicalIds": ["[HWID]:h:1"]})
    assert not rule.matches({"id": "c"})
    assert fleetlab.Rule("device.accountEnabled -eq true").matches({"id": "d", "accountEnabled": True})
    assert fleetlab.Rule('user.department -eq "Sales"').matches({"id": "u", "department": "sales"})


def test_matches_agrees_with_the_cli_on_every_contoso_device(cli, devices):
    code, out = cli("eval", "--devices", "scenarios/contoso/devices.json", "--rule", AUTOPILOT)
    assert code == 0
    rule = fleetlab.Rule(AUTOPILOT)
    assert [d["id"] for d in devices if rule.matches(d)] == out.split()


def test_explain_is_the_cli_explain_json(cli, devices):
    device = next(d for d in devices if d.get("displayName") == "NLUTR-WS1116")
    code, out = cli(
        "explain", "--devices", "scenarios/contoso/devices.json", "--device", "NLUTR-WS1116",
        "--rule", AUTOPILOT, "--format", "json",
    )
    assert code == 0
    # The CLI reads the device back from its columnar index, which groups
    # collection items by prefix; the dict keeps the record's order.
    assert _unordered(fleetlab.Rule(AUTOPILOT).explain(device)) == _unordered(json.loads(out))
    assert fleetlab.Rule(AUTOPILOT).explain(device)["expressionResult"] is False


def _unordered(tree):
    """The explanation with collection items and per-item details sorted."""
    if isinstance(tree, dict):
        return {k: _unordered(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return sorted((_unordered(v) for v in tree), key=lambda v: json.dumps(v, sort_keys=True))
    return tree


def test_badly_typed_record_names_the_field():
    with pytest.raises(ValueError, match="accountEnabled"):
        fleetlab.Rule("device.accountEnabled -eq true").matches({"id": "a", "accountEnabled": "yes"})


@pytest.mark.parametrize(
    "record",
    [{"id": object()}, {1: "x"}, "not a record", {"id": "a", "physicalIds": [float("nan")]}],
)
def test_non_json_records_are_value_errors(record):
    with pytest.raises(ValueError):
        fleetlab.Rule("device.accountEnabled -eq true").matches(record)


def test_deep_nesting_is_refused_not_a_crash():
    deep = {"id": "a"}
    node = deep
    for _ in range(10_000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ValueError, match="nested"):
        fleetlab.Rule("device.accountEnabled -eq true").matches(deep)
