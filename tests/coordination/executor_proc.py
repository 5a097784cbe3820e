"""One executor process for the failover tests: step until killed (or for --seconds)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autoinfra.coordination.etcd import EtcdGateway
from autoinfra.coordination.failover import FailoverExecutor
from autoinfra.coordination.lease import LeaderLease, LeaseSettings
from autoinfra.live.chaos.target import JournalTarget


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--etcd", required=True)
    ap.add_argument("--election", required=True)
    ap.add_argument("--holder", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--apply-delay-s", type=float, default=0.05)
    args = ap.parse_args()
    lease = LeaderLease(
        EtcdGateway(args.etcd, timeout_s=0.5), args.election, args.holder, LeaseSettings(ttl_s=2)
    )
    target = JournalTarget(Path(args.target), who=args.holder, apply_delay_s=args.apply_delay_s)
    executor = FailoverExecutor(lease, target, max_per_step=5)
    end = time.monotonic() + args.seconds  # stops by itself
    while time.monotonic() < end:
        executor.step()
        time.sleep(0.05)
    lease.resign()


if __name__ == "__main__":
    main()
