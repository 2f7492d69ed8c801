"""End-to-end rows of the peer benchmark: from the file on disk to the answer,
fleetlab and DuckDB as whole processes, side by side in one run.

    python3 benches/peers/peers.py --end-to-end --devices 2000000 --threads 2

Rows (canonical Autopilot rule, `--threads` worker threads, `--runs` runs each,
median wall time, median CPU seconds and the largest peak RSS reported;
`/usr/bin/time -v`). The two engines' runs alternate, and the input file is
read once before every run, so both start from a warm page cache on a machine
that reclaims it between runs and neither gains from running second:

* JSON Lines -> answer: `fleetlab eval --devices fleet.jsonl --rule R` printing
  the matching ids, against DuckDB selecting the same ids with `read_json_auto`
  (it reads only the columns the query names: id, operatingSystem, physicalIds);
* packed -> answer: `fleetlab eval --devices fleet.fleet --rule R` (the
  memory-mapped pack), against DuckDB selecting the ids from fleetlab's own
  Parquet export (`fleetlab inventory export --format parquet`);
* 50 groups -> membership JSON: `fleetlab eval --devices fleet.fleet --groups
  scenarios/enterprise/groups.toml --format json -o out.json`, reported as MB/s
  of output over the whole process and over the write phase alone.

Every answer (the set of ids) is checked against DuckDB's on the Parquet file. The load average is
printed next to the figures: the machine may be shared.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

RULE = '(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))'
WHERE = (
    "lower(operatingSystem) = 'windows' "
    "AND list_bool_or(list_transform(physicalIds, lambda x: starts_with(lower(x), '[ztdid]')))"
)

# Both engines answer with the matching ids, one per line, as
# `fleetlab eval --rule` prints them; DuckDB reads the three columns the
# query names (id, operatingSystem, physicalIds) and nothing else.
DUCKDB = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads = {threads}")
con.execute("SET enable_progress_bar = false")
rows = con.execute("SELECT CAST(id AS VARCHAR) FROM {reader}(?) WHERE {where}", [sys.argv[1]]).fetchall()
sys.stdout.write("".join(r[0] + "\\n" for r in rows))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed_process(cmd: list[str], stdout=subprocess.PIPE, env=None) -> tuple[float, int, float, str]:
    """Wall seconds, peak RSS in bytes and stdout of one whole process (CPU
    seconds, user + system, are logged: on a shared machine they move less
    than wall time)."""
    full = ["/usr/bin/time", "-v", *cmd]
    start = time.perf_counter()
    p = subprocess.run(full, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed ({p.returncode}):\n{p.stderr[-2000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) * 1024 if m else 0
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", p.stderr))
    log(f"  {wall:6.2f} s wall, {cpu:6.2f} s CPU, {rss / 2**20:5.0f} MiB: {' '.join(cmd[:4])[:90]}")
    return wall, rss, cpu, p.stdout if stdout == subprocess.PIPE else ""


def warm(path: Path) -> None:
    """Reads `path` once, so the run after it starts from the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def repeat(cmd: list[str], runs: int, check, stdout=subprocess.PIPE, env=None) -> tuple[float, int]:
    walls, rsss = [], []
    for _ in range(runs):
        wall, rss, _, out = timed_process(cmd, stdout=stdout, env=env)
        check(out)
        walls.append(wall)
        rsss.append(rss)
    return statistics.median(walls), max(rsss)


