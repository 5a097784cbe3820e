"""Start the regions as separate processes over one NATS server, twice: with shifting and
without, on the same seed; then compare what the whole system paid for energy.

Each region gets its own Ed25519 key (private PEM readable only by its process's owner) and
every region's public key, so offers and shifts are signed and checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from autoinfra.coordination.local_servers import NatsServer
from autoinfra.core.atomic import write_bytes, write_text
from autoinfra.core.errors import AutoinfraError, ConfigError

__all__ = ["REGIONS", "check_region_options", "run_regions"]

# name -> UTC offset: three regions eight hours apart, so one is always in its cheap night
REGIONS: dict[str, float] = {"us-west": -8.0, "eu-west": 1.0, "ap-east": 8.0}


def _write_keys(keys: Path, names: list[str]) -> None:
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in names:
        private = Ed25519PrivateKey.generate()
        pem = keys / f"{name}.pem"
        # 0600 from the first byte: a private key is never readable by others, not even briefly
        secret = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        write_bytes(pem, secret, mode=0o600)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        write_text(keys / f"{name}.pub", public.hex() + "\n")


def _child_env() -> dict[str, str]:
    import autoinfra

    src = str(Path(autoinfra.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def _one_pass(
    home: Path, nats_url: str, names: list[str], shift: bool, args: dict[str, Any]
) -> list[dict[str, Any]]:
    tag = "shift" if shift else "no-shift"
    procs = []
    for name in names:
        out = home / f"{tag}-{name}.json"
        cmd = [sys.executable, "-m", "autoinfra.experiments.regions.region", "--name", name,
               "--peers", ",".join(n for n in names if n != name),
               "--utc-offset-h", str(REGIONS[name]), "--nats", nats_url,
               "--keys", str(home / "keys"), "--out", str(out),
               "--machines", str(args["machines"]), "--minutes", str(args["minutes"]),
               "--speed", str(args["speed"]), "--seed", str(args["seed"])]  # fmt: skip
        if not shift:
            cmd.append("--no-shift")
        log = open(home / f"{tag}-{name}.log", "wb")  # noqa: SIM115 (the child owns it)
        procs.append((name, out, subprocess.Popen(cmd, stdout=log, stderr=log, env=_child_env())))
        log.close()
    deadline = time.monotonic() + args["minutes"] * 60.0 / args["speed"] + 300.0
    results = []
    for name, out, proc in procs:
        try:
            code = proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            code = -9
        if code != 0 or not out.exists():
            log_tail = (home / f"{tag}-{name}.log").read_text()[-800:]
            raise AutoinfraError(f"region {name} ({tag}) exited with {code}: {log_tail}")
        results.append(json.loads(out.read_text()))
    return results


def check_region_options(machines: int, minutes: float, speed: float) -> None:
    if not 10 <= machines <= 2000:
        raise ConfigError(
            f"machines per region must be in 10..2000, got {machines}", field="machines"
        )
    if not 0 < minutes <= 24 * 60:  # NaN fails too
        raise ConfigError(f"minutes must be in (0, 1440], got {minutes}", field="minutes")
    if not 1 <= speed <= 10_000:
        raise ConfigError(
            f"speed must be in [1, 10000] simulated s per s, got {speed}", field="speed"
        )


def run_regions(
    home: Path, *, machines: int = 100, minutes: float = 60.0, speed: float = 120.0, seed: int = 0
) -> dict[str, Any]:
    check_region_options(machines, minutes, speed)
    names = list(REGIONS)
    home.mkdir(parents=True, exist_ok=True)
    _write_keys(home / "keys", names)
    args = {"machines": machines, "minutes": minutes, "speed": speed, "seed": seed}
    nats = NatsServer(home / "nats")
    nats.start()
    try:
        with_shift = _one_pass(home, nats.url, names, True, args)
        without = _one_pass(home, nats.url, names, False, args)
    finally:
        nats.stop()

    def total(rows: list[dict[str, Any]], key: str) -> float:
        return round(sum(float(r[key]) for r in rows), 4)

    shares_end = {r["region"]: r["share_end"] for r in with_shift}
    return {
        "regions": REGIONS,
        "machines_per_region": machines,
        "minutes": minutes,
        "seed": seed,
        "prices": "diurnal synthetic shape (experiments/regions/prices.py), not market data",
        "with_shift": {"energy_kwh": total(with_shift, "energy_kwh"),
                       "energy_cost": total(with_shift, "energy_cost"), "regions": with_shift},
        "without_shift": {"energy_kwh": total(without, "energy_kwh"),
                          "energy_cost": total(without, "energy_cost"), "regions": without},
        "share_sum_end": sum(shares_end.values()),
        "shifts_in_flight_end": sum(1 for r in with_shift if r["in_flight_end"]),
        "shares_end": shares_end,
    }  # fmt: skip
