"""A :class:`Workload` as named NumPy arrays plus JSON metadata, and back.

The workload cache stores built workloads this way (one ``.npz``, no pickle), so loading the
shipped slice a second time is a file read instead of 800k events of work. The mapping is
mechanical: every column of every table under ``<table>.<column>``, everything else in JSON.
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.traces.tables import MachineTable, ServiceTable, TaskTable, UsageModel, Workload

_TABLES: MappingProxyType[str, type[Any]] = MappingProxyType(
    {"machines": MachineTable, "tasks": TaskTable, "services": ServiceTable}
)


def jsonable(value: Any) -> Any:
    """Plain JSON types: NumPy scalars and arrays to Python, tuples to lists, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_arrays(workload: Workload) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name in _TABLES:
        table = getattr(workload, name)
        for f in dataclasses.fields(table):
            value = getattr(table, f.name)
            if isinstance(value, np.ndarray):
                arrays[f"{name}.{f.name}"] = value
    arrays["usage.shapes"] = workload.usage.shapes
    arrays["job_ids"] = workload.job_ids
    meta = {
        "platforms": list(workload.machines.platforms),
        "usage": {
            "name": workload.usage.name,
            "description": workload.usage.description,
            "step_s": workload.usage.step_s,
            "calibration": jsonable(workload.usage.calibration),
        },
        "start_s": workload.start_s,
        "end_s": workload.end_s,
        "source": workload.source,
        "meta": jsonable(workload.meta),
    }
    return arrays, meta


def from_arrays(arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]) -> Workload:
    tables: dict[str, Any] = {}
    for name, cls in _TABLES.items():
        kwargs: dict[str, Any] = {
            f.name: arrays[f"{name}.{f.name}"]
            for f in dataclasses.fields(cls)
            if f"{name}.{f.name}" in arrays
        }
        if cls is MachineTable:
            kwargs["platforms"] = tuple(meta["platforms"])
        tables[name] = cls(**kwargs)
    usage = UsageModel(
        name=meta["usage"]["name"],
        description=meta["usage"]["description"],
        shapes=arrays["usage.shapes"],
        step_s=float(meta["usage"]["step_s"]),
        calibration=meta["usage"]["calibration"],
    )
    return Workload(
        machines=tables["machines"],
        tasks=tables["tasks"],
        services=tables["services"],
        usage=usage,
        job_ids=arrays["job_ids"],
        start_s=float(meta["start_s"]),
        end_s=float(meta["end_s"]),
        source=str(meta["source"]),
        meta=meta["meta"],
    )
