"""Assemble the per-backend results of ``benchmarks/run.sh`` into one JSON and a markdown table.

    python benchmarks/summarize.py <work-dir> <results/STAMP> key=value ...

Reads ``<work-dir>/<backend>/result.json`` and ``<work-dir>/pgbench.json``; writes
``<results/STAMP>.json`` and ``.md`` and prints the markdown.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

TARGET_PAYMENTS_PER_S = 1000
TARGET_P99_MS = 50.0


def _cmd(*args: str) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (
        (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else None
    )


def machine() -> dict[str, object]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _cmd("wrk", "--version"),
        "pgbench": _cmd("pgbench", "--version"),
    }


def main() -> None:
    work, stem = Path(sys.argv[1]), Path(sys.argv[2])
    config = dict(arg.split("=", 1) for arg in sys.argv[3:])
    backends = {}
    for name in ("sqlite", "postgresql"):
        f = work / name / "result.json"
        if f.exists():
            backends[name] = json.loads(f.read_text())
    pgbench = None
    if (work / "pgbench.json").exists():
        pgbench = json.loads((work / "pgbench.json").read_text())
    pg = backends.get("postgresql")
    ratio = None
    if pg and pgbench and pgbench["tps"]:
        ratio = round(pg["payments_per_s"] / pgbench["tps"], 3)
    target = None
    if pg:
        target = {
            "payments_per_s": TARGET_PAYMENTS_PER_S,
            "p99_ms": TARGET_P99_MS,
            "reached": pg["payments_per_s"] >= TARGET_PAYMENTS_PER_S
            and pg["latency_ms"]["p99"] < TARGET_P99_MS
            and pg["non2xx"] == 0,
        }
    summary = {
        "stamp": stem.name,
        "config": config,
        "machine": machine(),
        "backends": backends,
        "pgbench": pgbench,
        "ratio_payments_per_pgbench_tps": ratio,
        "target_postgresql": target,
    }
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")

    m = summary["machine"]
    lines = [
        f"### Strongbox create-and-confirm load, {stem.name}",
        "",
        f"{m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}; "
        f"wrk -t{config.get('threads')} -c{config.get('connections')} "
        f"-d{config.get('duration')}s after a {config.get('warmup')} s warm-up; "
        f"background workers in-process: {config.get('run_workers')}"
        + (
            "; **py-spy attached (figures include its overhead)**"
            if config.get("profile") not in (None, "0")
            else ""
        ),
        "",
        "| backend | processes | payments/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx "
        "| peak RSS MB | server CPU cores | server CPU ms/payment | PostgreSQL CPU ms/payment "
        "| other load on the machine (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def num(v: object, fmt: str = ".1f") -> str:
        return "n/a" if v is None else format(v, fmt)

    for name, r in backends.items():
        lat = r["latency_ms"]
        lines.append(
            f"| {name} | {r['processes']} | {r['payments_per_s']:,.0f} | {lat['p50']:.1f} | "
            f"{lat['p90']:.1f} | {lat['p99']:.1f} | {lat['max']:.0f} | {r['non2xx']} | "
            f"{r['peak_rss_mb']:.0f} | {r['server_cpu_cores']:.2f} | "
            f"{num(r['server_cpu_ms_per_payment'])} | {num(r['postgres_cpu_ms_per_payment'])} | "
            f"{r['cpu_cores']['foreign_cores']:.2f} |"
        )
    lines.append("")
    if pgbench:
        lines.append(
            f"pgbench TPC-B (scale {pgbench['scale']}, {pgbench['clients']} clients, "
            f"{pgbench['jobs']} jobs, {pgbench['duration_s']} s) on the same server: "
            f"**{pgbench['tps']:,.0f} TPS**; PostgreSQL payments/s ÷ pgbench TPS = "
            f"**{ratio}**. (Other load on the machine during pgbench: "
            f"{pgbench['cpu_cores']['foreign_cores']:.2f} cores.)"
        )
    if target:
        verdict = "reached" if target["reached"] else "not reached"
        lines.append(
            f"Target on PostgreSQL (≥ {TARGET_PAYMENTS_PER_S:,} payments/s, p99 < "
            f"{TARGET_P99_MS:.0f} ms, no errors): **{verdict}**"
            f" ({pg['payments_per_s']:,.0f}/s, p99 {pg['latency_ms']['p99']:.1f} ms)."
        )
    for name, r in backends.items():
        extra = []
        if r["non2xx"]:
            extra.append(f"non-2xx by status {r['statuses']}")
        errs = {k: v for k, v in r["socket_errors"].items() if v}
        if errs:
            extra.append(f"socket errors {errs}")
        if r["server_log_problem_lines"]:
            extra.append(
                f"{r['server_log_problem_lines']} ERROR/WARNING lines in {r['server_log']}"
            )
        if r.get("server_user_system_ms_per_payment"):
            u, sy = r["server_user_system_ms_per_payment"]
            extra.append(
                f"server CPU per payment {u:.1f} ms user + {sy:.1f} ms system, "
                f"{r['server_context_switches_per_payment']} context switches"
            )
        if r["cpu_cores"]["foreign_cores"] > 0.3:
            extra.append(
                f"the machine was shared: other processes used "
                f"{r['cpu_cores']['foreign_cores']:.2f} cores during the run"
            )
        if r.get("new_db_connections"):
            extra.append(
                f"{r['new_db_connections']} new PostgreSQL connections opened during "
                "the measured run"
            )
        if r.get("note"):
            extra.append(r["note"])
        drain = r.get("drain")
        if drain:
            parts = [
                f"{q} {v['backlog']} → "
                + (f"{v['drained_s']:.2f} s" if v["drained_s"] is not None else f"{v['left']} left")
                for q, v in drain["queues"].items()
            ]
            total = drain["drained_s"]
            extra.append(
                "background queues after the load (backlog at the first look, "
                f"{drain.get('first_poll_s')} s after it, → empty after): "
                + ", ".join(parts)
                + (
                    f"; all empty after {total:.2f} s"
                    if total is not None
                    else f"; **not all empty within {drain['timeout_s']:.0f} s**"
                )
            )
        if extra:
            lines.append(f"- {name}: " + "; ".join(extra))
    text = "\n".join(lines) + "\n"
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
