"""Shared fixtures: the bundled Contoso scenario and the fleetlab CLI to compare with."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTOSO = ROOT / "scenarios" / "contoso"


def _cli_path():
    """The fleetlab binary: $FLEETLAB_BIN, then the target dir's debug build, then PATH."""
    explicit = os.environ.get("FLEETLAB_BIN")
    if explicit:
        return explicit
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for build in ("debug", "release"):
        candidate = target / build / "fleetlab"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("fleetlab")


@pytest.fixture(scope="session")
def cli():
    """Runs the fleetlab CLI from the repository root; returns (exit code, stdout)."""
    path = _cli_path()
    if path is None:
        pytest.skip("no fleetlab binary (set FLEETLAB_BIN or run `cargo build` first)")

    def run(*args):
        done = subprocess.run([path, *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout

    return run


@pytest.fixture(scope="session")
def devices_path():
    return CONTOSO / "devices.json"


@pytest.fixture(scope="session")
def groups_path():
    return CONTOSO / "groups.toml"


@pytest.fixture(scope="session")
def devices(devices_path):
    """The device records (the file is a Graph page)."""
    page = json.loads(devices_path.read_text(encoding="utf-8"))
    return page["value"]
