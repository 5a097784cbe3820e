"""One region as a process: a simulated cell with the agents, paced on the wall clock, shifting
load with its peers over NATS.

    python -m autoinfra.experiments.regions.region --name eu --peers us,asia --nats URL \\
        --keys DIR --out FILE [--machines 100] [--minutes 60] [--speed 120] [--no-shift]

Every region loads the same slice of the shipped trace with the same seed, so the services are
the same everywhere (geo-replicated); each serves ``1/R`` of their traffic at the start. The
region writes its figures (energy, energy cost at its prices, SLO violations, share over time) to
``--out`` as JSON, atomically.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.coordination.bus.nats import NatsBus
from autoinfra.core.atomic import write_text
from autoinfra.experiments.regions.prices import DiurnalPrice
from autoinfra.experiments.regions.shifter import LoadShifter, ShifterSettings
from autoinfra.security.signing import AgentKey, Keyring

__all__ = ["main", "run_region"]

# the experiment's window starts at this UTC time of day, so local prices differ by region
START_UTC_S = datetime(2011, 5, 2, 16, 0, tzinfo=UTC).timestamp()


def load_keys(keys: Path, me: str, regions: list[str]) -> tuple[AgentKey, Keyring]:
    """This region's key (made by the launcher) and every region's public key."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    ring = Keyring()
    for region in regions:
        ring.add(region, bytes.fromhex((keys / f"{region}.pub").read_text().strip()))
    private = load_pem_private_key((keys / f"{me}.pem").read_bytes(), password=None)
    return AgentKey(me, private), ring  # type: ignore[arg-type]


def run_region(args: argparse.Namespace) -> dict[str, Any]:
    from autoinfra.agents import make_system
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.sim import SimSettings, Simulator
    from autoinfra.traces import load_workload
    from autoinfra.traces.slicing import sample_cell

    peers = [p for p in args.peers.split(",") if p]
    regions = sorted([args.name, *peers])
    key, ring = load_keys(Path(args.keys), args.name, regions)
    price = DiurnalPrice(args.utc_offset_h)
    ensure_registered()
    workload = sample_cell(load_workload(None, seed=args.seed), args.machines, seed=args.seed)
    window_s = args.minutes * 60.0
    sim = Simulator(
        workload, SimSettings(tick_s=5.0, until_s=window_s), scenario=None, seed=args.seed
    )
    system = make_system("agents", sim, seed=args.seed)
    geo = range(len(workload.services))

    def apply_share(share: float) -> None:
        for s in geo:
            sim.writer.set_service_share(s, share, by=f"shifter:{args.name}")

    start_share = 1.0 / len(regions)
    apply_share(start_share)
    bus = NatsBus(args.nats, name=f"region-{args.name}")
    shifter = LoadShifter(bus, key, ring, args.name, "cell", tuple(peers), apply_share,
                          start_share, ShifterSettings())  # fmt: skip
    cost = energy_kwh = 0.0
    shares: list[tuple[float, float]] = []
    wall0 = time.monotonic()
    while not sim.done:
        sim.step()
        system.tick()
        obs = sim.observe()
        now_utc = START_UTC_S + sim.now_s
        p = price.at(now_utc)
        kw = obs.power_w / 1000.0
        dt_h = sim.config.tick_s / 3600.0
        energy_kwh += kw * dt_h
        cost += kw * dt_h * p
        if not args.no_shift:
            shifter.step(sim.now_s, p, 1.0 - obs.cpu_utilization())
        shares.append((sim.now_s, shifter.share))
        lag = sim.now_s / args.speed - (time.monotonic() - wall0)
        if lag > 0:
            time.sleep(lag)  # paced: the regions move through time together
    # answer the peers' last shifts and take our last acknowledgements, asking for nothing new
    grace_end = time.monotonic() + 3.0
    while time.monotonic() < grace_end:
        shifter.settle(sim.now_s, 1.0 - sim.observe().cpu_utilization())
        time.sleep(0.05)
    bus.close()
    summary = sim.results().summary
    return {
        "region": args.name,
        "utc_offset_h": args.utc_offset_h,
        "shift": not args.no_shift,
        "energy_kwh": round(energy_kwh, 4),
        "energy_cost": round(cost, 4),
        "mean_price": round(float(np.mean([price.at(START_UTC_S + t) for t, _ in shares])), 4),
        "share_start": start_share,
        "share_end": shifter.share,
        "in_flight_end": shifter.in_flight is not None,
        "slo_violation_rate": summary.get("slo_violation_rate"),
        "shifts": shifter.log,
        "rejected_messages": shifter.rejected,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m autoinfra.experiments.regions.region")
    ap.add_argument("--name", required=True)
    ap.add_argument("--peers", default="")
    ap.add_argument("--utc-offset-h", type=float, default=0.0)
    ap.add_argument("--nats", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--machines", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--speed", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-shift", action="store_true")
    args = ap.parse_args(argv)
    result = run_region(args)
    out = Path(args.out)
    write_text(out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
