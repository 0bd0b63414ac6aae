"""Learning curves: would more lines help? Adapters trained on growing shares of the training split, scored alike.

Stage ``workflow``: imports lower stages and :mod:`inkwell.workflow.steps`. Each
point is an ordinary run (``adapters/<name>-<share>pct/``, its ``run.json`` saying
which curve and share it belongs to) trained with the same settings, seed and steps
per line; all points are decoded on the same split in one evaluation, which is
saved and added to ``comparison.csv`` like any other. The verdict compares the two
largest points with the paired bootstrap 03_evaluate uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkwell.data.dataset import load_processed
from inkwell.evaluation.evaluate import (BootstrapResult, Evaluation, cer_interval, evaluate_systems, save_evaluation,
                                         update_comparison)
from inkwell.models.loading import LoraSettings, add_lora, load_model
from inkwell.core.paths import project_path
from inkwell.models.runs import RunInfo, new_run_dir
from inkwell.training.train import TrainSettings, train_adapter
from inkwell.workflow.validate import ParameterError, check_finetune_parameters, share_problem
from inkwell.workflow.steps import (dataset_info, evaluation_context, new_evaluation_dir, predict_systems, take_lines,
                              texts_of)

__all__ = ["CurvePoint", "LearningCurve", "cer_interval", "curve_for_notebook", "curve_verdict",
           "learning_curve_like", "run_learning_curve"]


@dataclass(frozen=True)
class CurvePoint:
    """One adapter of a learning curve, scored.

    Attributes:
        run: The run's name (``<curve>-<share>pct``).
        share: Share of the training split it was trained on.
        lines: Training lines.
        steps: Optimiser steps (the same steps per line for every point).
        cer: Corpus CER on the evaluated split.
        low: Lower end of the bootstrap 95% interval of that CER.
        high: Upper end of it.
    """

    run: str
    share: float
    lines: int
    steps: int
    cer: float
    low: float
    high: float


@dataclass
class LearningCurve:
    """A learning curve: points in order of training lines, the verdict, and where the evaluation was saved.

    Attributes:
        points: One :class:`CurvePoint` per share, fewest lines first (empty: no curve was drawn).
        verdict: One plain sentence: still falling at the full size (more lines would help), flat, or rising;
            or why there is no curve.
        dataset: The processed set.
        split: The split scored.
        eval_lines: Lines scored per point.
        evaluation_dir: The saved evaluation (``predictions.csv``, ``metrics.json``), if any.
    """

    points: list[CurvePoint]
    verdict: str
    dataset: str = ""
    split: str = ""
    eval_lines: int = 0
    evaluation_dir: Path | None = None

    def text(self) -> str:
        """A small table of the points, then the verdict."""
        if not self.points:
            return self.verdict
        rows = [f"Learning curve on {self.dataset} / {self.split} ({self.eval_lines} lines):",
                f"  {'run':<24} {'lines':>6} {'steps':>6} {'CER':>7}  95% interval"]
        rows += [f"  {p.run:<24} {p.lines:>6} {p.steps:>6} {p.cer:>7.3f}  [{p.low:.3f}, {p.high:.3f}]"
                 for p in self.points]
        return "\n".join([*rows, self.verdict])

    def __repr__(self) -> str:
        return self.text()


def curve_verdict(points: Sequence[CurvePoint], last_pair: BootstrapResult | None) -> str:
    """The plain sentence: is the curve still falling between its two largest points?"""
    if len(points) < 2 or last_pair is None:
        return "One point only: a curve needs at least two shares, e.g. [0.5, 1.0]."
    before, last = points[-2], points[-1]
    ci = (f"CER {before.cer:.1%} with {before.lines} lines, {last.cer:.1%} with {last.lines}; difference 95% CI "
          f"[{100 * last_pair.low:+.1f}, {100 * last_pair.high:+.1f}] points")
    if last_pair.high < 0:
        return (f"Still falling at the full size ({ci}): more lines would likely help; transcribing more of the "
                "same kind is worth it.")
    if last_pair.low > 0:
        return (f"Higher at the full size ({ci}): more lines did not help here; check max_steps and "
                "learning_rate (steps per line are the same for every point) before transcribing more.")
    return (f"Flat between the two largest points ({ci}; not distinguishable at 95%): more lines of the same kind "
            "would likely help little; other settings, a larger model or harder lines may.")


def learning_curve_like(run: str | os.PathLike[str]) -> dict[str, Any]:
    """The 02_finetune parameters a finished run recorded, to train a curve's points the same way."""
    return dict(RunInfo.load(project_path(run)).parameters)


