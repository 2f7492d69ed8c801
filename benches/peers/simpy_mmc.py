#!/usr/bin/env python3
"""fleetlab's simulator against SimPy on the same M/M/3 queue, in one table.

    python3 benches/peers/simpy_mmc.py --reps 100

The model is scenarios/sim/mmc.toml, read from that file so both engines run
the same one: Poisson arrivals (30 an hour), exponential technician time
(mean 5 minutes), 3 technicians, 6,000 customers a replication, the
scenario's horizon; R replications, each seeded.

What it does:

1. finds cargo's target directory (`cargo metadata`, so CARGO_TARGET_DIR is
   honoured), creates the virtualenv <target>/sim-peers-venv if missing,
   installs benches/peers/requirements-sim.txt (pinned SimPy) into it (again
   whenever that file changes) and re-runs itself inside it;
2. builds the release binary (`cargo build --release --bin fleetlab`; a
   no-op when up to date);
3. SimPy: one replication with an environment that counts every event it
   processes, to check the cheap count used in the timed runs (below); then
   one warm-up replication and --runs timed runs of R replications on one
   thread (Python), the median reported;
4. fleetlab: `fleetlab simulate scenarios/sim/mmc.toml -n R --threads T
   --format json -q` for T = 1 and 2, one warm-up and --runs timed runs
   each, the median reported; the wall time is the report's
   `engine.wall_seconds` (the replications and their reduction: no process
   start, no parsing), the same span as SimPy's timed loop;
5. prints one table: wall time, events/s, customers/s and the mean wait in
   queue of each engine, the mean wait next to Erlang C's, and fleetlab's
   throughput over SimPy's. Exit 1 if a mean wait is more than 5 % off
   Erlang C (a sign the two are not running the same model).

Events are not the same unit in the two engines, so customers/s is the fair
comparison; events/s is shown too:

* SimPy processes six events per customer: the arrival timeout, the
  customer process's initialisation, the resource request, the service
  timeout, the release and the process's own completion (plus two for the
  source process per replication). They are counted as SimPy schedules
  them, at no cost per event: every event gets the next number of the
  environment's `_eid` counter when scheduled, and every scheduled event is
  processed except those still queued when the run stops, so processed =
  next(_eid) - len(_queue), less one for the stop event `run(until=...)`
  schedules itself. Step 3 checks that against a subclass whose `step()`
  counts each event it processes (a Python call per event, too slow to
  time with).
* fleetlab processes two per customer (the arrival and the end of service):
  the technicians' queue is a data structure, not events. Its count is the
  report's `engine.events`, the number of events popped from the queue.

--reps, --runs, --json PATH (also write the rows as JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCENARIO = Path("scenarios/sim/mmc.toml")
REQUIREMENTS = HERE / "requirements-sim.txt"
MAX_WAIT_ERROR = 0.05


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    return Path(json.loads(out)["target_directory"])


# ---------------------------------------------------------------------------
# The virtualenv
# ---------------------------------------------------------------------------


def ensure_venv_and_reexec(target: Path) -> None:
    """Create and fill <target>/sim-peers-venv when needed, then re-exec inside it."""
    venv = target / "sim-peers-venv"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wanted = REQUIREMENTS.read_text()
    stamp = venv / ".requirements-sim.txt"
    if not stamp.exists() or stamp.read_text() != wanted:
        log(f"installing {REQUIREMENTS.relative_to(ROOT)} into {venv}")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ---------------------------------------------------------------------------
# The model, as mmc.toml states it
# ---------------------------------------------------------------------------


class Model:
    def __init__(self, path: Path):
        f = tomllib.loads(path.read_text())
        try:
            if f["fleet"]["mode"] != "hands-on-only":
                raise KeyError("fleet.mode is not hands-on-only")
            self.rate = f["arrivals"]["rate_per_hour"] / 60.0  # per minute
            self.customers = int(f["arrivals"]["devices"])
            self.servers = int(f["depot"]["technicians"])
            self.mean_service = float(f["depot"]["hands_on"]["exponential"])  # minutes
            self.horizon = float(f["horizon_hours"]) * 60.0  # minutes
            self.seed = int(f["seed"])
        except KeyError as e:
            raise SystemExit(f"{path} is not the M/M/c shape this script models: {e}")

    def erlang_c_wait(self) -> float:
        """Mean wait in queue of M/M/c, minutes."""
        a = self.rate * self.mean_service
        c = self.servers
        rho = a / c
        top = a**c / math.factorial(c) / (1 - rho)
        p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
        return p_wait / (c / self.mean_service - self.rate)


# ---------------------------------------------------------------------------
# SimPy
# ---------------------------------------------------------------------------


def simpy_replication(simpy, env_class, m: Model, seed: int) -> tuple[int, float, int, int]:
    """One replication: (customers served, total wait, grants, events processed)."""
    env = env_class()
    techs = simpy.Resource(env, capacity=m.servers)
    rng = random.Random(seed)
    lam, mu = m.rate, 1.0 / m.mean_service
    stats = [0, 0.0, 0]  # served, total wait, grants

    def customer(env):
        arrived = env.now
        with techs.request() as req:
            yield req
            stats[1] += env.now - arrived
            stats[2] += 1
            yield env.timeout(rng.expovariate(mu))
        stats[0] += 1

    def source(env):
        for _ in range(m.customers):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer(env))

    env.process(source(env))
    env.run(until=m.horizon)
    # Every event takes the next _eid when scheduled; all scheduled events
    # were processed except those still queued when the run stopped. One of
    # them is run()'s own stop event for `until`, not the model's.
    events = next(env._eid) - len(env._queue) - 1
    return stats[0], stats[1], stats[2], events


def simpy_counting_env(simpy):
    class CountingEnvironment(simpy.Environment):
        def __init__(self):
            super().__init__()
            self.processed = 0

        def step(self):
            super().step()
            self.processed += 1

    return CountingEnvironment


def run_simpy(m: Model, reps: int, runs: int) -> dict:
    import simpy

    counting = simpy_counting_env(simpy)
    env_holder = {}

    def make_counting():
        env_holder["env"] = counting()
        return env_holder["env"]

    _, _, _, cheap = simpy_replication(simpy, make_counting, m, m.seed)
    counted = env_holder["env"].processed
    if cheap != counted:
        raise SystemExit(f"SimPy event count: _eid - queued = {cheap}, step() counted {counted}")
    log(f"SimPy {simpy.__version__}: {counted} events in one replication, both counts agree")

    simpy_replication(simpy, simpy.Environment, m, m.seed)  # warm-up
    times, totals = [], None
    load = os.getloadavg()[0]
    for _ in range(runs):
        served = grants = events = 0
        wait = 0.0
        start = time.perf_counter()
        for r in range(reps):
            s, w, g, e = simpy_replication(simpy, simpy.Environment, m, m.seed * 1_000_003 + r)
            served, wait, grants, events = served + s, wait + w, grants + g, events + e
        times.append(time.perf_counter() - start)
        totals = (served, wait, grants, events)
    served, wait, grants, events = totals
    return row("SimPy", f"simpy {simpy.__version__}", 1, reps, served, events,
               statistics.median(times), wait / max(grants, 1), load)


# ---------------------------------------------------------------------------
# fleetlab
# ---------------------------------------------------------------------------


def build(target: Path) -> Path:
    log("building the release binary")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "fleetlab"], cwd=ROOT, check=True)
    return target / "release" / ("fleetlab.exe" if os.name == "nt" else "fleetlab")


def run_fleetlab(binary: Path, m: Model, reps: int, threads: int, runs: int) -> dict:
    cmd = [str(binary), "simulate", str(SCENARIO), "-n", str(reps), "--threads", str(threads),
           "--format", "json", "-q"]

    def once() -> dict:
        out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
        return json.loads(out)

    once()  # warm-up: page cache, CPU frequency
    load = os.getloadavg()[0]
    reports = [once() for _ in range(runs)]
    report = reports[-1]
    if report["replications"] != reps or report["threads"] != threads:
        raise SystemExit(f"fleetlab ran {report['replications']} replications on {report['threads']} threads")
    techs = next((r for r in report["resources"] if r["name"] == "technicians"), None)
    done = next((x for x in report["metrics"] if x["name"] == "devices-done"), None)
    if techs is None or done is None:
        raise SystemExit("fleetlab's report has no technicians resource or devices-done metric")
    served = round(done["summary"]["mean"] * reps)
    version = subprocess.run([str(binary), "--version"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.strip()
    wall = statistics.median(r["engine"]["wall_seconds"] for r in reports)
    return row("fleetlab", version, threads, reps, served, report["engine"]["events"], wall,
               techs["mean_wait_minutes"], load)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def row(engine, version, threads, reps, served, events, wall, mean_wait, load) -> dict:
    return {
        "engine": engine,
        "version": version,
        "threads": threads,
        "replications": reps,
        "customers": served,
        "events": events,
        "wall_seconds": wall,
        "events_per_second": events / wall,
        "customers_per_second": served / wall,
        "mean_wait_minutes": mean_wait,
        "load_1m": load,
    }


def print_table(rows: list[dict], theory: float) -> None:
    simpy = next(r for r in rows if r["engine"] == "SimPy")
    head = ("engine", "version", "threads", "reps", "customers", "events", "ev/cust", "wall s",
            "events/s", "customers/s", "wait min", "vs Erlang C", "x SimPy cust/s", "x SimPy ev/s", "load")
    lines = [head]
    for r in rows:
        lines.append((
            r["engine"],
            r["version"],
            str(r["threads"]),
            str(r["replications"]),
            str(r["customers"]),
            str(r["events"]),
            f"{r['events'] / max(r['customers'], 1):.2f}",
            f"{r['wall_seconds']:.3f}",
            f"{r['events_per_second'] / 1e6:.2f}M",
            f"{r['customers_per_second'] / 1e6:.3f}M",
            f"{r['mean_wait_minutes']:.3f}",
            f"{(r['mean_wait_minutes'] / theory - 1) * 100:+.1f} %",
            f"{r['customers_per_second'] / simpy['customers_per_second']:.1f}x",
            f"{r['events_per_second'] / simpy['events_per_second']:.1f}x",
            f"{r['load_1m']:.2f}",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        print("  ".join(cells).rstrip())


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=100, help="replications per run (default 100)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per engine, median reported (default 3)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON to this path")
    args = p.parse_args(argv)
    args.reps, args.runs = max(1, args.reps), max(1, args.runs)

    target = target_dir()
    ensure_venv_and_reexec(target)
    m = Model(ROOT / SCENARIO)
    theory = m.erlang_c_wait()
    binary = build(target)

    rows = []
    log(f"SimPy: {args.reps} replications, {args.runs} timed runs")
    rows.append(run_simpy(m, args.reps, args.runs))
    for threads in (1, 2):
        log(f"fleetlab: {args.reps} replications on {threads} thread(s), {args.runs} timed runs")
        rows.append(run_fleetlab(binary, m, args.reps, threads, args.runs))

    print()
    print(f"M/M/{m.servers} queue ({SCENARIO}): lambda {m.rate * 60:g}/h, mean service {m.mean_service:g} min, "
          f"{m.customers} customers x {args.reps} replications; median of {args.runs} runs after 1 warm-up")
    print(f"Erlang C mean wait {theory:.3f} min; {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"load = 1-minute load average before the timed runs")
    print("x SimPy = throughput over SimPy's on 1 thread (above 1 is faster); customers/s is the fair "
          "figure, the engines count events differently")
    print()
    print_table(rows, theory)
    if args.json:
        args.json.write_text(json.dumps({"erlang_c_wait_minutes": theory, "rows": rows}, indent=2) + "\n")
    off = [r for r in rows if abs(r["mean_wait_minutes"] / theory - 1) > MAX_WAIT_ERROR]
    if off:
        names = ", ".join(f"{r['engine']} ({r['threads']} threads): {r['mean_wait_minutes']:.3f}" for r in off)
        print(f"\nmean wait more than {MAX_WAIT_ERROR:.0%} off Erlang C ({theory:.3f} min): {names}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as e:
        cmd = " ".join(map(str, e.cmd))
        sys.exit(f"simpy_mmc.py: `{cmd}` failed with exit status {e.returncode}")
