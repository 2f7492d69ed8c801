#!/usr/bin/env python3
"""The whole peer benchmark in one command: DuckDB and Polars here, then the
Rust engines (`cargo bench --bench peers`), in one side-by-side table.

    python3 benches/peers/peers.py --devices 2000000

The rule is the canonical Autopilot rule

    (device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))

i.e. lower(operatingSystem) = 'windows' and some physicalIds entry, lower-cased,
starts with '[ztdid]'; a null operatingSystem or physicalIds does not match.

What it does:

1. creates the virtualenv target/peers-venv if missing, installs
   benches/peers/requirements.txt into it (again whenever that file changes)
   and re-runs itself inside it;
2. builds target/release/fleetlab (`cargo build --release`; a no-op when up
   to date) and generates the fleet with
   `fleetlab generate --devices N --seed 1 -o target/peers-fleet.jsonl`,
   the same bytes the Rust benchmark generates in process;
3. for each engine and thread count, in a worker process of its own (Polars
   fixes its thread pool when imported): loads the fleet (not timed), counts
   the matches of the whole fleet and of its first --subset devices, then
   times the query: one warm-up run, the median of --runs runs;
4. runs `cargo bench --bench peers --features peers` with the same size
   (FLEETLAB_BENCH_* variables) and reads its results back as JSON;
5. checks that every engine counted the same matches (exit 1 otherwise) and
   prints one table: ns/device and the ratio to the fleetlab reference
   evaluator (and to the columnar engine once it exists) at the same thread
   count.

--no-rust skips step 4; --no-cel-rhai runs the Rust benchmark without the
`peers` feature (no CEL and Rhai, no compiling them).

--end-to-end runs the end-to-end rows instead (benches/peers/end_to_end.py):
whole fleetlab and DuckDB processes, from the file on disk to the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The cargo target directory (CARGO_TARGET_DIR when set, as cargo uses it).
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
VENV = TARGET / "peers-venv"
REQUIREMENTS = HERE / "requirements.txt"
STAMP = VENV / ".requirements.txt"
FLEET = TARGET / "peers-fleet.jsonl"
RUST_JSON = TARGET / "peers-rust.json"
SEED = 1
REFERENCE = "fleetlab reference"
COLUMNAR = "fleetlab columnar"

DUCKDB_WHERE = (
    "lower(operatingSystem) = 'windows' "
    "AND list_bool_or(list_transform(physicalIds, lambda x: starts_with(lower(x), '[ztdid]')))"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The virtualenv
# ---------------------------------------------------------------------------


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv_and_reexec() -> None:
    """Create and fill target/peers-venv when needed, then re-exec inside it."""
    if in_venv():
        return
    python = venv_python()
    if not python.exists():
        log(f"creating {VENV.relative_to(ROOT)}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = REQUIREMENTS.read_text()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        log(f"installing {REQUIREMENTS.relative_to(ROOT)} into {VENV.relative_to(ROOT)}")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
        STAMP.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------------------
# Workers: one engine, loaded once, timed on one or more thread counts
# ---------------------------------------------------------------------------


def timed(run, expected: int, runs: int) -> int:
    """One warm-up run, then the median in ns of `runs` runs; each must count `expected`."""
    counts = [run()]
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        counts.append(run())
        times.append(time.perf_counter_ns() - start)
    if any(c != expected for c in counts):
        raise SystemExit(f"count changed while timing: {counts}, expected {expected}")
    return int(statistics.median(times))


def worker_duckdb(fleet: Path, threads: list[int], runs: int, subset: int) -> list[dict]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {max(threads)}")
    start = time.perf_counter()
    # Only the two columns the rule reads, typed; other keys are ignored.
    con.execute(
        "CREATE TABLE devices AS SELECT operatingSystem, physicalIds FROM read_json(?, "
        "format = 'newline_delimited', "
        "columns = {'operatingSystem': 'VARCHAR', 'physicalIds': 'VARCHAR[]'})",
        [str(fleet)],
    )
    load = time.perf_counter() - start
    n = con.execute("SELECT count(*) FROM devices").fetchone()[0]
    query = f"SELECT count(*) FROM devices WHERE {DUCKDB_WHERE}"

    def count() -> int:
        return con.execute(query).fetchone()[0]

    matches = count()
    # Insertion order is preserved, so rowid is the line number.
    subset_matches = con.execute(f"{query} AND rowid < {subset}").fetchone()[0]
    rows = []
    for t in threads:
        con.execute(f"SET threads = {t}")
        median = timed(count, matches, runs)
        rows.append(row("DuckDB", f"duckdb {duckdb.__version__}", t, n, matches, median, subset_matches, load))
    return rows


def worker_polars(fleet: Path, threads: list[int], runs: int, subset: int) -> list[dict]:
    # POLARS_MAX_THREADS was set by the parent before this process started.
    import polars as pl

    start = time.perf_counter()
    df = pl.read_ndjson(fleet, schema={"operatingSystem": pl.String, "physicalIds": pl.List(pl.String)})
    load = time.perf_counter() - start
    mask = (pl.col("operatingSystem").str.to_lowercase() == "windows") & pl.col("physicalIds").list.eval(
        pl.element().str.to_lowercase().str.starts_with("[ztdid]")
    ).list.any()

    def count_of(frame) -> int:
        # sum() skips nulls: a null operatingSystem or physicalIds is no match.
        return int(frame.select(mask.sum()).item() or 0)

    matches = count_of(df)
    subset_matches = count_of(df.head(subset))
    t = pl.thread_pool_size()
    if threads != [t]:
        raise SystemExit(f"polars runs on {t} threads, expected {threads}")
    median = timed(lambda: count_of(df), matches, runs)
    return [row("Polars", f"polars {pl.__version__}", t, df.height, matches, median, subset_matches, load)]


def row(engine, version, threads, devices, matches, median_ns, subset_matches, load_s) -> dict:
    return {
        "engine": engine,
        "version": version,
        "threads": threads,
        "devices": devices,
        "matches": matches,
        "ns_per_device": median_ns / devices,
        "subset_matches": subset_matches,
        "load_seconds": load_s,
    }


def run_worker(engine: str, threads: list[int], args) -> list[dict]:
    env = dict(os.environ)
    if engine == "polars":
        env["POLARS_MAX_THREADS"] = str(threads[0])
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        engine,
        "--threads",
        ",".join(map(str, threads)),
        "--runs",
        str(args.runs),
        "--subset",
        str(args.subset),
        "--fleet",
        str(args.fleet),
    ]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def cargo(*args: str, env: dict | None = None) -> None:
    subprocess.run(["cargo", *args], cwd=ROOT, check=True, env=env)


def generate(devices: int) -> None:
    log("building target/release/fleetlab")
    cargo("build", "--release", "--quiet", "--bin", "fleetlab")
    binary = TARGET / "release" / ("fleetlab.exe" if os.name == "nt" else "fleetlab")
    start = time.perf_counter()
    subprocess.run(
        [str(binary), "generate", "--devices", str(devices), "--seed", str(SEED), "-o", str(FLEET)],
        cwd=ROOT,
        check=True,
    )
    size = FLEET.stat().st_size
    log(f"generated {FLEET.relative_to(ROOT)}: {devices} devices, {size / 1e6:.0f} MB "
        f"in {time.perf_counter() - start:.1f} s")


def rust_bench(args) -> dict:
    env = dict(os.environ)
    env.update(
        FLEETLAB_BENCH_DEVICES=str(args.devices),
        FLEETLAB_BENCH_SUBSET=str(args.subset),
        FLEETLAB_BENCH_RUNS=str(args.runs),
        FLEETLAB_BENCH_THREADS=",".join(map(str, args.threads)),
        FLEETLAB_BENCH_JSON=str(RUST_JSON),
    )
    RUST_JSON.unlink(missing_ok=True)
    features = [] if args.no_cel_rhai else ["--features", "peers"]
    log(f"running cargo bench --bench peers {' '.join(features)}".rstrip())
    cargo("bench", "--bench", "peers", *features, env=env)
    return json.loads(RUST_JSON.read_text())


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def print_table(rows: list[dict]) -> None:
    def base(name: str, threads: int) -> float | None:
        for r in rows:
            if r["engine"] == name and r["threads"] == threads and r["ns_per_device"] > 0:
                return r["ns_per_device"]
        return None

    head = ("engine", "version", "threads", "devices", "matches", "ns/device", "x fleetlab", "x columnar")
    lines = [head]
    for r in sorted(rows, key=lambda r: (r["threads"], r["ns_per_device"])):
        ref, col = base(REFERENCE, r["threads"]), base(COLUMNAR, r["threads"])
        lines.append((
            r["engine"],
            r["version"],
            str(r["threads"]),
            str(r["devices"]),
            str(r["matches"]),
            f"{r['ns_per_device']:.2f}",
            fmt_ratio(r["ns_per_device"] / ref if ref else None),
            fmt_ratio(r["ns_per_device"] / col if col else None),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        print("  ".join(cells).rstrip())


def check_counts(rows: list[dict], rust: dict | None, devices: int, subset: int) -> tuple[int, int]:
    """All engines must agree; returns (fleet matches, subset matches)."""
    def key(r: dict) -> str:
        return f"{r['engine']} ({r['threads']} threads)"

    fleet = {key(r): r["matches"] for r in rows if r["devices"] == devices}
    part = {key(r): r["subset_matches"] for r in rows if "subset_matches" in r}
    part.update({key(r): r["matches"] for r in rows if r["devices"] == subset})
    if rust is not None:
        fleet["cargo bench --bench peers (agreement check)"] = rust["fleet_matches"]
        part["cargo bench --bench peers (agreement check)"] = rust["subset_matches"]
    problems = []
    for what, counts in ((f"all {devices} devices", fleet), (f"the first {subset} devices", part)):
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
            problems.append(f"engines disagree on the match count of {what}: {detail}")
    if problems:
        raise SystemExit("\n".join(problems))
    return next(iter(fleet.values()), 0), next(iter(part.values()), 0)


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=2_000_000, help="fleet size (default 2000000)")
    p.add_argument("--subset", type=int, default=100_000,
                   help="devices the slow engines (CEL, Rhai) are timed on (default 100000)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per engine, median reported (default 5)")
    p.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")], default=[1, 2],
                   help="comma-separated thread counts (default 1,2)")
    p.add_argument("--no-rust", action="store_true", help="skip cargo bench --bench peers")
    p.add_argument("--no-cel-rhai", action="store_true", help="run the Rust benchmark without --features peers")
    p.add_argument("--end-to-end", action="store_true",
                   help="whole processes from the file to the answer, fleetlab next to DuckDB "
                        "(benches/peers/end_to_end.py); uses the largest --threads")
    p.add_argument("--worker", choices=["duckdb", "polars"], help=argparse.SUPPRESS)
    p.add_argument("--fleet", type=Path, default=FLEET, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.subset = max(1, min(args.subset, args.devices))
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.worker:
        work = worker_duckdb if args.worker == "duckdb" else worker_polars
        print(json.dumps(work(args.fleet, args.threads, args.runs, args.subset)))
        return 0

    ensure_venv_and_reexec()
    TARGET.mkdir(exist_ok=True)
    if args.end_to_end:
        sys.path.insert(0, str(HERE))
        import end_to_end

        log("building target/release/fleetlab")
        cargo("build", "--release", "--quiet", "--bin", "fleetlab")
        binary = TARGET / "release" / ("fleetlab.exe" if os.name == "nt" else "fleetlab")
        return end_to_end.run(binary, TARGET, ROOT, args.devices, max(args.threads), args.runs, sys.executable)
    generate(args.devices)
    rows = []
    log(f"DuckDB on {args.threads} threads")
    rows += run_worker("duckdb", args.threads, args)
    for t in args.threads:
        log(f"Polars on {t} thread(s)")
        rows += run_worker("polars", [t], args)
    for r in rows:
        log(f"  {r['engine']} ({r['threads']} threads): loaded in {r['load_seconds']:.1f} s, "
            f"{r['matches']} matches, {r['ns_per_device']:.2f} ns/device")
    rust = None if args.no_rust else rust_bench(args)
    if rust is not None:
        rows += rust["rows"]
    fleet_matches, subset_matches = check_counts(rows, rust, args.devices, args.subset)

    print()
    print("Peer benchmark, canonical Autopilot rule")
    print(f"fleet: {args.devices} devices, seed {SEED}; {fleet_matches} match "
          f"({subset_matches} of the first {args.subset}); median of {args.runs} runs after 1 warm-up; "
          f"{os.cpu_count()} cores; python {sys.version.split()[0]}")
    print("all engines agree on the match counts; x = ns/device over the fleetlab reference's "
          "at the same thread count (above 1 is slower)")
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as e:
        cmd = " ".join(map(str, e.cmd))
        sys.exit(f"peers.py: `{cmd}` failed with exit status {e.returncode}")