def run_learning_curve(
    parameters: dict[str, Any],
    shares: Sequence[float],
    *,
    split: str = "test",
    max_lines: int = 0,
    name: str = "curve",
    batch_size: int = 8,
    n_resamples: int = 1000,
    say: Callable[[str], None] | None = None,
    shares_name: str = "learning_curve",
) -> LearningCurve:
    """Train one adapter per share of the training split and score them all on one split.

    The training lines are one fixed shuffle (the ``seed`` parameter) of the training split
    (``max_train_lines`` of it when set), so every smaller share is part of every larger one.
    ``max_steps`` is the steps at the full size; a share trains ``max_steps x share`` steps
    (same steps per line, same seed; with ``max_steps = 0`` every point trains ``num_epochs``).

    Args:
        parameters: 02_finetune's parameters (``model_name``, ``dataset_name``, ``max_steps``, ...).
        shares: Shares of the training split, e.g. ``[0.25, 0.5, 1.0]``.
        split: The split every point is scored on.
        max_lines: Score only the first this many lines (0: all).
        name: Prefix of the runs' names: ``<name>-25pct``, ... (a taken name gets ``-2``).
        batch_size: Lines decoded together.
        n_resamples: Bootstrap resamples of the intervals.
        say: Called with a line of progress for each point (e.g. ``print``).
        shares_name: How the caller names the shares (in the error a bad list gets).

    Returns:
        The :class:`LearningCurve`; its evaluation is saved and added to ``comparison.csv``.
    """
    problem = share_problem(list(shares), shares_name)
    if problem:
        raise ParameterError(problem)
    values = sorted(float(v) for v in shares)
    check_finetune_parameters(parameters)
    dataset_name = str(parameters["dataset_name"])
    data = load_processed(dataset_name)
    train = take_lines(data["train"], int(parameters.get("max_train_lines", 0))).shuffle(seed=int(parameters["seed"]))
    full_steps = int(parameters.get("max_steps", 0))
    runs: list[Path] = []
    sizes: list[tuple[float, int, int]] = []
    for share in values:
        lines = max(1, round(share * len(train)))
        steps = max(1, round(full_steps * lines / len(train))) if full_steps > 0 else 0
        point = {**parameters, "run_name": f"{name}-{round(share * 100)}pct", "max_steps": steps, "resume": "",
                 "max_train_lines": lines, "learning_curve": f"{name}: {share:g} of train ({lines} lines)"}
        loaded = load_model(str(point["model_name"]), load_in_4bit=bool(point.get("load_in_4bit", True)),
                            backend=str(point.get("backend", "auto")),
                            trust_remote_code=bool(point.get("trust_remote_code", False)))
        lora = LoraSettings.from_parameters(point)
        add_lora(loaded, lora)
        result = train_adapter(loaded, train.select(range(lines)), TrainSettings.from_parameters(point),
                               new_run_dir(point["run_name"]), lora=lora, parameters=point,
                               dataset=dataset_info(dataset_name, data), validation=data["validation"])
        runs.append(result.run_dir)
        sizes.append((share, lines, result.info.metrics["steps"]))
        if say:
            say(f"{result.run_dir.name}: {lines} lines, {result.info.metrics['steps']} steps, "
                f"{result.seconds:.0f} s")
    scored = take_lines(data[split], max_lines)
    base = str(parameters["model_name"])
    predictions = predict_systems(base, runs, scored, include_base=False, batch_size=batch_size,
                                  backend=str(parameters.get("backend", "auto")),
                                  load_in_4bit=bool(parameters.get("load_in_4bit", True)))
    evaluation = evaluate_systems(scored["id"], scored["text"], texts_of(predictions), n_resamples=n_resamples)
    out_dir = new_evaluation_dir(dataset_name, split)
    extra = {**evaluation_context(dataset_name, split, runs, base, predictions), "learning_curve": name}
    save_evaluation(evaluation, out_dir, extra=extra)
    update_comparison(evaluation, project_path("adapters/evaluations/comparison.csv"), dataset_name, split,
                      base_model=base, evaluation_name=out_dir.name)
    return _curve(evaluation, runs, sizes, dataset_name, split, out_dir, n_resamples)


def _curve(evaluation: Evaluation, runs: list[Path], sizes: list[tuple[float, int, int]], dataset: str, split: str,
           out_dir: Path, n_resamples: int) -> LearningCurve:
    """The points and verdict of a scored curve."""
    points = []
    for run, (share, lines, steps) in zip(runs, sizes):
        low, high = cer_interval(evaluation.scores[run.name], n_resamples)
        points.append(CurvePoint(run.name, share, lines, steps, evaluation.metrics[run.name].cer, low, high))
    pair = next((b for b in evaluation.bootstrap if len(runs) > 1 and b.system_a == runs[-2].name
                 and b.system_b == runs[-1].name), None)
    return LearningCurve(points, curve_verdict(points, pair), dataset, split, len(evaluation.ids), out_dir)


def curve_for_notebook(shares: list[float], focus: str, runs: Sequence[Path], split: str, *, max_lines: int = 0,
                       batch_size: int = 8, n_resamples: int = 1000) -> LearningCurve:
    """03_evaluate's optional curve: points trained like the focus run (or the newest run), scored on ``split``.

    Returns a curve without points, whose verdict says why, when ``shares`` is empty or no run was evaluated.
    """
    if not shares:
        return LearningCurve([], "No learning curve: set learning_curve = [0.25, 0.5, 1.0] (shares of the training "
                                 "split) to train one adapter per share like the focus run and draw CER against lines.")
    if not runs:
        return LearningCurve([], "No learning curve: its points are trained like an adapter, and none was "
                                 "evaluated here (set adapters).")
    like = next((r for r in runs if r.name == focus), runs[-1])
    return run_learning_curve(learning_curve_like(like), shares, split=split, max_lines=max_lines,
                              name=f"{like.name}-curve", batch_size=batch_size, n_resamples=n_resamples)
