"""The algorithm catalogue's comparisons: each against the default it could replace.

    python bench/catalogue.py --only kalman --json          # one comparison
    python bench/catalogue.py                               # every comparison

Each entry of ``COMPARISONS`` is ``NAME -> function(seed) -> dict of figures``; a figure dict holds
``default`` and ``candidate`` (each a dict of metrics), and ``verdict``. The result is written to
``bench/results/catalogue-NAME.json`` with the machine it ran on (bench/machine.py) and the wall
time; ``--json`` also prints it. docs/catalogue.md's table is filled from these files by hand, with
the command that produced them. Each comparison trains on one window of the shipped Google 2011
slice (or simulator run) and evaluates on a later one, with a fixed seed, in under about 60 s.

Comparisons live in their own modules (``bench/catalogue_*.py``) and are imported only when run,
so one broken or slow entry never stops the others from being listed or run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine import machine_info
from output import write_json

RESULTS = Path(__file__).resolve().parent / "results"

# NAME -> "module:function" (a module in bench/); the function takes ``seed`` and returns figures
COMPARISONS: dict[str, str] = {
    "kalman": "catalogue_forecast:compare_kalman",
    "anomaly": "catalogue_anomaly:compare_anomaly",
    "failure_models": "catalogue_failure:compare_failure_models",
    "fedavg": "catalogue_failure:compare_fedavg",
    "astar": "catalogue_routing:compare_astar",
    "genetic": "catalogue_genetic:compare_genetic",
    "marl": "catalogue_marl:compare_marl",
}


def _load(name: str) -> Callable[..., dict[str, Any]]:
    module_name, _, attr = COMPARISONS[name].partition(":")
    fn: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module_name), attr)
    return fn


def run_one(name: str, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    figures = _load(name)(seed=seed)
    return {
        "name": name,
        "seed": seed,
        "command": f"python bench/catalogue.py --only {name} --seed {seed}",
        "wall_s": round(time.perf_counter() - t0, 2),
        "machine": machine_info(),
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=sorted(COMPARISONS), help="repeatable")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print each result as JSON")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for catalogue-NAME.json")
    args = ap.parse_args(argv)
    for name in args.only or sorted(COMPARISONS):
        result = run_one(name, args.seed)
        write_json(args.out / f"catalogue-{name}.json", result)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"{name}: verdict={result.get('verdict')!r} wall_s={result['wall_s']}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
