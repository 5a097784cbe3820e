"""Trace input: Google 2011 readers, the Parquet cache, the workload model, a synthetic cell.

``load_workload()`` turns the shipped Google cluster-usage trace slice (or a full download) into
the column tables of :mod:`autoinfra.traces.tables` that the simulator replays; ``generate_cell()``
makes a synthetic cell calibrated on the slice; ``window``, ``sample_cell`` and ``split_windows``
cut either in time or in space. ``read_table`` and ``trace_info`` are the lower-level readers.
"""

from autoinfra.traces.info import trace_info
from autoinfra.traces.paths import default_azure_path, default_trace_dir
from autoinfra.traces.reader import read_table
from autoinfra.traces.synthetic import generate_cell
from autoinfra.traces.tables import (
    MachineEventType,
    MachineTable,
    ServiceTable,
    TaskEnd,
    TaskTable,
    UsageModel,
    Workload,
)
from autoinfra.traces.workload import (
    load_workload,
    sample_cell,
    split_windows,
    trace_span,
    window,
)

__all__ = [
    "MachineEventType",
    "MachineTable",
    "ServiceTable",
    "TaskEnd",
    "TaskTable",
    "UsageModel",
    "Workload",
    "default_azure_path",
    "default_trace_dir",
    "generate_cell",
    "load_workload",
    "read_table",
    "sample_cell",
    "split_windows",
    "trace_info",
    "trace_span",
    "window",
]
