"""Where the shipped trace data lives inside the installed package.

The Google 2011 slice and the Azure V1 CPU profiles are package data under ``autoinfra/data``;
``importlib.resources`` finds them whether autoinfra runs from a source tree, an editable install
or a wheel. Both are plain files on disk in every one of those cases (the wheel is unpacked), so a
``Path`` is returned: the readers need real paths for pyarrow and for cache keys.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _data_dir() -> Path:
    return Path(str(resources.files("autoinfra") / "data"))


def default_trace_dir() -> Path:
    """The shipped Google cluster-usage trace 2011 slice (see its NOTICE.md)."""
    return _data_dir() / "google-2011"


def default_azure_path() -> Path:
    """The shipped Azure Public Dataset V1 CPU readings of 100 VMs (see its NOTICE.md)."""
    return _data_dir() / "azure-2017-v1" / "vm_cpu_avg_100.csv.gz"
