"""Fuzz every input reader with fresh mutations: trace parts, fault scenarios, experiment specs.

    python bench/fuzz_inputs.py                      # 2,000 parts, 2,500 scenarios, 2,500 specs
    python bench/fuzz_inputs.py --seed 7 --traces 500 --json bench/results/fuzz_inputs.json

Each case starts from a valid input (the first lines of a shipped trace part, a built-in scenario,
a spec), applies one to three seeded mutations (bytes: flip, overwrite, truncate, insert, delete,
duplicate a line, corrupt the gzip stream; fields: huge numbers, negatives, NaN, text; documents:
a value replaced, a key misspelt or added, billion-laughs aliases, deep nesting, a duplicate key),
and hands it to the reader a user would reach: ``read_table`` (strict or lenient) or, for one
part in four (``--workload-share``), ``load_workload`` or ``trace_info`` on a small trace folder
holding it and valid parts of the other tables;
``load_scenario``; ``load_spec_file`` + ``build_spec``. Each case is classified:

- loaded: the reader accepted it (a mutation can leave an input valid);
- clean error: an ``AutoinfraError`` (the one-line error the CLI prints, exit 2);
- traceback: any other exception, a bug; the first few are printed with their input saved;
- hang: still running after ``--timeout-s`` (SIGALRM interrupts it).

Counts are bounded (``--traces`` etc.) and so is the time (``--budget-s``: stop early, say so).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from machine import machine_info
from output import update_section, write_json

FIELD_TOKENS = (
    "9e18", "9000000000000000000", "9223372036854775807", "9223372036854775808",
    "18446744073709551616", str(2**53 + 1), "-1", "-9223372036854775808", "nan", "NaN", "inf",
    "-inf", "1e400", "", "abc", "0x10", "1.5", " 1", "1,2", "9" * 40, "\u00e9", "-0", "+5",
)  # fmt: skip
BYTE_TOKENS = (b"\xff\xfe", b"\x00", b"\r", b"\n", b",", b"\n\n", b'"', b"\x1f\x8b", b"\xc3")
VALUE_TOKENS: tuple[Any, ...] = (
    10_000_000, 10**30, -1, -1e9, float("nan"), float("inf"), -float("inf"), 1e308, 0, "",
    "x" * 5000, [], {}, None, True, "nan", ".nan", [1] * 500, {"a": {"b": {"c": 1}}},
    "machine:99999999", "link:-1", 2**63, 1.5, "10000000",
)  # fmt: skip
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
TEMPLATES = (
    LAUGHS,
    "[" * 5000 + "]" * 5000,
    "{a: " * 200 + "1" + "}" * 200,
    "",
    "# only a comment\n",
    "!!python/object/apply:os.system ['true']\n",
    "x: " + "y" * 300_000 + "\n",
    "seeds: 10000000\n",
    "name: a\nname: b\n",
    "\ufeff\n",
    "? [a, b]\n: 1\n",
    "t: 2011-02-30\n",
    "n: " + "9" * 5000 + "\n",
)

SPECS = (
    "scale: quick\nsystems: [noop, kubernetes-defaults]\nfaults: [none, storm]\nseeds: [0, 1]\n",
    "scale: default\nmachines: 50\nwindow_s: 900\ntrain_fraction: 0.4\ntick_s: 5\n"
    "record_every_s: 60\njobs: 2\nexecutor: local\ntrain_episodes: 10\n"
    "system_params:\n  agents:\n    min_headroom_share: 0.2\n    max_machines_per_window: 10\n",
    '{"scale": "paper", "systems": "agents,noop", "seeds": 3, "faults": ["cpu-hog"]}',
)


class Hang(BaseException):
    """Raised by SIGALRM: a BaseException so no ``except Exception`` in the reader hides it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang


