"""Two kernels at once: evaluations finishing at the same moment each keep their folder and their rows.

Eight processes run 03_evaluate's saving cell (``save_evaluation`` then ``update_comparison``) on one
``comparison.csv`` at the same instant, all with the same evaluation folder name (started in the same
second). Three cases:

- ``os``: Linux and macOS as they run, ``filelock.FileLock`` (``UnixFileLock``, ``fcntl.flock``) and
  ``fcntl`` locks on staging folders.
- ``soft``: the same with ``filelock.SoftFileLock``, the marker-file lock for file systems whose OS locks
  do not work (``inkwell.core.paths.LOCK_CLASS``).
- ``windows``: the code path Inkwell takes on Windows, as far as it can run here. There the module
  has no ``fcntl`` (``inkwell.core.paths.fcntl`` is None): staging folders carry no lock and none is
  ever taken for litter of a killed write; the case sets exactly that. The lock on ``comparison.csv``
  is ``filelock.FileLock``, which on Windows is ``WindowsFileLock`` (``msvcrt.locking``); ``msvcrt``
  exists only on Windows, so here ``SoftFileLock``, the other lock that needs no ``fcntl``, stands in
  for it. Neither the ``os`` nor the ``soft`` case runs the Windows branch of Inkwell's own code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inkwell.evaluation.evaluate import read_comparison

WRITERS = 8

# One evaluation's saving cell; every writer starts it when the test says go (all are ready by then).
_WRITER = """
import sys, time
from pathlib import Path
import filelock
import inkwell.core.paths
from inkwell.evaluation.evaluate import evaluate_systems, save_evaluation, update_comparison

folder, table, k, gate, lock = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
inkwell.core.paths.LOCK_CLASS = {"os": filelock.FileLock, "soft": filelock.SoftFileLock,
                                 "windows": filelock.SoftFileLock}[lock]
if lock == "windows":  # what Windows lacks: no fcntl, so no locks on staging folders
    inkwell.core.paths.fcntl = None
refs = ["a line", "another line"]
evaluation = evaluate_systems(["l1", "l2"], refs, {"base": ["a lime", "x"], f"run-{k}": refs}, n_resamples=10)
(gate / f"ready-{k}").touch()
while not (gate / "go").exists():
    time.sleep(0.001)
saved = save_evaluation(evaluation, folder, extra={"writer": k})
name = saved["metrics"].parent.name
update_comparison(evaluation, inkwell.core.paths.Path(table), "set", "test", base_model="org/base", evaluation_name=name)
print(name)
"""


@pytest.mark.parametrize("lock", ["os", "soft", "windows"])
def test_eight_evaluations_finishing_at_once_all_keep_their_rows(tmp_path: Path, lock: str) -> None:
    evaluations, table = tmp_path / "evaluations", tmp_path / "evaluations" / "comparison.csv"
    gate = tmp_path / "gate"
    evaluations.mkdir()
    gate.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(evaluations / "set-test-20260101-120000"),
                               str(table), str(k), str(gate), lock], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in range(WRITERS)]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < WRITERS and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    (gate / "go").touch()  # all eight save and update at the same instant
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-1500:] for _, err in outs]
    names = sorted(out.split()[-1] for out, _ in outs)
    expected = sorted(["set-test-20260101-120000"] + [f"set-test-20260101-120000-{k}" for k in range(2, WRITERS + 1)])
    assert names == expected  # one folder each, none overwritten, no writer failed on a taken name
    writers = {json.loads((evaluations / n / "metrics.json").read_text(encoding="utf-8"))["extra"]["writer"]
               for n in names}
    assert writers == set(range(WRITERS))
    rows = read_comparison(table)
    assert len(rows) == 2 * WRITERS  # base + run-k per evaluation: every row of every writer
    assert sorted(rows["evaluation"].unique()) == expected
    assert sorted(s for s in rows["system"] if s != "base") == sorted(f"run-{k}" for k in range(WRITERS))
    assert sorted(p.name for p in evaluations.iterdir() if not p.name.startswith(".")) == sorted(
        [*expected, "comparison.csv"])  # no staging folder or temporary file left behind
