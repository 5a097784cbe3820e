"""Latency of ``ApprovalQueue.ask()`` with thousands of requests pending, on disk.

    .venv/bin/python bench/approval_queue.py [--pending 5000] [--samples 200] [--json out/aq.json]
                                             [--before-commit 5111a44]

Fills a queue on disk with ``--pending`` requests (fsync off while filling, to keep the set-up
short), then times ``--samples`` further ``ask()`` calls each with fsync on (the default: every
request durable before ``ask`` returns) and off, and reports p50 / p99 / mean in milliseconds, plus
the time to reopen (replay) the log. Append-only means each ask writes one line, so its cost should
not depend on ``--pending``; ``--pending-sweep`` shows that by timing 10, 1,000 and ``--pending``.

``--before-commit C`` also times the queue as it was at commit ``C`` (read with ``git show``; it
rewrote and fsynced the whole file per request) at the same number pending, on the same machine,
so the comparison is like for like. Figures are printed with the machine they ran on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.core.actions import DrainMachine
from autoinfra.oversight.approval import ApprovalItem, ApprovalQueue
from machine import machine_info
from output import update_section, write_json

ROOT = Path(__file__).resolve().parents[1]
SECTION_START = "<!-- approval-queue:start -->"
SECTION_END = "<!-- approval-queue:end -->"


def _item(k: int, cls: Any = ApprovalItem) -> Any:
    return cls(f"req-{k:07d}", "healing", DrainMachine(machine=k % 12_500), "bench", 0.9, float(k))


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "mean_ms": float(a.mean()), "n": len(ms)}  # fmt: skip


def time_asks(path: Path, pending: int, samples: int, *, fsync: bool) -> dict[str, Any]:
    with ApprovalQueue(path, fsync=False) as q:
        for k in range(pending):
            q.ask(_item(k))
    with ApprovalQueue(path, fsync=fsync) as q:
        assert len(q) == pending
        times = []
        for k in range(pending, pending + samples):
            t0 = time.perf_counter()
            q.ask(_item(k))
            times.append((time.perf_counter() - t0) * 1e3)
    t0 = time.perf_counter()
    ApprovalQueue(path).close()
    replay_ms = (time.perf_counter() - t0) * 1e3
    return {**_stats(times), "pending": pending, "fsync": fsync,
            "reopen_ms": replay_ms, "file_bytes": path.stat().st_size}  # fmt: skip


def _old_queue_module(commit: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{commit}:src/autoinfra/oversight/approval.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("approval_before")
    module.__dict__["__name__"] = "approval_before"
    sys.modules["approval_before"] = module  # dataclasses look their module up while building
    # our own source from our own history, run only to time it against the current queue
    exec(compile(source, f"{commit}:approval.py", "exec"), module.__dict__)
    return module


def time_old_asks(commit: str, path: Path, pending: int, samples: int) -> dict[str, Any]:
    old = _old_queue_module(commit)
    q = old.ApprovalQueue(None)
    for k in range(pending):
        q.ask(_item(k, old.ApprovalItem))
    q.path = path  # from here on it saves (whole file, fsynced) after every change, as it did
    times = []
    for k in range(pending, pending + samples):
        t0 = time.perf_counter()
        q.ask(_item(k, old.ApprovalItem))
        times.append((time.perf_counter() - t0) * 1e3)
    return {**_stats(times), "pending": pending, "fsync": True, "commit": commit}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pending", type=int, default=5000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--pending-sweep", action="store_true")
    ap.add_argument("--before-commit", default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--results-md", type=Path, default=None, help="replace its section there")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {"machine": machine_info(), "runs": []}
    sizes = sorted({10, 1000, args.pending}) if args.pending_sweep else [args.pending]
    with tempfile.TemporaryDirectory() as tmp:
        for n, pending in enumerate(sizes):
            for fsync in (True, False):
                path = Path(tmp) / f"q{n}-{int(fsync)}.jsonl"
                result["runs"].append(time_asks(path, pending, args.samples, fsync=fsync))
        if args.before_commit:
            samples = min(args.samples, 20)  # each one rewrites the whole file: keep it short
            before = time_old_asks(args.before_commit, Path(tmp) / "old.json", args.pending,
                                   samples)  # fmt: skip
            result["before"] = before
    for r in result["runs"]:
        print(f"ask() at {r['pending']:>5} pending, fsync {'on ' if r['fsync'] else 'off'}: "
              f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, mean {r['mean_ms']:.3f} ms "
              f"(n={r['n']}); reopen (replay {r['file_bytes'] / 1e6:.1f} MB) "
              f"{r['reopen_ms']:.0f} ms")  # fmt: skip
    if "before" in result:
        b = result["before"]
        print(f"before ({b['commit']}, whole-file rewrite): ask() at {b['pending']} pending: "
              f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, mean {b['mean_ms']:.1f} ms "
              f"(n={b['n']})")  # fmt: skip
    print(f"machine: {result['machine']}")
    if args.json is not None:
        write_json(args.json, result)
    if args.results_md is not None:
        update_section(args.results_md, SECTION_START, SECTION_END, _section(result, argv))
    return 0


def _section(result: dict[str, Any], argv: list[str] | None) -> str:
    m = result["machine"]
    rows = [f"| {r['pending']:,} | {'on' if r['fsync'] else 'off'} | {r['p50_ms']:.3f} | "
            f"{r['p99_ms']:.3f} | {r['mean_ms']:.3f} | {r['reopen_ms']:.0f} |"
            for r in result["runs"]]  # fmt: skip
    if "before" in result:
        b = result["before"]
        label = f"{b['pending']:,} (before, {b['commit']}: whole-file rewrite)"
        rows.append(f"| {label} | on | {b['p50_ms']:.1f} | {b['p99_ms']:.1f} | "
                    f"{b['mean_ms']:.1f} | - |")  # fmt: skip
    args = " ".join(argv if argv is not None else sys.argv[1:])
    return "\n".join([
        SECTION_START,
        "## Approval queue: `ask()` with requests pending (`bench/approval_queue.py`)",
        "",
        f"`.venv/bin/python bench/approval_queue.py {args}` on {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}, load average {m['load_average_1m']} (a shared machine).",
        "",
        "| pending | fsync | p50 ms | p99 ms | mean ms | reopen (replay) ms |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Append-only: one line per request, so the cost does not grow with the queue; with fsync "
        "on it is the disk's flush time.",
        SECTION_END,
    ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
