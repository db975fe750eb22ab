"""Benchmark: the SQL stage on one DuckDB file against user-hash partitions on a Ray cluster.

For each size (events in the log) it generates a world sharded by user at
write time (`adopt generate --shards`, cached under bench/_out/), ingests it,
writes the partitions, then times the profile build twice on the same
warehouse:

- baseline: the single-file build (`build_profiles(partitioned=False)`,
  DuckDB on every core of this machine);
- ours: the partitioned build (`adopt.partitioned`) on a local Ray cluster of
  a head (no CPUs: it only drives) and two worker nodes started here with
  `ray start` on 127.0.0.1, their own ports and resources (one CPU each, so
  the two builds use the same two cores), stopped by process id at the end.

Each build runs in its own process. It prints per stage the seconds, events
per second and the peak resident memory of every process (VmHWM from /proc:
the driver, each Ray worker, the raylets and the GCS), the ratio of the two
builds, and a projection to 100M events on N nodes from the measured cost of
a partition task per event.

    python bench/scale_bench.py --events 2M 10M          # about 15 minutes on 2 cores
    python bench/scale_bench.py --events 30M --partitions 24
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "_out"
REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Events per user of a default world (56 days of logs): 4,287,119 for 60,000 users.
EVENTS_PER_USER = 71.45
EVENTS_PER_PARTITION = 1_250_000


def parse_size(text: str) -> int:
    """'2M' -> 2_000_000, '500k' -> 500_000, '1500000' -> 1_500_000."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2M, 500k)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def _run(code: str, env: dict[str, str] | None = None) -> dict:
    """Run python `code` in a child process; it prints one JSON line last, which is returned."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run([PYTHON, "-c", code], env=full, cwd=REPO, capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-6000:])
        raise SystemExit(f"child failed with code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


_PEAK = ("import resource; use = resource.getrusage(resource.RUSAGE_SELF)\n"
         "peak, cpu = use.ru_maxrss * 1024, use.ru_utime + use.ru_stime\n")


def prepare(events: int, partitions: int, seed: int, reuse: bool = False
            ) -> tuple[Path, int, dict]:
    """Generate (sharded) and ingest a world of about `events` events; return ws, events, times."""
    users = max(round(events / EVENTS_PER_USER), 100)
    world, ws = OUT / f"scale_world_u{users}_s{seed}", OUT / f"scale_ws_u{users}_s{seed}"
    times: dict = {}
    if not (world / ".complete").exists():
        print(f"generating {users:,} users into {world} ...", flush=True)
        times["generate"] = _run(
            "import json, time\nfrom adopt.synth import generate_world\nt = time.perf_counter()\n"
            f"generate_world({str(world)!r}, users={users}, seed={seed}, shards={partitions})\n"
            + _PEAK + "print(json.dumps({'seconds': time.perf_counter() - t, 'peak': peak}))")
        (world / ".complete").touch()
    if not (ws / ".complete").exists():
        print(f"ingesting into {ws} ...", flush=True)
        times["ingest"] = _run(
            "import json, time, shutil\nfrom adopt.ingest import ingest\n"
            f"shutil.rmtree({str(ws)!r}, ignore_errors=True)\nt = time.perf_counter()\n"
            f"ingest({str(world)!r}, {str(ws)!r})\n"
            + _PEAK + "print(json.dumps({'seconds': time.perf_counter() - t, 'peak': peak}))")
        (ws / ".complete").touch()
    path = ws / "partitions" / "manifest.json"
    manifest = json.loads(path.read_text()) if reuse and path.exists() else None
    if manifest is not None and manifest["partitions"] == partitions:
        times["partitions"] = {"seconds": float("nan"), "peak": 0,
                               "events": sum(manifest["rows"]["events"])}
        return ws, times["partitions"]["events"], times
    print(f"writing {partitions} partitions ...", flush=True)
    times["partitions"] = _run(
        "import json, time\nfrom adopt.partitions import write_partitions\n"
        f"t = time.perf_counter()\ns = write_partitions({str(ws)!r}, {partitions}, threads=2)\n"
        + _PEAK + "print(json.dumps({'seconds': time.perf_counter() - t, 'peak': peak,"
        " 'events': sum(s.rows['events'])}))")
    return ws, times["partitions"]["events"], times


def single_build(ws: Path, memory_limit: str | None) -> dict:
    """The single-file build in its own process: seconds and peak memory."""
    return _run(
        "import json, time\nfrom adopt.profiles import build_profiles\nt = time.perf_counter()\n"
        f"build_profiles({str(ws)!r}, partitioned=False, threads=2, "
        f"memory_limit={memory_limit!r})\n"
        + _PEAK + "print(json.dumps({'seconds': time.perf_counter() - t, 'peak': peak, "
        "'cpu': cpu}))")


def partitioned_build(ws: Path, address: str, memory_limit: str) -> dict:
    """The partitioned build, driven from its own process against the cluster at `address`."""
    return _run(
        "import json, time\nfrom adopt.profiles import build_profiles\nt = time.perf_counter()\n"
        f"s = build_profiles({str(ws)!r}, partitioned=True, memory_limit={memory_limit!r}, "
        f"threads=1, address={address!r})\n" + _PEAK
        + "print(json.dumps({'seconds': time.perf_counter() - t, 'peak': peak, 'cpu': cpu, "
        "'steps': s.step_seconds, 'tasks': s.task_seconds, 'task_peaks': s.peak_rss}))",
        env={"RAY_ADDRESS": address})


class Cluster:
    """A head and two worker nodes on 127.0.0.1 with their own ports; stopped by pid."""

    def __init__(self, port: int, worker_memory: int) -> None:
        self.port = port
        self.worker_memory = worker_memory
        self.temp = Path(tempfile.mkdtemp(prefix="rsb", dir="/tmp"))
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ports(self, node: int) -> list[str]:
        base = self.port + 100 * (node + 1)
        return ["--node-manager-port", str(base), "--object-manager-port", str(base + 1),
                "--metrics-export-port", str(base + 2), "--dashboard-agent-listen-port",
                str(base + 3), "--runtime-env-agent-port", str(base + 4),
                "--dashboard-agent-grpc-port", str(base + 5),
                "--min-worker-port", str(base + 10), "--max-worker-port", str(base + 60)]

    def start(self) -> None:
        ray = str(Path(PYTHON).with_name("ray"))
        common = ["--node-ip-address", "127.0.0.1", "--object-store-memory", str(300 * 2**20),
                  "--disable-usage-stats"]
        self._check([ray, "start", "--head", "--port", str(self.port), "--num-cpus", "0",
                     "--include-dashboard", "false", "--temp-dir", str(self.temp),
                     "--ray-client-server-port", str(self.port + 1), *common, *self._ports(0)])
        for node in (1, 2):
            self._check([ray, "start", "--address", self.address, "--num-cpus", "1",
                         "--memory", str(self.worker_memory),
                         "--resources", json.dumps({f"bench_worker_{node}": 1}),
                         *common, *self._ports(node)])

    def _check(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"`{' '.join(cmd[:3])}` failed:\n{done.stderr[-2000:]}")

    def pids(self) -> dict[int, str]:
        """Our Ray processes: those naming our temp dir or port, and all their descendants."""
        procs: dict[int, tuple[int, str]] = {}
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid = int(status.parent.name)
                ppid = int(status.read_text().rsplit(")", 1)[1].split()[1])
                cmd = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            procs[pid] = (ppid, cmd)
        ours = {pid for pid, (_, cmd) in procs.items()
                if str(self.temp) in cmd or f"127.0.0.1:{self.port}" in cmd}
        grew = True
        while grew:
            more = {pid for pid, (ppid, _) in procs.items() if ppid in ours} - ours
            grew = bool(more)
            ours |= more
        return {pid: procs[pid][1] for pid in ours}

    def stop(self) -> None:
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
            time.sleep(2)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.temp, ignore_errors=True)


class PeakSampler(threading.Thread):
    """Samples VmHWM (peak resident memory) of the cluster's processes twice a second."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.peaks: dict[int, tuple[int, str]] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for pid, cmd in self.cluster.pids().items():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:
                    continue
                m = re.search(r"VmHWM:\s+(\d+) kB", status)
                if m:
                    peak = int(m.group(1)) * 1024
                    name = _kind(comm, cmd)
                    if peak > self.peaks.get(pid, (0, ""))[0]:
                        self.peaks[pid] = (peak, name)
            self.halt.wait(0.5)


