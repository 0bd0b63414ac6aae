"""A machine that dies in the middle of a write: every write step killed with SIGKILL before each file-system call.

``crashkit.py`` forks the step from a prepared process and kills it just before its K-th call
(file opened for writing, rename, removal, new folder) under the workspace, for K spread over all
the calls the step makes (counted by an unkilled run first). After each kill the scenario
(``crash_scenarios.py``) checks that every earlier result is intact and loads, that nothing
half-written is listed or loaded as finished, and that the next run succeeds and says what it
cleaned up. The kill counts per step are the ``kills`` below (all calls where ``kills`` >= calls).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="SIGKILL and fork: Linux and macOS")

_KIT = Path(__file__).with_name("crashkit.py")


def _kill_everywhere(scenario: str, tmp_path: Path, kills: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("CRASHKIT_POINTS", None)
    done = subprocess.run([sys.executable, str(_KIT), f"crash_scenarios:{scenario}", str(tmp_path / "work"),
                           str(kills)], env=env, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], "\n".join(summary["failures"])[:6000]
    assert summary["kills"] == min(kills, summary["calls"]) and summary["calls"] > 0
    return summary


@pytest.mark.parametrize(("scenario", "kills", "least_calls"), [
    ("Data", 24, 30),  # 44 calls: the data set's shards, its JSON files, report, rejected.csv, manifest, the swap
    ("Evaluation", 100, 8),  # every call: predictions.csv, metrics.json, the folder's move, comparison.csv
    ("Readings", 100, 8),  # every call: readings.csv and each page's .txt, .png and PAGE-XML
])
def test_a_killed_write_loses_nothing_and_the_next_run_cleans_up(
    scenario: str, kills: int, least_calls: int, tmp_path: Path
) -> None:
    summary = _kill_everywhere(scenario, tmp_path, kills)
    assert summary["calls"] >= least_calls  # the hook saw the step's writes
    assert summary["cleaned_up_after"] > 0  # some kills left unfinished files, and the next run removed them


@pytest.mark.slow
def test_a_killed_training_run_resumes_or_restarts_and_never_counts_as_finished(tmp_path: Path) -> None:
    """Three steps, a checkpoint at each: about 110 calls (adapter, optimiser, scheduler, RNG and trainer state).

    After each kill the next run lists every interrupted run and the step it stopped after, and the
    resumed run says which checkpoints the crash cut short it removed and the step it goes on from
    (``Training.again``); some kills fall inside a checkpoint, so that message is checked for real.
    """
    summary = _kill_everywhere("Training", tmp_path, 12)
    assert summary["calls"] >= 60
    assert summary["said_cleaned_up"] > 0  # at least one kill left a checkpoint cut short, and resuming named it


@pytest.mark.slow
def test_a_killed_export_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    """The merged model's weights, config, processor files and export.json: about 17 calls."""
    summary = _kill_everywhere("Export", tmp_path, 6)
    assert summary["calls"] >= 10 and summary["cleaned_up_after"] > 0
