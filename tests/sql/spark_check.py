#!/usr/bin/env python3
"""Manual check: Spark SQL selects the devices `fleetlab eval` selects.

Runs the fixed corpus -- the Contoso groups (scenarios/contoso/groups.toml)
and the spec corpus (tests/sql/corpus.txt) -- over the Contoso devices plus
the hand-written corner cases (tests/sql/adversarial-devices.json): the
inventory goes through `fleetlab inventory export` (Parquet), each rule
through `fleetlab sql --dialect spark`, and the ids Spark returns are
compared with `fleetlab eval` on the same inventory.

Not part of CI: Spark needs a JVM (Java 17 or newer) and the 400 MB pyspark
package. Typical use, from the repository root:

    python3 -m venv /tmp/spark-venv && /tmp/spark-venv/bin/pip install pyspark
    cargo build
    /tmp/spark-venv/bin/python tests/sql/spark_check.py --fleetlab target/debug/fleetlab

Exits 0 when every rule agrees, 1 otherwise (each disagreement printed).
The ignored tests in tests/it/sql.rs (`FLEETLAB_SPARK_PYTHON=… cargo test
-- --ignored spark`) cover the same corpus plus random rules; this script
needs no test build and checks the command line end to end.
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def fleetlab(binary, *args):
    """fleetlab's standard output; its error output and status on failure."""
    done = subprocess.run([binary, *args], capture_output=True, text=True, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"fleetlab {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def corpus(groups_file, corpus_file):
    """(label, rule) pairs: every group of the group file, then the corpus lines."""
    with open(groups_file, "rb") as f:
        groups = tomllib.load(f).get("group", [])
    rules = [(f"group {g['name']!r}", g["rule"]) for g in groups]
    for n, line in enumerate(pathlib.Path(corpus_file).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            rules.append((f"corpus line {n}", line))
    return rules


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleetlab", default=shutil.which("fleetlab") or "fleetlab",
                        help="the fleetlab binary (default: fleetlab on PATH)")
    parser.add_argument("--devices", default=ROOT / "scenarios/contoso/devices.json")
    parser.add_argument("--extra-devices", default=ROOT / "tests/sql/adversarial-devices.json",
                        help="a JSON array of devices added to --devices ('' for none)")
    parser.add_argument("--groups", default=ROOT / "scenarios/contoso/groups.toml")
    parser.add_argument("--corpus", default=ROOT / "tests/sql/corpus.txt")
    args = parser.parse_args()

    from pyspark.sql import SparkSession  # late: --help works without pyspark

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        data = json.loads(pathlib.Path(args.devices).read_text(encoding="utf-8"))
        devices = data["value"] if isinstance(data, dict) else data
        if args.extra_devices:
            devices += json.loads(pathlib.Path(args.extra_devices).read_text(encoding="utf-8"))
        inventory = tmp / "devices.json"
        inventory.write_text(json.dumps(devices), encoding="utf-8")
        parquet = tmp / "devices.parquet"
        fleetlab(args.fleetlab, "inventory", "export", str(inventory), "--format", "parquet", "-o", str(parquet))

        rules = corpus(args.groups, args.corpus)
        cases = []
        for label, rule in rules:
            sql = fleetlab(args.fleetlab, "sql", "--dialect", "spark", "--rule", rule).strip().rstrip(";")
            want = sorted(fleetlab(args.fleetlab, "eval", "--devices", str(inventory), "--rule", rule).split())
            cases.append((label, rule, sql, want))

        spark = (SparkSession.builder.master("local[1]")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.shuffle.partitions", "1")
                 .getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        spark.read.parquet(str(parquet)).createOrReplaceTempView("devices")
        failed = 0
        for label, rule, sql, want in cases:
            try:
                got = sorted(str(row[0]) for row in spark.sql(sql).collect())
            except Exception as e:  # noqa: BLE001 -- reported, and counted as a failure
                got = f"error: {str(e)[:2000]}"
            if got != want:
                failed += 1
                print(f"{label}: {rule}\n  fleetlab: {want}\n  spark:    {got}\n  sql: {sql}\n")
        selecting = sum(1 for case in cases if case[3])
        print(f"Spark {spark.version}, {len(devices)} devices, {len(cases)} rules ({selecting} select a device)")
        spark.stop()
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
