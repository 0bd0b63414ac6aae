"""The write steps ``test_crash.py`` kills, each with its earlier results, its checks and its next run.

A scenario has ``NAME``; ``setup(work)`` (once: the earlier results, under ``work``); ``step(work)``
(the write that is killed); ``check(work)`` (after a kill: every earlier result intact and loading,
nothing half-written listed or loaded as finished; raises ``AssertionError``); ``again(work)`` (the
next run of the step, which must succeed; returns what it said). See ``crashkit.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image

import helpers
from inkwell.data.dataset import processed_sets

__all__ = ["Data", "Evaluation", "Export", "Readings", "Training"]


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _visible(folder: Path) -> list[str]:
    """Names in ``folder`` a user or a reader would take for results (no hidden entries)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


class Data:
    """01_data writing ``data/processed/<name>/`` over an earlier set of that name (``overwrite = True``)."""

    NAME = "01_data: processed data set"

    def setup(self, work: Path) -> None:
        os.environ["INKWELL_HOME"] = str(work)
        self.source = helpers.make_synthetic_lines(work / "raw", 16, seed=1).labels
        helpers.prepare_dataset(self.source, dataset_name="earlier", progress=False)
        helpers.prepare_dataset(self.source, dataset_name="same", seed=1, progress=False)
        self.digests = {n: tree_digest(work / "data" / "processed" / n) for n in ("earlier", "same")}

    def step(self, work: Path) -> None:
        helpers.prepare_dataset(self.source, dataset_name="same", seed=2, overwrite=True, progress=False)

    def check(self, work: Path) -> None:
        root = work / "data" / "processed"
        assert tree_digest(root / "earlier") == self.digests["earlier"]
        assert processed_sets() == ["earlier", "same"], processed_sets()  # the old "same" or the new one
        for name in ("earlier", "same"):
            assert len(helpers.load_processed(name)["train"]) > 0
        same = tree_digest(root / "same")
        if same != self.digests["same"]:  # the new set, then whole: every file the manifest lists
            assert json.loads((root / "same" / "report.json").read_text(encoding="utf-8"))["n_accepted"] == 16
        assert _visible(root) == ["earlier", "same"]

    def again(self, work: Path) -> str:
        report = helpers.prepare_dataset(self.source, dataset_name="same", seed=3, overwrite=True, progress=False)
        return helpers.describe_report(report)


class Evaluation:
    """03_evaluate's saving cell: a new evaluation folder and its rows in ``comparison.csv``."""

    NAME = "03_evaluate: evaluation folder and comparison.csv"

    def setup(self, work: Path) -> None:
        from inkwell.evaluation.evaluate import evaluate_systems

        refs = ["a line", "another line", "third"]
        self.evaluation = evaluate_systems(["l1", "l2", "l3"], refs, {"base": ["a lime", "x", "third"], "run": refs},
                                           n_resamples=20)
        self.root = work / "evaluations"
        self._save("set-test-earlier")
        self.earlier = tree_digest(self.root)

    def _save(self, name: str) -> str:
        saved = helpers.save_evaluation(self.evaluation, self.root / name, extra={"dataset": "set"})
        folder = saved["metrics"].parent.name
        helpers.update_comparison(self.evaluation, self.root / "comparison.csv", "set", "test",
                                  base_model="org/base", evaluation_name=folder)
        return folder

    def step(self, work: Path) -> None:
        self._save("set-test-new")

    def check(self, work: Path) -> None:
        from inkwell.evaluation.evaluate import read_comparison, read_predictions

        assert {k: v for k, v in tree_digest(self.root).items() if k.startswith("set-test-earlier")} == {
            k: v for k, v in self.earlier.items() if k.startswith("set-test-earlier")}
        table = read_comparison(self.root / "comparison.csv")
        groups = table.groupby("evaluation")["system"].apply(sorted).to_dict()
        assert all(systems == ["base", "run"] for systems in groups.values()), groups  # all rows of one, or none
        assert "set-test-earlier" in groups
        for name in _visible(self.root):
            if name != "comparison.csv":  # every evaluation folder listed is whole
                assert len(read_predictions(self.root / name)) == 6
                assert json.loads((self.root / name / "metrics.json").read_text(encoding="utf-8"))["n_lines"] == 3

    def again(self, work: Path) -> str:
        return self._save("set-test-again")


class Readings:
    """04_demo writing the readings of two pages into a new folder beside an earlier reading."""

    NAME = "04_demo: readings folder"

    def setup(self, work: Path) -> None:
        from inkwell.reading.readings import LineReading
        from inkwell.data.sources import scan_inputs

        pages = work / "pages"
        pages.mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (240, 60), "white").save(pages / f"p{k}.png")
        self.pages = scan_inputs(str(pages)).pages
        self.lines = [LineReading.whole(p, f"text of {p.name}") for p in self.pages]
        self.root = work / "readings"
        self._save("earlier")
        self.earlier = tree_digest(self.root / "earlier")

    def _save(self, name: str) -> Any:
        from inkwell.reading.readings import save_readings

        return save_readings(self.pages, self.lines, self.root / name)

    def step(self, work: Path) -> None:
        self._save("new")

    def check(self, work: Path) -> None:
        import pandas as pd

        assert tree_digest(self.root / "earlier") == self.earlier
        for name in _visible(self.root):
            folder = self.root / name
            assert len(pd.read_csv(folder / "readings.csv")) == len(self.lines)
            assert all((folder / f"{p.name}{ext}").is_file() for p in self.pages for ext in (".txt", ".xml", ".png"))

    def again(self, work: Path) -> str:
        return self._save("again").describe()


