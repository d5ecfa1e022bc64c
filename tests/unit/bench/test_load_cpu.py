"""The load benchmark's CPU-per-message table (parley_bench.load)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from parley_bench import load


def test_cpu_is_read_for_moto_each_function_and_this_process() -> None:
    # GIVEN a cloud whose moto and workers are this very process
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    runtime = SimpleNamespace(name="SendFunction", worker_pids=lambda: [os.getpid()])
    cloud = SimpleNamespace(moto=SimpleNamespace(pid=os.getpid()), functions={"S": runtime})
    # WHEN the CPU is read
    cpu = load.cpu_by_component(cloud)
    # THEN every component is there with the CPU this process has used
    assert set(cpu) == {"moto", "function SendFunction", "gateways + simulated users"}
    assert all(seconds > 0 for seconds in cpu.values())
    # AND a process that is gone counts as no CPU rather than failing the benchmark
    cloud.moto.pid = 2**22 + 7
    assert load.cpu_by_component(cloud)["moto"] == 0.0


def test_the_table_sums_each_run_and_hides_idle_components() -> None:
    # GIVEN two runs' CPU per message
    runs = [
        {"label": "slow", "cpu_ms_per_message": {"moto": 20.0, "function X": 10.0, "idle": 0.1}},
        {"label": "fast", "cpu_ms_per_message": {"moto": 18.0, "function X": 9.0, "idle": 0.2}},
    ]
    # WHEN the table is drawn
    text = "\n".join(load.cpu_table(runs))
    # THEN each run has its components and total; a component under 0.5 ms is left out
    assert "| slow | function X | moto |" not in text
    assert "| run | function X | moto | all |" in text
    assert "| slow | 10.0 | 20.0 | **30.1** |" in text
    assert "idle" not in text
    assert load.cpu_table([]) == []