def paired(ours: list[str], theirs: list[str], path: Path, runs: int, check_ours, check_theirs, env):
    """Alternated runs of both commands on the warmed `path`: (median wall,
    peak RSS, median CPU) of each."""
    results = {0: [], 1: []}
    for _ in range(runs):
        for k, (cmd, check, e) in enumerate([(ours, check_ours, env), (theirs, check_theirs, None)]):
            warm(path)
            wall, rss, cpu, out = timed_process(cmd, env=e)
            check(out)
            results[k].append((wall, rss, cpu))
    summary = []
    for k in (0, 1):
        walls, rsss, cpus = zip(*results[k])
        summary.append((statistics.median(walls), max(rsss), statistics.median(cpus)))
    return summary


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run(binary: Path, target: Path, root: Path, devices: int, threads: int, runs: int, python: str) -> int:
    jsonl = target / f"e2e-fleet-{devices}.jsonl"
    packed = target / f"e2e-fleet-{devices}.fleet"
    parquet = target / f"e2e-fleet-{devices}.parquet"
    groups = root / "scenarios" / "enterprise" / "groups.toml"
    out_json = target / "e2e-membership.json"
    if not jsonl.exists():
        log(f"generating {jsonl}")
        subprocess.run([str(binary), "generate", "--devices", str(devices), "--seed", "1", "-o", str(jsonl)],
                       check=True)
    if not packed.exists() or packed.stat().st_mtime < binary.stat().st_mtime:
        log(f"packing {packed}")
        subprocess.run([str(binary), "inventory", "pack", str(jsonl), "-o", str(packed)], check=True)
    if not parquet.exists():
        log(f"exporting {parquet}")
        subprocess.run([str(binary), "inventory", "export", str(packed), "--format", "parquet", "-o",
                        str(parquet)], check=True)

    duck_json = [python, "-c", DUCKDB.format(threads=threads, where=WHERE, reader="read_json_auto"), str(jsonl)]
    duck_parquet = [python, "-c", DUCKDB.format(threads=threads, where=WHERE, reader="read_parquet"), str(parquet)]
    expected = sorted(subprocess.run(duck_parquet, check=True, stdout=subprocess.PIPE, text=True).stdout.split())
    answer = len(expected)

    def duck_check(out: str) -> None:
        if sorted(out.split()) != expected:
            raise SystemExit(f"DuckDB answered {len(out.split())} ids, expected {answer}")

    def ids_check(out: str) -> None:
        if sorted(out.split()) != expected:
            raise SystemExit(f"fleetlab printed {len(out.split())} ids, DuckDB {answer}: they differ")

    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    fl = lambda inv: [str(binary), "eval", "--devices", str(inv), "--rule", RULE, "--threads", str(threads)]
    rows = []
    log(f"load average before: {loadavg()}")
    for name, ours, theirs, path in [
        ("JSON Lines -> answer", fl(jsonl), duck_json, jsonl),
        ("packed .fleet / Parquet -> answer", fl(packed), duck_parquet, parquet),
    ]:
        (fw, fr, fc), (dw, dr, dc) = paired(ours, theirs, path, runs, ids_check, duck_check, env)
        rows.append((name, fw, fr, fc, dw, dr, dc))
    cmd = [str(binary), "eval", "--devices", str(packed), "--groups", str(groups), "--format", "json",
           "-o", str(out_json), "--threads", str(threads)]
    wall, rss = repeat(cmd, runs, lambda _: None, env=env)
    size = out_json.stat().st_size
    # The write phase alone: the same run with the table format (no output)
    # subtracted from the JSON run.
    table_cmd = cmd[:cmd.index("--format")] + ["--format", "table", "--threads", str(threads)]
    base, _ = repeat(table_cmd, runs, lambda _: None, env=env)
    load_after = loadavg()

    print()
    print(f"End to end, {devices} devices, canonical Autopilot rule, {threads} threads, "
          f"median of {runs} whole-process runs; answer {answer} matches")
    print(f"load average (1, 5, 15 min) at the end: {load_after}")
    print()
    print("| Path | fleetlab | DuckDB (Python) | fleetlab faster by | peak RSS fleetlab / DuckDB |")
    print("|---|---|---|---|---|")
    for name, fw, fr, fc, dw, dr, dc in rows:
        print(f"| {name} | {fw:.2f} s ({fc:.2f} CPU s), {fr / 2**20:.0f} MiB | {dw:.2f} s ({dc:.2f} CPU s), "
              f"{dr / 2**20:.0f} MiB | {dw / fw:.1f}x | {fr / max(dr, 1):.2f} |")
    write = max(wall - base, 1e-9)
    print(f"| 50 groups, --format json -o ({size / 1e9:.2f} GB) | {wall:.2f} s, {rss / 2**20:.0f} MiB: "
          f"{size / 1e6 / wall:.0f} MB/s whole process, {size / 1e6 / write:.0f} MB/s writing "
          f"({write:.2f} s over the same run without output) | - | - | - |")
    out_json.unlink(missing_ok=True)
    return 0