class Training:
    """02_finetune: a run with a checkpoint at every step, beside an earlier finished run."""

    NAME = "02_finetune: run folder and checkpoints"

    def setup(self, work: Path) -> None:
        import torch

        torch.set_num_threads(1)
        os.environ["INKWELL_HOME"] = str(work)
        model = helpers.build_tiny_model(work / "models" / "tiny", "qwen2_5_vl")
        synthetic = helpers.make_synthetic_lines(work / "raw", 8, seed=1)
        from builders import synthetic_lines

        self.train = synthetic_lines(synthetic, 0, 4)
        self.loaded = helpers.add_lora(helpers.load_model(str(model)), helpers.LoraSettings(seed=0))
        self.settings = helpers.TrainSettings(max_steps=3, batch_size=2, grad_accum=1, max_image_height=32,
                                              max_image_width=128, eval_lines=0, save_steps=1, seed=0,
                                              warmup_steps=0)
        self.root = work / "adapters"
        one = helpers.TrainSettings(**{**self.settings.__dict__, "max_steps": 1, "save_steps": 0})
        helpers.train_adapter(self.loaded, self.train, one, self.root / "earlier")
        self.earlier = tree_digest(self.root / "earlier")

    def step(self, work: Path) -> None:
        helpers.train_adapter(self.loaded, self.train, self.settings, self.root / "new")

    def check(self, work: Path) -> None:
        from inkwell.models.runs import RunInfo, interrupted_runs

        assert tree_digest(self.root / "earlier") == self.earlier
        finished = helpers.find_runs("all", self.root)
        names = [p.name for p in finished]
        assert names[:1] == ["earlier"] and set(names) <= {"earlier", "new", "new-2"}
        for run in finished:
            helpers.load_adapter(self.loaded, run)  # refused if a file is damaged
            assert RunInfo.load(run).metrics["steps"] in (1, 3)
        assert helpers.pick_run("", self.root).path in finished
        for run in interrupted_runs(self.root):
            assert run.name not in [p.name for p in finished]
            if run.last_step:
                state = json.loads((run.checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
                assert state["global_step"] == run.last_step
                helpers.load_adapter(self.loaded, run.checkpoint)

    def again(self, work: Path) -> str:
        """Resume the newest interrupted run with a checkpoint (else start anew); check what the two said.

        ``describe_interrupted`` names every interrupted run and the step it stopped after; resuming
        says (a ``CleanedUp`` warning) which checkpoints the crash cut short were removed and from which
        step it goes on, and the run then finishes under its own name, resumed from that step.
        """
        import warnings

        from inkwell.core.paths import CleanedUp
        from inkwell.models.runs import describe_interrupted, interrupted_runs

        said = describe_interrupted(self.root)
        interrupted = interrupted_runs(self.root)
        for run in interrupted:  # each leftover named, with where it stopped
            assert f"- {run.describe()}" in said, (run, said)
        resumable = [r for r in interrupted if r.last_step]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if resumable:
                resumed = helpers.find_interrupted("last", self.root)
                cut_short = sorted(c for c in (resumed.path / "checkpoints").glob("checkpoint-*")
                                   if c.is_dir() and int(c.name.split("-")[1]) > resumed.last_step)
                result = helpers.train_adapter(self.loaded, self.train, self.settings, self.root / "ignored",
                                               resume=resumed)
            else:
                result = helpers.train_adapter(self.loaded, self.train, self.settings, self.root / "new")
        told = "\n".join(str(w.message) for w in caught if issubclass(w.category, CleanedUp))
        assert result.info.metrics["steps"] == 3, (said, result.info.metrics)
        if resumable:
            assert result.run_dir == resumed.path.with_name(resumed.name), result.run_dir
            assert result.info.metrics["resumed_from_step"] == resumed.last_step
            if cut_short:  # the removed checkpoints named, and the step it resumes from
                assert all(str(c) in told for c in cut_short), (cut_short, told)
                assert f"resuming from step {resumed.last_step}" in told, told
            else:
                assert "checkpoints cut short" not in told, told
        return "\n".join(filter(None, [said, told, helpers.describe_training(result)]))


class Export:
    """The merged export of a finished run (``export_merged``)."""

    NAME = "export: merged model folder"

    def setup(self, work: Path) -> None:
        import torch

        torch.set_num_threads(1)
        os.environ["INKWELL_HOME"] = str(work)
        model = helpers.build_tiny_model(work / "models" / "tiny", "qwen2_5_vl")
        synthetic = helpers.make_synthetic_lines(work / "raw", 4, seed=1)
        from builders import synthetic_lines

        loaded = helpers.add_lora(helpers.load_model(str(model)), helpers.LoraSettings(seed=0))
        settings = helpers.TrainSettings(max_steps=1, batch_size=2, grad_accum=1, max_image_height=32,
                                         max_image_width=128, eval_lines=0, seed=0, warmup_steps=0)
        self.run = helpers.train_adapter(loaded, synthetic_lines(synthetic, 0, 2), settings,
                                         work / "adapters" / "run").run_dir
        self.digest = tree_digest(self.run)

    def step(self, work: Path) -> None:
        helpers.export_merged(self.run)

    def check(self, work: Path) -> None:
        from safetensors import safe_open

        assert tree_digest(self.run) == self.digest
        for name in _visible(self.run.parent):
            if name.startswith("run-merged"):
                folder = self.run.parent / name
                assert json.loads((folder / "export.json").read_text(encoding="utf-8"))["run_name"] == "run"
                with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
                    assert list(handle.keys())

    def again(self, work: Path) -> str:
        return str(helpers.export_merged(self.run).out_dir)