def run_case(call: Callable[[], Any], timeout_s: float) -> tuple[str, BaseException | None]:
    from autoinfra.core.errors import AutoinfraError

    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        call()
        outcome: tuple[str, BaseException | None] = ("loaded", None)
    except Hang as exc:
        outcome = ("hang", exc)
    except AutoinfraError as exc:
        outcome = ("clean error", exc)
    except Exception as exc:  # what the fuzzer is for: anything else is a bug
        outcome = ("traceback", exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome


# -- mutations ---------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    op = int(rng.integers(8))
    at = int(rng.integers(len(b) + 1))
    if op == 0 and b:  # flip one bit
        i = min(at, len(b) - 1)
        b[i] ^= 1 << int(rng.integers(8))
    elif op == 1 and b:  # overwrite a byte
        b[min(at, len(b) - 1)] = int(rng.integers(256))
    elif op == 2:  # truncate
        del b[at:]
    elif op == 3:  # insert random bytes
        b[at:at] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    elif op == 4:  # delete a range
        del b[at : at + int(rng.integers(1, 64))]
    elif op == 5:  # insert a token
        b[at:at] = BYTE_TOKENS[int(rng.integers(len(BYTE_TOKENS)))]
    elif op == 6:  # duplicate a line
        lines = bytes(b).split(b"\n")
        k = int(rng.integers(len(lines)))
        lines.insert(k, lines[k])
        b = bytearray(b"\n".join(lines))
    else:  # swap two lines
        lines = bytes(b).split(b"\n")
        i, j = rng.integers(len(lines), size=2)
        lines[i], lines[j] = lines[j], lines[i]
        b = bytearray(b"\n".join(lines))
    return bytes(b)


def mutate_csv_field(text: bytes, rng: np.random.Generator) -> bytes:
    lines = text.split(b"\n")
    k = int(rng.integers(max(1, len(lines) - 1)))
    fields = lines[k].split(b",")
    j = int(rng.integers(len(fields)))
    fields[j] = FIELD_TOKENS[int(rng.integers(len(FIELD_TOKENS)))].encode()
    lines[k] = b",".join(fields)
    return b"\n".join(lines)


def mutate_trace_part(text: bytes, gz: bool, rng: np.random.Generator) -> bytes:
    """Mutate the text (fields or bytes), then for a .gz part maybe corrupt the stream itself."""
    for _ in range(int(rng.integers(1, 4))):
        text = mutate_csv_field(text, rng) if rng.random() < 0.6 else mutate_bytes(text, rng)
    if not gz:
        return text
    packed = gzip.compress(text, mtime=0)
    if rng.random() < 0.4:
        packed = mutate_bytes(packed, rng)
    return packed


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def mutate_document(doc: Any, rng: np.random.Generator) -> Any:
    doc = json.loads(json.dumps(doc))  # a deep copy of plain data
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return VALUE_TOKENS[int(rng.integers(len(VALUE_TOKENS)))]
    path = paths[int(rng.integers(len(paths)))]
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = int(rng.integers(4))
    if op == 0 or not isinstance(parent, dict):  # replace a value
        parent[last] = VALUE_TOKENS[int(rng.integers(len(VALUE_TOKENS)))]
    elif op == 1 and isinstance(last, str) and len(last) > 1:  # misspell a key
        i = int(rng.integers(len(last)))
        parent[last[:i] + last[i + 1 :]] = parent.pop(last)
    elif op == 2:  # an unknown key
        parent["colour"] = "blue"
    else:  # drop a key
        parent.pop(last)
    return doc


# a billion laughs that fits in one value: nine levels of anchors, each nine aliases of the last
BOMB = (
    "["
    + ", ".join(
        ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        + [f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 9)]
    )
    + "]"
)


def document_case(text: str, json_format: bool, rng: np.random.Generator) -> bytes:
    r = rng.random()
    if r < 0.05:
        return TEMPLATES[int(rng.integers(len(TEMPLATES)))].encode()
    doc = yaml.safe_load(text)
    if r < 0.08 and not json_format:  # the bomb where a reader looks: under a real key
        paths = [p for p in _paths(doc) if p]
        path = paths[int(rng.integers(len(paths)))]
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = "__BOMB__"
        return yaml.safe_dump(doc, sort_keys=False).replace("__BOMB__", BOMB).encode()
    for _ in range(int(rng.integers(1, 3))):
        doc = mutate_document(doc, rng)
    out = json.dumps(doc).encode() if json_format else yaml.safe_dump(doc, sort_keys=False).encode()
    if r < 0.45:
        out = mutate_bytes(out, rng)
    return out


# -- the seeds ---------------------------------------------------------------------------------
def trace_seeds() -> list[tuple[str, str, bytes]]:
    """(table, file name, text) of small valid parts cut from the shipped slice."""
    from autoinfra.traces import default_trace_dir

    root = default_trace_dir()
    picks = (
        ("task_events", "part-00001-of-00500.csv.gz", 300),
        ("machine_events", "part-00000-of-00001.csv.gz", 150),
        ("job_events", "part-00001-of-00500.csv.gz", 150),
        ("task_usage", "part-00000-of-00500.first10000rows.csv.gz", 150),
    )
    out = []
    for table, name, n in picks:
        with gzip.open(root / table / name, "rb") as fh:
            text = b"".join(fh.readline() for _ in range(n))
        out.append((table, name, text))
    return out


