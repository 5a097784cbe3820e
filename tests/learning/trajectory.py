"""Recorded trajectories of ``gymnasium.make("autoinfra/Scaling-v0")``: the exactness reference.

Speed work on the environment and the simulator under it must not move what a learner sees. A
trajectory is a fixed sequence of actions (drawn with a seed) stepped through the registered
environment, resets included, with everything a step returns: the observation's float32 values,
the reward, the truncation flag and the info dict's fields. ``tests/learning/test_env_exact.py``
replays the actions and compares with the reference file bit for bit.

The reference was written by this module on the code before the speed work (commit fb4a009):

    PYTHONPATH=src python -m tests.learning.trajectory  # writes REFERENCE

Regenerate it only for a change that is meant to move the environment's results, and say so.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).resolve().parents[1] / "data/learning/scaling_v0_trajectories.json"

# (name, keywords of gymnasium.make, reset seed, action seed, steps): the registered defaults,
# the same without the forecaster, and a larger slice drawn with another seed. 1800 s episodes
# of 15 s steps are 120 steps: each case crosses at least two resets.
CASES: tuple[tuple[str, dict[str, Any], int, int, int], ...] = (
    ("defaults", {}, 11, 0, 300),
    ("no-forecaster", {"forecast": False}, 5, 1, 300),
    ("40-machines", {"machines": 40, "seed": 3, "episode_s": 900.0}, 2, 2, 200),
)


def record(kwargs: dict[str, Any], reset_seed: int, action_seed: int, steps: int) -> dict[str, Any]:
    """Step the registered environment through ``steps`` random actions; every output, as JSON."""
    import gymnasium

    import autoinfra.learning  # noqa: F401  (registers autoinfra/Scaling-v0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the passive checker's notes are not part of the result
        env = gymnasium.make("autoinfra/Scaling-v0", **kwargs)
        actions = np.random.default_rng(action_seed).integers(0, 5, steps).tolist()
        obs, info = env.reset(seed=reset_seed)
        rows: list[list[Any]] = [_row(obs, 0.0, False, False, info)]
        for a in actions:
            obs, reward, terminated, truncated, info = env.step(a)
            rows.append(_row(obs, reward, terminated, truncated, info))
            if terminated or truncated:
                obs, info = env.reset()
                rows.append(_row(obs, 0.0, False, False, info))
        env.close()
    return {"actions": actions, "rows": rows}


def _row(
    obs: Any, reward: float, terminated: bool, truncated: bool, info: dict[str, Any]
) -> list[Any]:
    # float32 -> Python float is exact, and JSON keeps a float's repr: the file is bit-exact
    return [
        [float(x) for x in np.asarray(obs, dtype=np.float32)],
        float(reward),
        bool(terminated),
        bool(truncated),
        int(info["service"]),
        int(info["state"]),
        bool(info["live"]),
        "".join("1" if x else "0" for x in info["feasible"]),  # the mask, compactly
        int(info["delta_replicas"]),
        float(info["time_s"]),
    ]


def record_all() -> dict[str, Any]:
    return {name: {"make": kw, **record(kw, rs, as_, n)} for name, kw, rs, as_, n in CASES}


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record_all(), separators=(",", ":")) + "\n")
    tmp.replace(out)  # atomic: never a half-written reference
    print(f"wrote {out}")
