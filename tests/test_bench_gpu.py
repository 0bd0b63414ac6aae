"""scripts/bench_gpu.py --smoke: the GPU benchmark's own code, run on the tiny model on a CPU so it never rots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import helpers

SCRIPT = Path(helpers.PROJECT_ROOT) / "scripts" / "bench_gpu.py"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    tmp = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--models-dir", str(tmp / "models"), "--json", str(tmp / "b.json")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads((tmp / "b.json").read_text())


def test_smoke_prints_one_table_with_every_path(smoke: tuple[str, dict]) -> None:
    stdout, _ = smoke
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("size"))
    for column in ("samples/s", "peak alloc GiB", "peak resv GiB", "load s", "decode b1 l/s", "decode b32 l/s"):
        assert column in lines[start]
    end = lines.index("", start)
    assert [line.split()[1] for line in lines[start + 2 : end]] == ["unsloth", "transformers", "bare-unsloth"]
    assert "tiny transformers loss per step: " in stdout


def test_smoke_trains_and_decodes_through_inkwell(smoke: tuple[str, dict]) -> None:
    _, figures = smoke
    hf = next(r for r in figures["rows"] if r["path"] == "transformers")
    assert hf["status"] == "ok" and hf["backend"] == "transformers" and hf["device"] == "cpu"
    assert hf["samples_per_second"] > 0 and hf["load_seconds"] > 0
    assert [step for step, _ in hf["losses"]] == [1, 2, 3, 4]  # the loss at every step
    assert all(loss > 0 for _, loss in hf["losses"])
    assert set(hf["decode_lines_per_second"]) == {"1", "8", "32"}
    assert all(rate > 0 for rate in hf["decode_lines_per_second"].values())


def test_paths_that_need_a_gpu_are_skipped_with_the_reason(smoke: tuple[str, dict]) -> None:
    _, figures = smoke
    skipped = {r["path"]: r for r in figures["rows"] if r["status"] == "skipped"}
    assert set(skipped) == {"unsloth", "bare-unsloth"}
    assert all("CUDA GPU" in r["reason"] for r in skipped.values())