def scenario_seeds() -> list[str]:
    from importlib import resources

    from autoinfra.faults import builtin_scenarios

    pkg = resources.files("autoinfra.faults.scenarios")
    texts = [pkg.joinpath(f"{n}.yaml").read_text(encoding="utf-8") for n in builtin_scenarios()]
    texts.append(
        "name: all\nfaults:\n  - {kind: intrusion, at_s: 5, target: 'machine:3', cpu_share: 0.5, "
        "egress_mbps: 100}\n  - {kind: network_congestion, at_s: 9, target: 'link:1', load: 2, "
        "duration_s: 60}\n"
    )
    return texts


# -- the three campaigns -----------------------------------------------------------------------
def campaign(
    name: str,
    n: int,
    make: Callable[[int], tuple[bytes, str, Callable[[Path], Any]]],
    work: Path,
    timeout_s: float,
    deadline: float,
    failures: Path | None,
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    t0 = time.perf_counter()
    for i in range(n):
        if time.perf_counter() > deadline:
            break
        data, filename, call = make(i)
        case_dir = work / f"{name}-{i}"
        case_dir.mkdir()
        path = case_dir / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        outcome, exc = run_case(lambda path=path, call=call: call(path), timeout_s)
        counts[outcome] += 1
        if outcome in ("traceback", "hang"):
            tb = "".join(traceback.format_exception(exc)) if exc is not None else ""
            where = tb.strip().splitlines()[-3:] if tb else []
            key = f"{outcome}: {type(exc).__name__}: {' | '.join(s.strip() for s in where)}"
            if key not in examples:
                examples[key] = str(path)
                if failures is not None:
                    failures.mkdir(parents=True, exist_ok=True)
                    (failures / f"{name}-{i}-{filename.replace('/', '_')}").write_bytes(data)
        for p in sorted(case_dir.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        case_dir.rmdir()
    done = sum(counts.values())
    return {
        "cases": done,
        "asked": n,
        "stopped_early": done < n,
        "wall_s": round(time.perf_counter() - t0, 1),
        "counts": {k: counts.get(k, 0) for k in ("loaded", "clean error", "traceback", "hang")},
        "share_traceback": round(counts.get("traceback", 0) / done, 4) if done else None,
        "distinct_failures": list(examples)[:20],
    }


BEGIN = "<!-- fuzz_inputs:begin -->"
END = "<!-- fuzz_inputs:end -->"


def _row(name: str, r: dict[str, Any]) -> str:
    c = r["counts"]
    share = 100.0 * c["traceback"] / r["cases"] if r["cases"] else 0.0
    return (
        f"| {name} | {r['cases']} | {c['loaded']} | {c['clean error']} | {c['traceback']} "
        f"({share:.1f} %) | {c['hang']} |"
    )


def results_section(out: dict[str, Any], before: dict[str, Any] | None, args: Any) -> str:
    m = out["machine"]
    lines = [
        BEGIN,
        "## Input fuzzing: trace parts, fault scenarios, experiment specs (`bench/fuzz_inputs.py`)",
        "",
        f"`python bench/fuzz_inputs.py --seed {out['seed']} --traces {args.traces} "
        f"--scenarios {args.scenarios} --specs {args.specs}`; per-case timeout "
        f"{out['timeout_s']:g} s. A traceback or a hang is a bug; loaded and clean error are "
        "both fine. Machine: "
        f"{m['cpu']}, {m['cores']} cores, load {m['load_average_1m']}, python {m['python']}.",
        "",
        "| input | cases | loaded | clean error | traceback | hang |",
        "|---|---|---|---|---|---|",
    ]
    if before is not None:
        lines += [_row(f"{k} (before)", r) for k, r in before["results"].items()]
    lines += [_row(k, r) for k, r in out["results"].items()]
    if before is not None:
        lines += [
            "",
            '"before" is the same script and seed run on the code before issue 7\'s input work '
            "(commit 5111a44).",
        ]
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--traces", type=int, default=2000)
    ap.add_argument("--scenarios", type=int, default=2500)
    ap.add_argument("--specs", type=int, default=2500)
    ap.add_argument("--timeout-s", type=float, default=5.0, help="per case")
    ap.add_argument("--budget-s", type=float, default=900.0, help="the whole run")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--save-failures", type=Path, default=None, help="folder for failing inputs")
    ap.add_argument(
        "--workload-share", type=float, default=0.25,
        help="share of trace cases read as a whole folder (load_workload or trace_info)",
    )  # fmt: skip
    ap.add_argument("--results", type=Path, default=None, help="write a section of RESULTS.md")
    ap.add_argument(
        "--before", type=Path, default=None,
        help="the --json of an earlier run (older code, same seed) to show beside this one",
    )  # fmt: skip
    ap.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap (a guard)")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _on_alarm)
    # a mutation that asks for ten million runs must not take the shared machine down with it
    cap = int(args.memory_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    from autoinfra.experiments.spec import build_spec, load_spec_file
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.faults import load_scenario
    from autoinfra.traces import load_workload, read_table
    from autoinfra.traces.info import trace_info

    known = ensure_registered()
    rng = np.random.default_rng(args.seed)
    seeds = trace_seeds()
    valid = {t: text for t, _, text in seeds}
    scenarios = scenario_seeds()

    def trace_case(i: int) -> tuple[bytes, str, Callable[[Path], Any]]:
        table, _name, text = seeds[int(rng.integers(len(seeds)))]
        gz = rng.random() < 0.5
        data = mutate_trace_part(text, gz, rng)
        filename = f"{table}/part-00000-of-00001.csv" + (".gz" if gz else "")
        lenient = bool(rng.random() < 0.3)
        whole = rng.random() < args.workload_share
        reader = "trace_info" if table in ("job_events", "task_usage") or rng.random() < 0.3 else (
            "load_workload"
        )  # fmt: skip

        def call(path: Path) -> Any:
            if not whole:
                return read_table(table, path, lenient=lenient, cache=False)
            root = path.parent.parent
            for other, text in valid.items():  # the other tables, valid
                if other != table:
                    (root / other).mkdir()
                    (root / other / "part-00000-of-00001.csv").write_bytes(text)
            if reader == "trace_info":
                return trace_info(root, lenient=lenient)
            return load_workload(root, lenient=lenient, cache=True)

        return data, filename, call

    def scenario_case(i: int) -> tuple[bytes, str, Callable[[Path], Any]]:
        as_json = rng.random() < 0.25
        text = scenarios[int(rng.integers(len(scenarios)))]
        return document_case(text, as_json, rng), "s.json" if as_json else "s.yaml", load_scenario

    def spec_case(i: int) -> tuple[bytes, str, Callable[[Path], Any]]:
        text = SPECS[int(rng.integers(len(SPECS)))]
        as_json = rng.random() < 0.25
        data = document_case(text, as_json, rng)

        def call(path: Path) -> Any:
            spec = build_spec(load_spec_file(path), known_systems=known, source=str(path))
            return spec.runs()  # the grid the harness would run

        return data, "spec.json" if as_json else "spec.yaml", call

    deadline = time.perf_counter() + args.budget_s
    with tempfile.TemporaryDirectory(prefix="fuzz-inputs-") as tmp:
        work = Path(tmp)
        import os

        os.environ["AUTOINFRA_CACHE_DIR"] = str(work / "cache")  # never the user's cache
        results = {
            "trace parts": campaign(
                "trace", args.traces, trace_case, work, args.timeout_s, deadline,
                args.save_failures,
            ),
            "scenarios": campaign(
                "scenario", args.scenarios, scenario_case, work, args.timeout_s, deadline,
                args.save_failures,
            ),
            "specs": campaign(
                "spec", args.specs, spec_case, work, args.timeout_s, deadline, args.save_failures
            ),
        }  # fmt: skip
    out = {"seed": args.seed, "timeout_s": args.timeout_s, "results": results}
    out["machine"] = machine_info()
    print(f"seed {args.seed}, per-case timeout {args.timeout_s:g} s")
    print(f"{'input':<12} {'cases':>6} {'loaded':>7} {'clean error':>12} {'traceback':>10} "
          f"{'hang':>5} {'wall s':>7}")  # fmt: skip
    for name, r in results.items():
        c = r["counts"]
        print(
            f"{name:<12} {r['cases']:>6} {c['loaded']:>7} {c['clean error']:>12} "
            f"{c['traceback']:>10} {c['hang']:>5} {r['wall_s']:>7}"
            + ("  (stopped at the time budget)" if r["stopped_early"] else "")
        )
        for example in r["distinct_failures"][:8]:
            print(f"    {example}")
    m = out["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_average_1m']}, "
          f"python {m['python']}")  # fmt: skip
    if args.json is not None:
        write_json(args.json, out)
    if args.results is not None:
        before = json.loads(args.before.read_text()) if args.before is not None else None
        update_section(args.results, BEGIN, END, results_section(out, before, args))
    bad = sum(r["counts"]["traceback"] + r["counts"]["hang"] for r in results.values())
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
