"""Machine power: load-to-watts curves, and which curve each machine of the trace gets.

The Google 2011 trace names platforms only by hashes and normalises capacities to its largest
machine, so the watts cannot come from the trace. We use three published SPECpower_ssj2008
results, 11 points each at 0 %, 10 %, ..., 100 % load, as tabulated in CloudSim's power models
(Beloglazov and Buyya, CCPE 2012; classes ``PowerModelSpecPower*``), and interpolate linearly
between points:

- HP ProLiant ML110 G4 (1 x Xeon 3040, 2 cores): 86 W idle / 117 W peak (idle 73.5 % of peak),
- HP ProLiant ML110 G5 (1 x Xeon 3075, 2 cores): 93.7 W / 135 W (idle 69.4 %),
- IBM x3550 (2 x Xeon X5670, 12 cores): 66 W / 247 W (idle 26.7 %).

Mapping rule (stated, not measured): a platform's curve follows the median normalised CPU
capacity of its machines, since capacity is the only size signal in the trace: at most 0.25 ->
ML110 G4, at most 0.5 -> ML110 G5, above 0.5 -> IBM x3550. (The 2011 cell's machines are mostly
0.25, 0.5 and 1.0.) The ``linear`` model (Fan, Weber, Barroso, ISCA 2007: P(u) = P_idle +
(P_peak - P_idle) u) uses the same curve's idle and peak.

Load is CPU used / CPU capacity, hogs included, clipped to [0, 1]. OFF and ABSENT machines draw
nothing; BOOTING draws idle power; FAILED draws idle too, because a crashed or hung server stays
powered (fans, memory, disks, a spinning kernel) until someone powers it off, while doing no work.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Watts at 0, 10, ..., 100 % load (SPECpower_ssj2008, via CloudSim; see module docstring).
SPECPOWER_CURVES_W: npt.NDArray[np.float64] = np.array(
    [
        # HP ProLiant ML110 G4, Xeon 3040 (spec.org power_ssj2008-20110127-00342)
        [86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0],
        # HP ProLiant ML110 G5, Xeon 3075 (spec.org power_ssj2008-20110124-00339)
        [93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0],
        # IBM x3550, 2 x Xeon X5670 (spec.org power_ssj2008-20100315-00239)
        [66.0, 107.0, 120.0, 131.0, 143.0, 156.0, 173.0, 191.0, 211.0, 229.0, 247.0],
    ],
    dtype=np.float64,
)
CURVE_NAMES: tuple[str, ...] = ("hp-ml110-g4", "hp-ml110-g5", "ibm-x3550-x5670")

# Median normalised CPU capacity thresholds of the mapping rule (see module docstring).
_CURVE_CPU_THRESHOLDS = (0.25, 0.5)


def curve_points(model: str) -> npt.NDArray[np.float64]:
    """The (n_curves, 11) watts table the simulator interpolates (``specpower`` or ``linear``)."""
    if model == "specpower":
        return SPECPOWER_CURVES_W.copy()
    idle = SPECPOWER_CURVES_W[:, :1]
    peak = SPECPOWER_CURVES_W[:, -1:]
    return np.asarray(idle + (peak - idle) * np.linspace(0.0, 1.0, 11)[None, :], dtype=np.float64)


def platform_curves(
    platform: npt.NDArray[np.int16], cpu: npt.NDArray[np.float32], n_platforms: int
) -> npt.NDArray[np.int32]:
    """Curve index per platform index, from the median CPU capacity of its machines' rows."""
    out = np.full(max(n_platforms, 1), 1, dtype=np.int32)  # no rows: the middle curve
    for p in range(n_platforms):
        caps = cpu[(platform == p) & np.isfinite(cpu) & (cpu > 0)]
        if caps.size:
            out[p] = curve_for_capacity(float(np.median(caps)))
    return out


def curve_for_capacity(cpu_capacity: float) -> int:
    """Curve index for a machine of this normalised CPU capacity (the mapping rule)."""
    small, medium = _CURVE_CPU_THRESHOLDS
    if cpu_capacity <= small:
        return 0
    return 1 if cpu_capacity <= medium else 2


def watts(
    curves_w: npt.NDArray[np.float64], curve: npt.NDArray[np.int32], load: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Power of machines at ``load`` (0..1) on their curves, interpolating between the 11 points."""
    x = np.clip(load, 0.0, 1.0) * 10.0
    lo = np.minimum(x.astype(np.int64), 9)
    frac = x - lo
    return np.asarray(curves_w[curve, lo] * (1 - frac) + curves_w[curve, lo + 1] * frac)
