"""Notebook-level steps: small functions that keep the notebooks' cells short.

Stage ``workflow``: imports lower stages. Each function is one step a
notebook takes (write the demo data, record the parameters, decode a split with
every system, read a folder of images) and returns a value; nothing prints.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from inkwell.reading.baselines import baseline_names, read_baseline
from inkwell.data.dataset import dataset_fingerprint
from inkwell.training.distributed import is_main_process
from inkwell.models.decode import Prediction, max_new_tokens_for, predict_lines
from inkwell.evaluation.evaluate import score_lines, system_metrics
from inkwell.models.loading import LoadedModel, load_adapter, load_model
from inkwell.core.paths import DEMO_SOURCE, project_path, unique_path
from inkwell.views.render import LEGEND_HTML, render_diff_html
from inkwell.models.runs import (DatasetInfo, RunInfo, image_limits_of, library_versions, now_iso,
                          trusts_remote_code)
from inkwell.data.synth import SyntheticSet, make_synthetic_lines
from inkwell.training.train import TrainSettings

__all__ = [
    "ValidationCheck",
    "dataset_info",
    "ensure_demo_data",
    "evaluation_context",
    "literal_parameters",
    "new_evaluation_dir",
    "predict_systems",
    "quick_validation",
    "take_lines",
    "texts_of",
    "confidences_of",
]


def ensure_demo_data(source: str, n_lines: int, seed: int = 0) -> SyntheticSet | None:
    """Write the synthetic demo set when ``source`` is the demo path and missing.

    Any other ``source`` is left alone (a missing one is reported by
    :func:`~inkwell.data.dataset.prepare_dataset` with the path to fix).

    Args:
        source: The ``source`` parameter of 01_data.
        n_lines: Lines to generate (0 = never generate).
        seed: Seed of the synthetic lines (the notebook's ``synthetic_seed``, not the split's ``seed``).

    Returns:
        The :class:`~inkwell.data.synth.SyntheticSet` when the demo path is in use, else ``None``.

    Raises:
        FileExistsError: The demo folder holds a set made with other settings (the message names them).
    """
    if project_path(source) != project_path(DEMO_SOURCE) or n_lines <= 0:
        return None
    try:
        return make_synthetic_lines(project_path(DEMO_SOURCE).parent, n_lines, seed=seed, progress=True)
    except FileExistsError as exc:
        raise FileExistsError(
            f"{exc} It was made with other settings than synthetic_lines = {n_lines}, synthetic_seed = {seed}: "
            "set them back to the values it was made with, or delete that folder to make a new one. "
            "(The split's `seed` does not matter here.)") from None


def literal_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """The flat literal parameters defined in a notebook namespace.

    Call it right after the ``parameters`` cell with ``globals()``: it keeps
    names that do not start with ``_`` and hold str/int/float/bool/None or a
    list of those, so ``run.json`` records every parameter of the run.
    """
    plain = (str, int, float, bool, type(None))
    skip = {"In", "Out", "exit", "quit", "get_ipython"}
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in skip
        and (isinstance(v, plain) or (isinstance(v, list) and all(isinstance(x, plain) for x in v)))
    }


def take_lines(split: datasets.Dataset, max_lines: int) -> datasets.Dataset:
    """The first ``max_lines`` rows of a split (all when ``max_lines`` <= 0)."""
    return split if max_lines <= 0 or max_lines >= len(split) else split.select(range(max_lines))


def dataset_info(dataset_name: str, data: datasets.DatasetDict) -> DatasetInfo:
    """What ``run.json`` records about the processed set a run trains on."""
    return DatasetInfo(
        name=dataset_name,
        path=str(project_path(f"data/processed/{dataset_name}")),
        fingerprint=dataset_fingerprint(data),
        splits={k: len(v) for k, v in data.items()},
    )


@dataclass
class ValidationCheck:
    """The freshly trained adapter on a few validation lines: scores and the first examples.

    Attributes:
        lines: Lines decoded.
        cer: Corpus CER over them.
        wer: Corpus WER over them.
        examples: ``(reference, prediction)`` of the first lines.
    """

    lines: int
    cer: float
    wer: float
    examples: list[tuple[str, str]]

    def text(self) -> str:
        """One line of scores."""
        return f"Validation check on {self.lines} lines: CER {self.cer:.1%}, WER {self.wer:.1%}."

    def _repr_html_(self) -> str:
        cell = "padding:2px 8px;text-align:left;vertical-align:top"
        rows = "".join(f"<tr><td style='{cell};font-family:monospace'>{html.escape(r)}</td>"
                       f"<td style='{cell}'>{render_diff_html(r, h)}</td></tr>" for r, h in self.examples)
        return (f"<p><b>{html.escape(self.text())}</b></p>{LEGEND_HTML}<table style='border-collapse:collapse'>"
                f"<tr><th style='{cell}'>reference</th><th style='{cell}'>prediction</th></tr>{rows}</table>")

    def __repr__(self) -> str:
        return self.text()


def quick_validation(
    loaded: LoadedModel,
    split: datasets.Dataset,
    n_lines: int,
    settings: TrainSettings,
    run_dir: str | os.PathLike[str],
) -> ValidationCheck | str:
    """Decode the first ``n_lines`` of a split with the freshly trained (saved) adapter.

    The CER/WER are added to the run's ``run.json`` under ``validation``.

    Returns:
        A :class:`ValidationCheck` (shown as a table of diffs in a notebook), or a
        sentence saying why nothing was checked.
    """
    if n_lines <= 0 or len(split) == 0:
        return "No validation check: eval_lines is 0 or the validation split is empty."
    if not is_main_process():
        return "No validation check in this process: the main process (rank 0) checks the run it wrote."
    lines = take_lines(split, n_lines)
    refs = list(lines["text"])
    preds = predict_lines(loaded, list(lines["image"]), limits=settings.image_limits,
                          max_new_tokens=max_new_tokens_for(loaded.processor, refs), desc="validation check")
    hyps = [p.text for p in preds]
    metrics = system_metrics("validation", score_lines(list(lines["id"]), refs, hyps))
    summary = {"lines": len(refs), "cer": round(metrics.cer, 4), "wer": round(metrics.wer, 4)}
    info = RunInfo.load(run_dir)
    info.validation = summary
    info.save(project_path(run_dir))
    return ValidationCheck(len(refs), metrics.cer, metrics.wer, list(zip(refs, hyps))[:5])


def predict_systems(
    base_name: str,
    runs: Sequence[Path],
    lines: datasets.Dataset,
    *,
    include_base: bool = True,
    baselines: Sequence[str] = (),
    batch_size: int = 8,
    backend: str = "auto",
    load_in_4bit: bool = True,
) -> dict[str, list[Prediction]]:
    """Decode a split with the base model, each classic-OCR baseline and each adapter.

    The base model is loaded once; each adapter is attached in turn. Images
    use the size limits each run was trained with, and ``max_new_tokens``
    comes from the references (:func:`~inkwell.models.decode.max_new_tokens_for`).
    Baselines (:mod:`inkwell.reading.baselines`) read the same line images.

    Returns:
        ``{"base": [...], "<baseline>": [...], "<run name>": [...], ...}``: base, baselines, then runs in the order
        given (the bootstrap reads each later system against each earlier one).

    Raises:
        ValueError: An unknown baseline, or a run named like another system ("base" or a baseline).
    """
    known = set(baseline_names())
    unknown = [b for b in baselines if b not in known]
    if unknown:
        raise ValueError(f"baselines = {list(baselines)!r}: unknown {unknown}; choose from {sorted(known)} "
                         "or leave the list empty.")
    clash = [r.name for r in runs if r.name == "base" or r.name in baselines]
    if clash:
        raise ValueError(f"Run(s) {clash} have the name of another system in this evaluation; rename the run "
                         "folder under adapters/ or leave that baseline out.")
    loaded = load_model(base_name, load_in_4bit=load_in_4bit, backend=backend, gradient_checkpointing=False,
                        for_training=False, trust_remote_code=trusts_remote_code(runs))
    refs = list(lines["text"])
    images = list(lines["image"])
    limit = max_new_tokens_for(loaded.processor, refs)
    out: dict[str, list[Prediction]] = {}
    if include_base:  # with the image limits of the first run, so the base sees what the adapters see
        out["base"] = predict_lines(loaded, images, limits=image_limits_of(runs[0] if runs else None),
                                    max_new_tokens=limit, batch_size=batch_size, desc="decoding base")
    for name in baselines:
        out[name] = read_baseline(name, images)
    for run in runs:
        load_adapter(loaded, run)
        out[run.name] = predict_lines(loaded, images, limits=image_limits_of(run), max_new_tokens=limit,
                                      batch_size=batch_size, desc=f"decoding {run.name}")
    return out


def texts_of(predictions: dict[str, list[Prediction]]) -> dict[str, list[str]]:
    """Just the decoded texts, per system."""
    return {k: [p.text for p in v] for k, v in predictions.items()}


def confidences_of(predictions: dict[str, list[Prediction]]) -> dict[str, list[float | None]]:
    """Each line's decoding confidence, per system (None for a reader that gives none)."""
    return {k: [p.confidence for p in v] for k, v in predictions.items()}


def new_evaluation_dir(dataset_name: str, split: str, root: str | os.PathLike[str] = "adapters/evaluations") -> Path:
    """A fresh folder for one evaluation's files (never an existing one)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return unique_path(project_path(root), f"{dataset_name}-{split}-{stamp}")


def evaluation_context(
    dataset_name: str, split: str, runs: Sequence[Path], base_name: str, predictions: dict[str, list[Prediction]]
) -> dict[str, Any]:
    """Entries for ``metrics.json``: what was evaluated, and guard/limit counts per system."""
    return {
        "dataset": dataset_name,
        "split": split,
        "base_model": base_name,
        "adapters": [str(r) for r in runs],
        "stopped_by_repetition_guard": {k: sum(p.stopped_by_guard for p in v) for k, v in predictions.items()},
        "hit_max_new_tokens": {k: sum(p.hit_limit for p in v) for k, v in predictions.items()},
        "versions": library_versions(),
        "created": now_iso(),
    }