def _kind(comm: str, cmd: str) -> str:
    for key in ("raylet", "gcs_server", "ray::", "default_worker", "dashboard", "log_monitor",
                "runtime_env", "client.server"):
        if key in comm or key in cmd:
            return {"ray::": "worker", "default_worker": "worker"}.get(key, key)
    return comm


def mib(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB"


def report(events: int, partitions: int, prep: dict, single: dict, part: dict,
           cluster_peaks: dict[int, tuple[int, str]]) -> dict:
    s, p = single["seconds"], part["seconds"]
    print(f"\n=== {events:,} events, {partitions} partitions ===")
    for stage, t in prep.items():
        print(f"  {stage:<22} {t['seconds']:8.1f}s   peak {mib(t['peak'])}")
    print(f"  {'SQL single-node':<22} {s:8.1f}s   {events / s:>10,.0f} events/s   "
          f"peak {mib(single['peak'])}")
    print(f"  {'SQL partitioned':<22} {p:8.1f}s   {events / p:>10,.0f} events/s   "
          f"driver peak {mib(part['peak'])}")
    for step, secs in part["steps"].items():
        tasks = part["tasks"].get(step)
        extra = (f"   tasks median {sorted(tasks)[len(tasks) // 2]:.1f}s, max {max(tasks):.1f}s"
                 if tasks else "")
        print(f"    {step:<20} {secs:8.1f}s{extra}")
    by_kind: dict[str, int] = {}
    for peak, kind in cluster_peaks.values():
        by_kind[kind] = max(by_kind.get(kind, 0), peak)
    worker_peak = max(max(v) for k, v in part["task_peaks"].items() if k != "driver")
    print("  peak memory per process: " + ", ".join(
        f"{k} {mib(v)}" for k, v in sorted(by_kind.items())) + f", driver {mib(part['peak'])}"
          f" (tasks report {mib(worker_peak)})")
    largest = max([part["peak"], worker_peak, *by_kind.values()])
    print(f"  ratio single / partitioned: {s / p:.2f}x   largest process {mib(largest)}")
    task_cpu = sum(part["tasks"].get("partition_cpu", [])) + sum(part["tasks"].get("final_cpu", []))
    if task_cpu:  # CPU seconds: what the build costs, whatever else the machine runs
        ours = task_cpu + part["cpu"]
        print(f"  CPU seconds: single-node {single['cpu']:.0f}, partitioned {task_cpu:.0f} in "
              f"tasks + {part['cpu']:.0f} driver; ratio {single['cpu'] / ours:.2f}x")
    task_seconds = sum(part["tasks"]["partition"]) + sum(part["tasks"]["final"])
    return {"events": events, "partitions": partitions, "single": s, "partitioned": p,
            "steps": part["steps"], "task_seconds_per_event": task_seconds / events,
            "largest_process": largest, "single_peak": single["peak"]}


def project(rows: list[dict], target: int = 100_000_000) -> None:
    """100M events on N nodes: the measured task cost per event, spread over N x cores."""
    last = max(rows, key=lambda r: r["events"])
    cost = last["task_seconds_per_event"]
    merge = last["steps"]["merge"] + last["steps"].get("publish", 0.0)
    print(f"\nprojection to {target:,} events from the {last['events']:,}-event run "
          f"({cost * 1e6:.1f} task-seconds per million events, merge + publish {merge:.1f}s):")
    print("  nodes x cores   partitions   SQL stage")
    for nodes, cores in ((1, 2), (2, 8), (4, 8), (8, 8), (16, 8), (32, 8)):
        slots = nodes * cores
        parts = max(slots, -(-target // EVENTS_PER_PARTITION))
        waves = -(-parts // slots)
        seconds = waves * (target / parts) * cost + merge
        print(f"  {nodes:>5} x {cores:<5}   {parts:>10}   {seconds / 60:8.1f} min")


def _exit_on_term(*_: object) -> None:
    """SIGTERM ends the run through the `finally` that stops the cluster."""
    raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=parse_size, nargs="+", default=[2_000_000, 10_000_000])
    parser.add_argument("--partitions", type=int, default=None,
                        help=f"partitions (default: one per {EVENTS_PER_PARTITION:,} events, "
                             "at least 2)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB limit of a partition task")
    parser.add_argument("--single-memory-limit", default="4GB",
                        help="DuckDB limit of the single-node build (DuckDB's default, 80%% of "
                             "the machine, gets a 10M-event build killed on a shared 24 GiB box)")
    parser.add_argument("--reuse-partitions", action="store_true",
                        help="keep partitions already written with the same count")
    parser.add_argument("--port", type=int, default=26380, help="the head's GCS port")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for events in args.events:
        n = args.partitions or max(2, round(events / EVENTS_PER_PARTITION))
        ws, actual, prep = prepare(events, n, args.seed, args.reuse_partitions)
        cluster = Cluster(args.port, worker_memory=3 * 2**30)
        signal.signal(signal.SIGTERM, _exit_on_term)
        try:
            cluster.start()
            sampler = PeakSampler(cluster)
            sampler.start()
            print(f"partitioned build on {cluster.address} ...", flush=True)
            part = partitioned_build(ws, cluster.address, args.memory_limit)
            sampler.halt.set()
            sampler.join()
        finally:
            cluster.stop()
        peaks = {kind: max(b for b, k in sampler.peaks.values() if k == kind)
                 for _, kind in sampler.peaks.values()}
        print(f"partitioned: {part['seconds']:.1f}s, {actual / part['seconds']:,.0f} events/s, "
              f"steps {part['steps']}, peaks {peaks}", flush=True)
        print(f"single-node build of {actual:,} events ...", flush=True)
        single = single_build(ws, args.single_memory_limit)
        rows.append(report(actual, n, prep, single, part, sampler.peaks))
    project(rows)


if __name__ == "__main__":
    main()
