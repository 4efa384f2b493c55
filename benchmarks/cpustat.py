"""CPU accounting for a benchmark window, from /proc (Linux).

    python benchmarks/cpustat.py snap <server-pid> <bench-db> > before.json
    ... load ...
    python benchmarks/cpustat.py snap <server-pid> <bench-db> > after.json
    python benchmarks/cpustat.py diff before.json after.json <seconds> <wrk-cpu-seconds>

The machine may be shared (other sessions run tests on it), so the diff splits the busy CPU
into: the Strongbox server (its process and children), PostgreSQL backends of the benchmark
database, PostgreSQL's shared background processes (WAL writer, checkpointer...), the load
generator, and everything else ("foreign"). Figures are in cores (CPU-seconds per second).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(c) for c in text)
    except OSError:
        pass
    return out


def _busy_ticks() -> int:
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return user + nice + system + irq + softirq + steal


def snap(server_pid: int, bench_db: str) -> dict[str, object]:
    server = [server_pid, *_children(server_pid)]
    pg_bench: dict[str, int] = {}
    pg_shared: dict[str, int] = {}
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
        pid = int(entry.name)
        if len(rest) >= 3 and ("(" in rest[2] or rest[2] == "[local]"):
            if rest[1] == bench_db:
                pg_bench[str(pid)] = _proc_cpu(pid)
        elif rest and rest[0] in {
            "checkpointer", "walwriter", "background", "autovacuum", "logical", "archiver",
            "stats", "walsender", "startup",
        }:
            pg_shared[str(pid)] = _proc_cpu(pid)
    return {
        "busy": _busy_ticks(),
        "server": sum(_proc_cpu(p) for p in server),
        "pg_bench": pg_bench,
        "pg_shared": pg_shared,
    }


def _delta(before: dict[str, int], after: dict[str, int]) -> int:
    # Processes that exited during the window are lost; new ones count from zero.
    return sum(v - before.get(pid, 0) for pid, v in after.items())


def diff(before: dict[str, object], after: dict[str, object], seconds: float, wrk_s: float) -> dict[str, float]:
    def cores(ticks: float) -> float:
        return round(ticks / HZ / seconds, 2)

    busy = int(after["busy"]) - int(before["busy"])  # type: ignore[call-overload]
    server = int(after["server"]) - int(before["server"])  # type: ignore[call-overload]
    pg_bench = _delta(before["pg_bench"], after["pg_bench"])  # type: ignore[arg-type]
    pg_shared = _delta(before["pg_shared"], after["pg_shared"])  # type: ignore[arg-type]
    wrk = wrk_s * HZ
    foreign = busy - server - pg_bench - pg_shared - wrk
    return {
        "machine_busy_cores": cores(busy),
        "server_cores": cores(server),
        "postgres_bench_backends_cores": cores(pg_bench),
        "postgres_shared_cores": cores(pg_shared),
        "wrk_cores": cores(wrk),
        "foreign_cores": cores(max(foreign, 0)),
    }


def main() -> None:
    if sys.argv[1] == "snap":
        print(json.dumps(snap(int(sys.argv[2]), sys.argv[3])))
    elif sys.argv[1] == "diff":
        before = json.loads(Path(sys.argv[2]).read_text())
        after = json.loads(Path(sys.argv[3]).read_text())
        print(json.dumps(diff(before, after, float(sys.argv[4]), float(sys.argv[5]))))
    elif sys.argv[1] == "busy":  # machine-wide busy cores over N seconds (default 1)
        import time

        secs = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
        b0 = _busy_ticks()
        time.sleep(secs)
        print(round((_busy_ticks() - b0) / HZ / secs, 2))
    else:
        raise SystemExit(f"unknown command {sys.argv[1]}")


if __name__ == "__main__":
    main()
