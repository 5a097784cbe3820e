"""The usage model: Azure shapes, ratio tables per band, and the description it prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoinfra.core.errors import TraceError
from autoinfra.traces import Workload
from autoinfra.traces.usage import (
    CPU_RATIO_MAX,
    MEM_RATIO_MAX,
    RatioTables,
    azure_shapes,
    priority_band,
)


def test_priority_bands() -> None:
    assert priority_band(np.arange(12)).tolist() == [0, 0] + [1] * 7 + [2] * 3


def test_azure_shapes_have_mean_one() -> None:
    shapes = azure_shapes()
    assert shapes.shape == (100, 8004) and shapes.dtype == np.float32
    np.testing.assert_allclose(shapes.mean(axis=1), 1.0, rtol=1e-4)
    assert np.all(shapes >= 0)


def test_azure_reader_names_a_bad_reading(tmp_path: Path) -> None:
    path = tmp_path / "vm.csv"
    path.write_text("timestamp,1,2\n1,5.0,6.0\n2,x,7.0\n")
    with pytest.raises(TraceError, match="line 3, field '1'"):
        azure_shapes(path)


def test_ratio_tables_clip_and_pool_small_bands() -> None:
    ratios = pd.DataFrame(
        {
            "priority": [0] * 100 + [9] * 100 + [4] * 3,
            "band": [0] * 100 + [2] * 100 + [1] * 3,
            "cpu_ratio": np.r_[np.full(100, 0.01), np.linspace(0, 9, 100), [5, 5, 5]],
            "mem_ratio": np.r_[np.full(100, 0.5), np.linspace(0, 3, 100), [0.2, 0.2, 0.2]],
        }
    )
    tables = RatioTables.from_ratios(ratios)
    assert tables.pooled == (False, True, False) and tables.samples == (100, 3, 100)
    assert tables.cpu.max() == CPU_RATIO_MAX and tables.mem.max() == MEM_RATIO_MAX
    rng = np.random.default_rng(0)
    cpu, mem = tables.draw(np.array([0] * 500 + [9] * 500), rng)
    assert np.allclose(cpu[:500], 0.01) and cpu[500:].mean() > 0.5
    assert np.all((cpu >= 0) & (cpu <= CPU_RATIO_MAX) & (mem >= 0) & (mem <= MEM_RATIO_MAX))
    again = RatioTables.from_dict(tables.to_dict())
    np.testing.assert_array_equal(again.cpu, tables.cpu)


def test_slice_usage_model_states_itself(slice_workload: Workload) -> None:
    u = slice_workload.usage
    for words in (
        "request x ratio x shape",
        "free 0-1",
        "middle 2-8",
        "production 9-11",
        "Azure Public Dataset V1",
        "clipped",
        "mean 1.0",
    ):
        assert words in u.description
    stats = u.calibration["ratio_stats"]["overall"]
    # NOTICE.md of the slice: median CPU usage about 0.12 of the request, p90 about 0.51
    assert stats["cpu_median"] == pytest.approx(0.12, abs=0.01)
    assert stats["cpu_p90"] == pytest.approx(0.51, abs=0.01)
    assert u.step_s == 300.0 and u.shapes.shape[0] == 100
