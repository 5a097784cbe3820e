"""Whether the measured window starts at each system's operating point, or inside its transient.

Every run starts cold (all machines on, the window's running tasks placed at once), and the burn-in
replayed before the measured window is there to let every system reach the capacity it settles at.
Whether it was long enough is a property of the systems and the scale (the gate's removal budget,
max(50 machines, 5 % of the cell) a window, is a smaller share of a larger cell, so a larger cell
takes longer), not something one default can promise: this module measures it. Per system, the
machines it keeps in service (on or draining) are averaged over all its runs, in the measured
window's first quarter and over the whole window; a first quarter more than ``MOVED_SHARE`` off the
window's mean is reported. A system still descending from the cold start starts the window well
above its mean; one that follows demand swings around it, and over a whole window the swings average
out. Measured at the default scale on the shipped slice and on parts 2-3 of it: with a 15-minute
burn-in the agents' first quarter was 11-16 % above their window mean; with the hour-long lead-in,
within 3 % (from -2.1 % to +2.5 %), and every other system's within 2 % in both.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["MOVED_SHARE", "capacity_drift", "drift_warnings"]

# a stated threshold between following demand and still falling from a cold start, halfway in
# ratio between the cases measured in the module docstring; no metric of the answer reads it
MOVED_SHARE = 0.05


def capacity_drift(ticks: pd.DataFrame, burn_in_s: float, window_s: float) -> dict[str, float]:
    """Per system, (first quarter - whole window) / whole window of its machines in service over
    the measured window, averaged over its runs (systems without ticks in the first quarter, or
    with no machine in service, are left out)."""
    if ticks.empty or window_s <= 0:
        return {}
    t = ticks["time_s"].to_numpy()
    serving = ticks["machines_on"] + ticks.get("machines_draining", 0)
    frame = pd.DataFrame({"system": ticks["system"], "serving": serving})
    measured = (t >= burn_in_s) & (t < burn_in_s + window_s)
    first = frame[measured & (t < burn_in_s + window_s / 4.0)].groupby("system")["serving"].mean()
    whole = frame[measured].groupby("system")["serving"].mean()
    out: dict[str, float] = {}
    for system in first.index.intersection(whole.index):
        a, m = float(first[system]), float(whole[system])
        if m > 0:
            out[str(system)] = (a - m) / m
    return out


def drift_warnings(
    ticks: pd.DataFrame, burn_in_s: float, window_s: float, systems: Sequence[str]
) -> list[str]:
    """One sentence per system whose machines in service in the measured window's first quarter
    are more than ``MOVED_SHARE`` off their mean over the window: its transient may not be over."""
    drift = capacity_drift(ticks, burn_in_s, window_s)
    out = []
    for system in systems:
        change = drift.get(system)
        if change is None or abs(change) <= MOVED_SHARE:
            continue
        out.append(
            f"`{system}`: the machines it keeps in service were {change:+.1%} off their mean "
            f"over the measured window in its first quarter (more than {MOVED_SHARE:.0%}): it "
            "may still be on its way from the cold start when measuring begins, so its figures "
            "mix that transient with its operating point; a longer `--burn-in-s` (now "
            f"{burn_in_s:.0f} s) tells them apart"
        )
    return out
