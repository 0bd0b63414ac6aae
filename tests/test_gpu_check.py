"""scripts/gpu_check.sh --smoke: the GPU check's own dry run on a CPU, so the command prepared for a GPU never rots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import helpers

SCRIPT = Path(helpers.PROJECT_ROOT) / "scripts" / "gpu_check.sh"


def check(out: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(["bash", str(SCRIPT), str(out), *options], capture_output=True, text=True, timeout=600,
                          env=env)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("gpu-check")
    return out, check(out, "--smoke")


def test_smoke_runs_every_step_in_order_and_says_why_one_cannot(smoke: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = smoke
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (out / "report.txt").read_text()
    steps = [line.split(":")[0].removeprefix("## ") for line in report.splitlines() if line.startswith("## ")]
    assert steps == ["environment", "bench-3B", "families", "notebooks", "bench-7B"]
    assert "## notebooks: skipped: needs a CUDA GPU" in report
    assert "## bench-7B: skipped: --smoke runs the tiny size once" in report
    assert "unsloth       2026.10.5      not imported: needs a CUDA GPU" in report
    assert "the ML stack against requirements.lock: as locked" in report  # this machine installs the lock
    assert "no kit carried" in report.splitlines()[0]
    assert (out / "finished.txt").read_text().split() == ["environment", "bench-3B", "families"]


def test_smoke_bench_and_families_report_the_cuda_paths_skipped(smoke: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, _ = smoke
    bench = json.loads((out / "bench-3B.json").read_text())
    assert {r["path"]: r["status"] for r in bench["rows"]} == {"unsloth": "skipped", "bare-unsloth": "skipped"}
    assert all("CUDA GPU" in r["reason"] for r in bench["rows"])
    families = {r["family"]: r for r in json.loads((out / "families.json").read_text())}
    assert set(families) == set(helpers.native_families())
    ran = families.pop("qwen2_5_vl")
    assert ran["status"] == "ok" and ran["backend"] == "transformers" and len(ran["decoded"]) == 2
    assert [step for step, _ in ran["losses"]] == [1] and ran["losses"][0][1] > 0
    assert all(r["status"] == "skipped" and "needs a CUDA GPU" in r["reason"] for r in families.values())


def test_resume_runs_only_what_an_earlier_run_did_not_finish(
        smoke: tuple[Path, subprocess.CompletedProcess], tmp_path: Path) -> None:
    out, _ = smoke
    earlier = tmp_path / "finished-earlier.txt"
    earlier.write_text((out / "finished.txt").read_text())
    done = check(tmp_path / "second", "--smoke", "--resume", str(earlier), "--budget", "120")
    assert done.returncode == 0, done.stdout[-3000:]
    report = (tmp_path / "second" / "report.txt").read_text()
    for step in ("environment", "bench-3B", "families"):
        assert f"## {step}: done in the earlier run ({earlier})" in report
    assert (tmp_path / "second" / "log.txt").read_text() == ""  # nothing ran again
    assert (tmp_path / "second" / "finished.txt").read_text().split() == ["environment", "bench-3B", "families"]


def test_a_step_past_its_budget_is_stopped_and_not_counted_finished(tmp_path: Path) -> None:
    done = check(tmp_path, "--smoke", "--only", "bench-3B,families", "--budget", "60", "--budgets", "families=2")
    assert done.returncode == 1
    report = (tmp_path / "report.txt").read_text()
    assert "## bench-3B: not started: " in report and "it needs 150 s" in report
    assert "## families: stopped at its budget (2 s)" in report
    assert "## environment: not asked for (--only)" in report
    assert (tmp_path / "finished.txt").read_text() == ""
