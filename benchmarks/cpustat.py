"""CPU accounting for a benchmark window, from /proc (Linux).

    python benchmarks/cpustat.py watch <server-pid|0> <bench-db> <out.json> &   # until SIGTERM
    ... load ...
    kill -TERM $!; wait $!
    python benchmarks/cpustat.py finish <out.json> <load-generator-cpu-seconds>
    python benchmarks/cpustat.py busy <seconds> [pid ...]   # busy cores, minus these trees

The machine may be shared (other sessions run their tests on it), so a window's busy CPU is
split into: the Strongbox server (its process and children), PostgreSQL backends connected to
the benchmark database, PostgreSQL's shared background processes (WAL writer, checkpointer…),
the load generator, and everything else ("foreign"). The watcher samples every 0.25 s and
keeps each process's last-seen CPU time, so backends that exit before the window closes
(pgbench disconnects at its end) still count; a process started inside the window counts from
zero. Figures are in cores (CPU-seconds per second of wall time).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")
SHARED_PG = {
    "checkpointer",
    "walwriter",
    "background",
    "autovacuum",
    "logical",
    "archiver",
    "stats",
    "walsender",
    "startup",
}


def _stat(pid: int) -> tuple[int, int] | None:
    """(utime + stime, starttime) in clock ticks, or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[19])


def _user_sys(pid: int) -> tuple[int, int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return int(fields[11]), int(fields[12])


def _ctxt(pid: int) -> dict[int, tuple[int, int]]:
    """(voluntary, involuntary) context switches of each thread of a process."""
    out: dict[int, tuple[int, int]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        v = n = 0
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    v = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    n = int(line.split()[1])
        except OSError:
            continue
        out[int(task.name)] = (v, n)
    return out


def _proc_cpu(pid: int) -> int:
    st = _stat(pid)
    return st[0] if st else 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    if pid <= 0:
        return []
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def _busy_ticks() -> int:
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return user + nice + system + irq + softirq + steal


def _uptime_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * HZ


def _classify(server: set[int], bench_db: str) -> dict[int, str]:
    out = dict.fromkeys(server, "server")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not cmd.startswith("postgres: "):
            continue
        # "postgres: 15/main: postgres strongbox_bench 127.0.0.1(51234) idle" for a backend;
        # "postgres: 15/main: walwriter" for a shared background process.
        rest = cmd.split(": ", 2)[-1].split()
        if len(rest) >= 3 and ("(" in rest[2] or rest[2] == "[local]"):
            if rest[1] == bench_db:
                out[int(entry.name)] = "pg_bench"
        elif rest and rest[0] in SHARED_PG:
            out[int(entry.name)] = "pg_shared"
    return out


def watch(server_pid: int, bench_db: str, out: str, interval: float = 0.25) -> None:
    stop = False

    def _stop(*_a: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    t0, busy0, up0 = time.monotonic(), _busy_ticks(), _uptime_ticks()
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    cat: dict[int, str] = {}
    us_first: dict[int, tuple[int, int]] = {}
    us_last: dict[int, tuple[int, int]] = {}
    cs_first: dict[int, tuple[int, int]] = {}
    cs_last: dict[int, tuple[int, int]] = {}

    initial = True

    def sample() -> None:
        # Threads and processes that appear after the first sample started inside the window
        # and count from zero.
        tree = _tree(server_pid)
        for pid in tree:
            us = _user_sys(pid)
            us_first.setdefault(pid, us if initial else (0, 0))
            us_last[pid] = us
            for tid, cs in _ctxt(pid).items():
                cs_first.setdefault(tid, cs if initial else (0, 0))
                cs_last[tid] = cs
        for pid, c in _classify(set(tree), bench_db).items():
            st = _stat(pid)
            if st is None:
                continue
            cpu, started = st
            if pid not in first:
                first[pid] = 0 if started >= up0 else cpu
                cat[pid] = c
            last[pid] = cpu

    sample()
    initial = False
    while not stop:
        time.sleep(interval)
        sample()
    seconds = time.monotonic() - t0
    busy = _busy_ticks() - busy0
    ticks = {"server": 0, "pg_bench": 0, "pg_shared": 0}
    for pid, c in cat.items():
        ticks[c] += last[pid] - first[pid]

    def cores(t: float) -> float:
        return round(t / HZ / seconds, 3)

    user = sum(us_last[p][0] - us_first[p][0] for p in us_last)
    system = sum(us_last[p][1] - us_first[p][1] for p in us_last)
    vol = sum(cs_last[t][0] - cs_first[t][0] for t in cs_last)
    invol = sum(cs_last[t][1] - cs_first[t][1] for t in cs_last)

    Path(out).write_text(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "machine_busy_cores": cores(busy),
                "server_cores": cores(ticks["server"]),
                "server_user_cores": cores(user),
                "server_system_cores": cores(system),
                "server_context_switches_per_s": {
                    "voluntary": round(vol / seconds),
                    "involuntary": round(invol / seconds),
                },
                "postgres_bench_backends_cores": cores(ticks["pg_bench"]),
                "postgres_shared_cores": cores(ticks["pg_shared"]),
            }
        )
    )


def finish(path: str, load_cpu_s: float) -> dict[str, float]:
    w = json.loads(Path(path).read_text())
    load = round(load_cpu_s / w["seconds"], 3)
    own = w["server_cores"] + w["postgres_bench_backends_cores"] + w["postgres_shared_cores"] + load
    return {
        **w,
        "load_generator_cores": load,
        "foreign_cores": round(max(0.0, w["machine_busy_cores"] - own), 2),
    }


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "watch":
        watch(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif cmd == "finish":
        print(json.dumps(finish(sys.argv[2], float(sys.argv[3]))))
    elif cmd == "busy":
        secs = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
        mine = [int(p) for p in sys.argv[3:]]

        def ours() -> int:
            return sum(_proc_cpu(q) for p in mine for q in _tree(p))

        b0, o0 = _busy_ticks(), ours()
        time.sleep(secs)
        print(round(max(0, (_busy_ticks() - b0) - (ours() - o0)) / HZ / secs, 2))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
