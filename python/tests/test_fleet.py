"""fleetlab.Fleet against the CLI's answers on the bundled Contoso tenant."""

import json
import threading

import pytest

import fleetlab

ZTD = 'device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")'


@pytest.fixture(scope="module")
def fleet(devices_path):
    return fleetlab.Fleet.load(devices_path)


def test_load_counts_and_orders_like_the_inventory(fleet, devices):
    assert len(fleet) == 401
    assert fleet.ids == [d["id"] for d in devices]


def test_eval_is_the_cli_eval(cli, fleet):
    code, out = cli("eval", "--devices", "scenarios/contoso/devices.json", "--rule", ZTD)
    assert code == 0
    ids = fleet.eval(ZTD)
    assert ids == out.split()
    assert len(ids) == 194
    assert fleet.eval(fleetlab.Rule(ZTD)) == ids


def test_every_layout_loads_the_same_fleet(tmp_path, cli, fleet, devices):
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"@odata.context": "x", "value": devices}), encoding="utf-8")
    lines = tmp_path / "devices.jsonl"
    lines.write_text("\n".join(json.dumps(d) for d in devices) + "\n", encoding="utf-8")
    packed = tmp_path / "devices.fleet"
    code, _ = cli("inventory", "pack", "scenarios/contoso/devices.json", "-o", str(packed))
    assert code == 0
    expected = fleet.eval(ZTD)
    for path in (page, lines, str(packed)):
        other = fleetlab.Fleet.load(path)
        assert other.ids == fleet.ids
        assert other.eval(ZTD) == expected


def test_from_records_is_load(fleet, devices):
    built = fleetlab.Fleet.from_records(devices)
    assert built.ids == fleet.ids
    assert built.eval(ZTD) == fleet.eval(ZTD)


def test_eval_groups_from_a_file_is_the_cli(cli, fleet, groups_path):
    code, out = cli(
        "eval", "--devices", "scenarios/contoso/devices.json",
        "--groups", "scenarios/contoso/groups.toml", "--format", "json",
    )
    assert code == 0
    expected = {g["name"]: g["members"] for g in json.loads(out)["groups"]}
    got = fleet.eval_groups(groups_path)
    assert list(got) == list(expected)
    assert got == expected
    assert fleet.eval_groups(str(groups_path)) == expected


def test_eval_groups_from_a_dict_keeps_its_order(fleet):
    groups = {"Autopilot": ZTD, "Windows": fleetlab.Rule('device.deviceOSType -eq "Windows"')}
    got = fleet.eval_groups(groups)
    assert list(got) == ["Autopilot", "Windows"]
    assert got["Autopilot"] == fleet.eval(ZTD)
    assert got["Windows"] == fleet.eval('device.deviceOSType -eq "Windows"')


def test_a_broken_group_rule_names_the_group(fleet):
    with pytest.raises(fleetlab.RuleError) as info:
        fleet.eval_groups({"fine": ZTD, "broken": "device.colour -eq 1"})
    assert info.value.group == "broken"
    assert info.value.code == "unknown-property"


def test_user_rules_are_refused_by_a_device_fleet(fleet):
    with pytest.raises(ValueError):
        fleet.eval('user.department -eq "Sales"')


def test_unreadable_and_malformed_inventories(tmp_path):
    with pytest.raises(OSError):
        fleetlab.Fleet.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "a", "accountEnabled": "yes"}]', encoding="utf-8")
    with pytest.raises(ValueError, match="accountEnabled"):
        fleetlab.Fleet.load(bad)
    with pytest.raises(ValueError, match="record 1"):
        fleetlab.Fleet.from_records([{"id": "a"}, {"id": "b", "accountEnabled": "yes"}])


def test_threads_share_a_fleet(fleet):
    # Evaluation runs without the GIL; concurrent callers must see the same answers.
    expected = fleet.eval(ZTD)
    results = []

    def work():
        for _ in range(5):
            results.append(fleet.eval(ZTD))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    assert all(r == expected for r in results)
