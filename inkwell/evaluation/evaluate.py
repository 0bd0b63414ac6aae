"""Scoring: line and corpus CER/WER, alignments, the paired bootstrap, and the files an evaluation writes.

Stage ``evaluation``: imports lower stages and :mod:`inkwell.models.runs` (the time stamp). Edit counts come from
``rapidfuzz.distance.Levenshtein`` (the same counts jiwer's alignments give, many
times faster); alignments for diffs and confusions are in :mod:`inkwell.evaluation.align`.
Corpus rates are total edits over total reference units, never a mean of line rates.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein

from inkwell.core.csvsafe import read_frame, write_frame
from inkwell.core.paths import atomic_file, locked, new_folder
from inkwell.models.runs import now_iso

__all__ = ["RUNAWAY_CER", "BootstrapResult", "Evaluation", "LineScore", "SystemMetrics", "cer_interval",
           "edit_counts", "evaluate_systems", "line_cer", "normalize_text", "paired_bootstrap", "prepare_text",
           "read_comparison", "read_predictions", "save_evaluation", "score_lines", "system_metrics", "update_comparison"]

#: Line CER above this value marks a runaway line.
RUNAWAY_CER = 1.0



@dataclass
class LineScore:
    """Score of one predicted line against its reference.

    Attributes:
        id: Line identifier.
        reference: Reference text as scored (NFC, outer whitespace stripped).
        prediction: Predicted text as scored (NFC, outer whitespace stripped).
        cer: Line character error rate, ``edits / ref_chars`` (may exceed 1).
        edits: Character edits (substitutions + deletions + insertions).
        ref_chars: Number of reference characters.
        word_edits: Word edits.
        ref_words: Number of reference words.
    """

    id: str
    reference: str
    prediction: str
    cer: float
    edits: int
    ref_chars: int
    word_edits: int
    ref_words: int


@dataclass
class SystemMetrics:
    """Corpus-level metrics of one system.

    Attributes:
        system: System name.
        n_lines: Number of scored lines.
        cer: Corpus CER, total character edits / total reference characters.
        wer: Corpus WER, total word edits / total reference words.
        median_cer: Median of the per-line CERs.
        exact_match: Fraction of lines predicted exactly.
        n_runaway: Number of lines with CER above 1.0.
        runaway_ids: Ids of those lines, in input order.
        cer_normalized: Corpus CER after :func:`normalize_text` on both sides.
        wer_normalized: Corpus WER after :func:`normalize_text` on both sides.
    """

    system: str
    n_lines: int
    cer: float
    wer: float
    median_cer: float
    exact_match: float
    n_runaway: int
    runaway_ids: list[str]
    cer_normalized: float
    wer_normalized: float

    def to_dict(self) -> dict:
        """Return the metrics as a plain, JSON-ready dictionary."""
        return asdict(self)


@dataclass
class BootstrapResult:
    """Paired bootstrap confidence interval of a corpus-CER difference.

    Attributes:
        system_a: Baseline system name.
        system_b: Compared system name.
        diff: ``CER(b) - CER(a)`` on all lines; negative means b is better.
        low: Lower end of the 95% interval of the difference.
        high: Upper end of the 95% interval of the difference.
        n_resamples: Number of bootstrap resamples.
    """

    system_a: str
    system_b: str
    diff: float
    low: float
    high: float
    n_resamples: int

    @property
    def significant(self) -> bool:
        """True when the 95% interval excludes zero."""
        return self.high < 0 or self.low > 0

    @property
    def verdict(self) -> str:
        """One sentence saying whether b is better, worse or indistinguishable."""
        ci = (
            f"CER {100 * self.diff:+.2f} points, "
            f"95% CI [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"
        )
        if self.high < 0:
            return f"{self.system_b} is better than {self.system_a} ({ci})."
        if self.low > 0:
            return f"{self.system_b} is worse than {self.system_a} ({ci})."
        return f"{self.system_b} and {self.system_a} are not distinguishable at 95% ({ci})."

    def to_dict(self) -> dict:
        """Return the result, with its verdict, as a plain dictionary."""
        return {**asdict(self), "verdict": self.verdict}


def normalize_text(text: str) -> str:
    """Normalise text for the lenient metric variants.

    Apply NFC and case folding, remove every character of a Unicode
    punctuation category (``P*``; symbols such as ``$`` are kept), collapse
    runs of whitespace to one space and strip the ends.

    Args:
        text: Text to normalise.

    Returns:
        The normalised text.

    Example:
        >>> normalize_text("  Hello,   WORLD! ")
        'hello world'
    """
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return unicodedata.normalize("NFC", " ".join(text.split()))

def _as_text(value: Any) -> str:
    """Turn a cell value into text; None and float NaN (empty CSV cells) become ''."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def prepare_text(text: Any) -> str:
    """NFC-normalise and strip one side before scoring."""
    return unicodedata.normalize("NFC", _as_text(text)).strip()


def _words(text: str) -> list[str]:
    """Words as jiwer's default WER transform splits them (runs of whitespace folded, split on spaces)."""
    return [w for w in re.sub(r"\s\s+", " ", text).strip().split(" ") if w]


def edit_counts(refs: Sequence[str], hyps: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-line character and word edits plus reference lengths.

    Lines with an empty reference are allowed here: every predicted character
    (word) then counts as an insertion against zero reference characters.

    Returns:
        Arrays ``(char_edits, ref_chars, word_edits, ref_words)``.
    """
    char_edits = np.array([Levenshtein.distance(r.strip(), h.strip()) for r, h in zip(refs, hyps)], dtype=np.int64)
    word_edits = np.array([Levenshtein.distance(_words(r), _words(h)) if r.strip() else len(h.split())
                           for r, h in zip(refs, hyps)], dtype=np.int64)
    ref_chars = np.array([len(r) for r in refs], dtype=np.int64)
    ref_words = np.array([len(r.split()) for r in refs], dtype=np.int64)
    return char_edits, ref_chars, word_edits, ref_words


def score_lines(ids: Sequence[Any], references: Sequence[Any], predictions: Sequence[Any]) -> list[LineScore]:
    """Score predictions line by line.

    Args:
        ids: Line identifiers (converted to ``str``; must be unique).
        references: Reference transcriptions; none may be empty.
        predictions: Predicted transcriptions; empty (or None/NaN) is allowed
            and scores CER 1.0 for that line.

    Returns:
        One :class:`LineScore` per line, in input order.

    Raises:
        ValueError: If the lengths differ, ids repeat, or a reference is empty.

    Example:
        >>> score_lines(["l1"], ["abcd"], ["abed"])[0].cer
        0.25
    """
    if not (len(ids) == len(references) == len(predictions)):
        raise ValueError(
            f"ids, references and predictions must have the same length, got "
            f"{len(ids)}, {len(references)} and {len(predictions)}."
        )
    str_ids = [str(i) for i in ids]
    dupes = sorted(k for k, c in Counter(str_ids).items() if c > 1)
    if dupes:
        raise ValueError(f"Line ids must be unique; repeated: {dupes[:10]}")
    refs = [prepare_text(r) for r in references]
    hyps = [prepare_text(h) for h in predictions]
    for line_id, ref in zip(str_ids, refs):
        if not ref:
            raise ValueError(
                f"Line {line_id!r} has an empty reference, so its error rate is undefined. "
                f"Fix the transcription or drop that row from the data set."
            )
    if not refs:
        return []
    char_edits, ref_chars, word_edits, ref_words = edit_counts(refs, hyps)
    return [
        LineScore(
            id=str_ids[i],
            reference=refs[i],
            prediction=hyps[i],
            cer=float(char_edits[i]) / float(ref_chars[i]),
            edits=int(char_edits[i]),
            ref_chars=int(ref_chars[i]),
            word_edits=int(word_edits[i]),
            ref_words=int(ref_words[i]),
        )
        for i in range(len(refs))
    ]


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def system_metrics(system: str, scores: list[LineScore]) -> SystemMetrics:
    """Aggregate line scores into corpus metrics.

    Args:
        system: System name.
        scores: Line scores from :func:`score_lines`.

    Returns:
        The system's :class:`SystemMetrics`. The normalised variants are
        recomputed from the texts with :func:`normalize_text`; a line whose
        reference normalises to nothing (e.g. only punctuation) contributes
        its predicted characters as insertions and no reference characters.

    Raises:
        ValueError: If ``scores`` is empty.
    """
    if not scores:
        raise ValueError(f"System {system!r} has no scored lines.")
    edits = np.array([s.edits for s in scores], dtype=np.int64)
    chars = np.array([s.ref_chars for s in scores], dtype=np.int64)
    wedits = np.array([s.word_edits for s in scores], dtype=np.int64)
    words = np.array([s.ref_words for s in scores], dtype=np.int64)
    cers = np.array([s.cer for s in scores], dtype=float)
    runaway = [s.id for s in scores if s.cer > RUNAWAY_CER]
    n_refs = [normalize_text(s.reference) for s in scores]
    n_hyps = [normalize_text(s.prediction) for s in scores]
    n_edits, n_chars, n_wedits, n_words = edit_counts(n_refs, n_hyps)
    return SystemMetrics(
        system=system,
        n_lines=len(scores),
        cer=_ratio(edits.sum(), chars.sum()),
        wer=_ratio(wedits.sum(), words.sum()),
        median_cer=float(np.median(cers)),
        exact_match=float(np.mean(edits == 0)),
        n_runaway=len(runaway),
        runaway_ids=runaway,
        cer_normalized=_ratio(n_edits.sum(), n_chars.sum()),
        wer_normalized=_ratio(n_wedits.sum(), n_words.sum()),
    )


def paired_bootstrap(
    scores_a: list[LineScore],
    scores_b: list[LineScore],
    n_resamples: int = 1000,
    seed: int = 0,
    system_a: str = "a",
    system_b: str = "b",
) -> BootstrapResult:
    """Paired bootstrap 95% interval of ``CER(b) - CER(a)``.

    Line indices are resampled with replacement; on each resample both
    systems' corpus CERs are recomputed as summed edits over summed reference
    characters of the same lines. The work is vectorised over per-line edit
    counts and processed in blocks to bound memory.

    Args:
        scores_a: Line scores of the baseline system.
        scores_b: Line scores of the compared system, same lines and order.
        n_resamples: Number of resamples.
        seed: Seed of the random generator; equal seeds give equal results.
        system_a: Name of system a.
        system_b: Name of system b.

    Returns:
        A :class:`BootstrapResult`; ``high < 0`` means b is better at 95%.

    Raises:
        ValueError: If the line lists are empty, differ in ids, or
            ``n_resamples < 1``.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}.")
    if not scores_a or len(scores_a) != len(scores_b):
        raise ValueError("Both systems need the same, non-empty list of lines.")
    if [s.id for s in scores_a] != [s.id for s in scores_b]:
        raise ValueError(f"{system_a!r} and {system_b!r} were not scored on the same line ids in the same order.")
    ea = np.array([s.edits for s in scores_a], dtype=np.int64)
    eb = np.array([s.edits for s in scores_b], dtype=np.int64)
    chars = np.array([s.ref_chars for s in scores_a], dtype=np.int64)
    delta = eb - ea
    n = len(chars)
    diff = float(delta.sum()) / float(chars.sum())
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, 2_000_000 // max(n, 1)))
    diffs = np.empty(n_resamples, dtype=float)
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        diffs[done : done + size] = delta[idx].sum(axis=1) / chars[idx].sum(axis=1)
        done += size
    low, high = np.percentile(diffs, [2.5, 97.5])
    return BootstrapResult(
        system_a=system_a,
        system_b=system_b,
        diff=diff,
        low=float(low),
        high=float(high),
        n_resamples=int(n_resamples),
    )


def cer_interval(scores: Sequence[LineScore], n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% interval of one system's corpus CER (lines resampled with replacement)."""
    edits = np.array([s.edits for s in scores], dtype=np.int64)
    chars = np.array([s.ref_chars for s in scores], dtype=np.int64)
    idx = np.random.default_rng(seed).integers(0, len(scores), size=(n_resamples, len(scores)))
    cers = edits[idx].sum(axis=1) / np.maximum(1, chars[idx].sum(axis=1))
    low, high = np.percentile(cers, [2.5, 97.5])
    return float(low), float(high)


_METRIC_COLUMNS = ["n_lines", "cer", "cer_normalized", "wer", "wer_normalized", "median_cer", "exact_match",
                   "n_runaway"]


@dataclass
class Evaluation:
    """Scores of several systems on the same lines.

    Attributes:
        ids: Line ids, in input order.
        references: Reference texts as scored.
        metrics: System name -> :class:`SystemMetrics`, in input order.
        scores: System name -> line scores, in line order.
        bootstrap: One :class:`BootstrapResult` per pair of systems
            (a before b in input order; diff is ``CER(b) - CER(a)``).
        seed: Bootstrap seed.
        n_resamples: Bootstrap resamples.
        confidences: System name -> each line's decoding confidence (0 to 1, or None), in line order.
    """

    ids: list[str]
    references: list[str]
    metrics: dict[str, SystemMetrics]
    scores: dict[str, list[LineScore]]
    bootstrap: list[BootstrapResult] = field(default_factory=list)
    seed: int = 0
    n_resamples: int = 1000
    confidences: dict[str, list[float | None]] = field(default_factory=dict)

    @property
    def systems(self) -> list[str]:
        """System names in input order."""
        return list(self.metrics)

    def table(self) -> pd.DataFrame:
        """One row per system with raw and normalised corpus metrics."""
        rows = [{"system": m.system, **{c: getattr(m, c) for c in _METRIC_COLUMNS}} for m in self.metrics.values()]
        return pd.DataFrame(rows, columns=["system", *_METRIC_COLUMNS])

    def bootstrap_table(self) -> pd.DataFrame:
        """One row per system pair: difference, interval and verdict."""
        rows = [b.to_dict() for b in self.bootstrap]
        cols = ["system_a", "system_b", "diff", "low", "high", "n_resamples", "verdict"]
        return pd.DataFrame(rows, columns=cols)

    def predictions_frame(self) -> pd.DataFrame:
        """Long table with columns id, system, reference, prediction, cer, confidence (empty where none)."""
        rows = [
            {"id": s.id, "system": name, "reference": s.reference, "prediction": s.prediction, "cer": s.cer,
             "confidence": self.confidences.get(name, [None] * len(line_scores))[k]}
            for name, line_scores in self.scores.items()
            for k, s in enumerate(line_scores)
        ]
        return pd.DataFrame(rows, columns=["id", "system", "reference", "prediction", "cer", "confidence"])

    def by_id(self) -> dict[str, dict[str, LineScore]]:
        """System name -> line id -> that line's score."""
        return {name: {s.id: s for s in line_scores} for name, line_scores in self.scores.items()}

    def worst_first(self, focus: str | Sequence[str], ids: Iterable[str] | None = None) -> list[str]:
        """Line ids sorted worst first (stable), optionally only ``ids``.

        Args:
            focus: One system name: order by that system's own line CER (how
                the notebook shows where one adapter still fails). A list of
                names: order by the highest CER among them.
            ids: Restrict to these line ids.
        """
        names = [focus] if isinstance(focus, str) else list(focus) or self.systems
        worst = self.line_cers(names).max(axis=1)
        if ids is not None:
            wanted = {str(i) for i in ids}
            worst = worst[worst.index.isin(wanted)]
        order = np.argsort(-worst.to_numpy(), kind="stable")
        return [worst.index[i] for i in order]

    def focus_system(self, focus: str = "", adapters: Sequence[str] = ()) -> str:
        """The system the notebook's views centre on.

        Args:
            focus: A system name (``"base"``, a run name, a baseline), or empty
                for the default: the newest of ``adapters`` that was evaluated,
                else the last system.
            adapters: Run names, oldest first (as :func:`~inkwell.models.runs.find_runs` gives them).

        Raises:
            ValueError: ``focus`` names no system of this evaluation (the message lists them).
        """
        if focus:
            if focus not in self.metrics:
                raise ValueError(f"focus = {focus!r} is not a system of this evaluation; choose one of "
                                 f"{self.systems}, or leave focus empty for the newest adapter.")
            return focus
        evaluated = [a for a in adapters if a in self.metrics]
        return evaluated[-1] if evaluated else self.systems[-1]

    def line_cers(self, systems: Sequence[str] | None = None) -> pd.DataFrame:
        """Wide table of line CERs: index id, one column per system."""
        names = list(systems) if systems is not None else self.systems
        data = {name: [s.cer for s in self.scores[name]] for name in names}
        return pd.DataFrame(data, index=pd.Index(self.ids, name="id"))


def evaluate_systems(
    ids: Sequence[Any],
    references: Sequence[Any],
    predictions_by_system: Mapping[str, Sequence[Any]],
    n_resamples: int = 1000,
    seed: int = 0,
    confidences: Mapping[str, Sequence[float | None]] | None = None,
) -> Evaluation:
    """Score every system on the same lines and compares each pair.

    Args:
        ids: Line identifiers.
        references: Reference transcriptions (none empty).
        predictions_by_system: System name -> predictions aligned with ``ids``.
            Put the baseline first: pair differences read later minus earlier.
        n_resamples: Bootstrap resamples per pair.
        seed: Bootstrap seed (the same for every pair).
        confidences: System name -> line confidences aligned with ``ids`` (systems left out have none).

    Returns:
        An :class:`Evaluation`.

    Raises:
        ValueError: On empty input, mismatched lengths or empty references.
    """
    if not predictions_by_system:
        raise ValueError("predictions_by_system is empty; pass at least one system.")
    if len(ids) == 0:
        raise ValueError("No lines to evaluate.")
    scores = {str(name): score_lines(ids, references, preds) for name, preds in predictions_by_system.items()}
    metrics = {name: system_metrics(name, s) for name, s in scores.items()}
    pairs = [
        paired_bootstrap(scores[a], scores[b], n_resamples=n_resamples, seed=seed, system_a=a, system_b=b)
        for a, b in itertools.combinations(scores, 2)
    ]
    first = next(iter(scores.values()))
    return Evaluation(
        ids=[s.id for s in first],
        references=[s.reference for s in first],
        metrics=metrics,
        scores=scores,
        bootstrap=pairs,
        seed=seed,
        n_resamples=n_resamples,
        confidences={str(k): list(v) for k, v in (confidences or {}).items()},
    )


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_evaluation(evaluation: Evaluation, out_dir: str | os.PathLike, extra: dict | None = None) -> dict[str, Path]:
    """Write ``predictions.csv`` and ``metrics.json`` into ``out_dir``.

    ``predictions.csv`` has columns id, system, reference, prediction, cer, confidence; a text
    cell that a spreadsheet would run as a formula gets a leading ``'`` (see
    :mod:`inkwell.core.csvsafe`); :func:`read_predictions` gives the texts back exactly.
    ``metrics.json`` holds ``n_lines``, ``systems`` (per-system metrics),
    ``bootstrap`` (one entry per pair, with its verdict), ``bootstrap_seed``
    and ``extra`` (e.g. dataset, split, adapter paths). NaN is written as null.

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        out_dir: Folder to write into; created if missing.
        extra: JSON-serialisable run details (non-JSON values are stringified).

    Returns:
        ``{"predictions": path, "metrics": path}``: in ``out_dir``, or in ``<out_dir>-2``, ``-3``, ... when
        another evaluation took that name meanwhile. Both files appear together or not at all.

    Raises:
        FileExistsError: If either file already exists; nothing is written.
            Use a fresh folder per run.
    """
    out = Path(out_dir)
    for path in (out / "predictions.csv", out / "metrics.json"):
        if path.exists():
            raise FileExistsError(f"{path} already exists; write this run to a fresh folder instead of overwriting.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with new_folder(out) as new:  # written in a hidden staging folder, moved in place when complete
        write_frame(evaluation.predictions_frame(), new.staging / "predictions.csv")
        payload = {
            "n_lines": len(evaluation.ids),
            "systems": {name: m.to_dict() for name, m in evaluation.metrics.items()},
            "bootstrap": [b.to_dict() for b in evaluation.bootstrap],
            "bootstrap_seed": evaluation.seed,
            "extra": dict(extra or {}),
        }
        text = json.dumps(_json_safe(payload), indent=2, ensure_ascii=False, default=str)
        (new.staging / "metrics.json").write_text(text + "\n", encoding="utf-8")
    return {"predictions": new.path / "predictions.csv", "metrics": new.path / "metrics.json"}


#: Text columns of ``predictions.csv``.
_PREDICTION_TEXT = ["id", "system", "reference", "prediction"]


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``predictions.csv`` written by :func:`save_evaluation`, every text exactly as it was scored.

    Args:
        path: The file, or the evaluation folder that holds it.

    Returns:
        Columns id, system, reference, prediction (text; empty is ``""``), cer, confidence (NaN: none).
    """
    file = Path(path)
    if file.is_dir():
        file = file / "predictions.csv"
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist: pass the predictions.csv (or the folder) "
                                "that save_evaluation wrote.")
    return read_frame(file, _PREDICTION_TEXT)


#: What a comparison row says about where its numbers come from (with ``evaluation`` and ``created``).
_ROW_COLUMNS = ["dataset", "split", "system", "base_model"]
#: Text columns of ``comparison.csv``; a table written before one existed reads it as "".
_COMPARISON_TEXT = [*_ROW_COLUMNS, "evaluation", "created"]
_COMPARISON_COLUMNS = [*_ROW_COLUMNS, *_METRIC_COLUMNS, "evaluation", "created"]


def read_comparison(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``comparison.csv``, including one written before it had ``base_model``, ``evaluation`` and ``created``.

    Returns:
        The rows in file order; the known columns first, blank ("") where an older file lacks them,
        then any other columns of the file.
    """
    old = read_frame(path, _COMPARISON_TEXT)
    for column in _COMPARISON_TEXT:
        if column not in old.columns:
            old[column] = ""
    return old.reindex(columns=[*_COMPARISON_COLUMNS, *(c for c in old.columns if c not in _COMPARISON_COLUMNS)])


def update_comparison(
    evaluation: Evaluation,
    table_path: str | os.PathLike,
    dataset: str,
    split: str,
    *,
    base_model: str,
    evaluation_name: str,
) -> pd.DataFrame:
    """Add this evaluation's systems to a CSV comparison table shared across evaluations.

    Each row carries dataset, split, system, base_model, n_lines, the metrics,
    ``evaluation`` (the evaluation folder's name) and ``created``. Rows of other
    evaluations are never replaced, even with the same dataset, split and system:
    new rows are appended. Only the same evaluation written again replaces its own
    rows (same system, in place). The file is created if missing and replaced atomically, under a
    lock (:func:`~inkwell.core.paths.locked`): kernels finishing at once each add their rows; text
    cells are neutralised against spreadsheet formulas (:mod:`inkwell.core.csvsafe`).

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        table_path: CSV file of the comparison table.
        dataset: Data set name recorded in each row.
        split: Split name recorded in each row.
        base_model: Hub id or folder of the base model every system ran on.
        evaluation_name: The name of the folder :func:`save_evaluation` wrote (``saved["metrics"].parent.name``).

    Returns:
        The full table after the update.

    Raises:
        ValueError: ``evaluation_name`` is empty (the rows could not be told apart).
        TimeoutError: Another process held the table's lock for more than ``paths.LOCK_TIMEOUT`` seconds.
    """
    if not str(evaluation_name).strip():
        raise ValueError("update_comparison: evaluation_name = '' names no evaluation; pass the evaluation "
                         "folder's name, e.g. helpers.new_evaluation_dir(dataset_name, split).name.")
    path = Path(table_path)
    new = evaluation.table()
    new.insert(0, "base_model", str(base_model))
    new.insert(0, "split", str(split))
    new.insert(0, "dataset", str(dataset))
    new["evaluation"] = str(evaluation_name)
    new["created"] = now_iso()
    with locked(path):  # another kernel's update waits: its rows and these both end up in the file
        old = read_comparison(path) if path.exists() else pd.DataFrame(columns=_COMPARISON_COLUMNS)
        columns = list(old.columns)
        rows = old.to_dict("records")
        position = {(r["evaluation"], r["system"]): i for i, r in enumerate(rows) if r["evaluation"]}
        for rec in new.reindex(columns=columns).to_dict("records"):
            key = (rec["evaluation"], rec["system"])
            if key in position:
                rows[position[key]] = rec
            else:
                position[key] = len(rows)
                rows.append(rec)
        table = pd.DataFrame(rows, columns=columns)
        with atomic_file(path) as tmp:
            write_frame(table, tmp)
    return table


def line_cer(reference: str, prediction: str) -> float:
    """CER of one line (NaN when the reference is empty)."""
    ref, hyp = prepare_text(reference), prepare_text(prediction)
    if not ref:
        return float("nan")
    edits, chars, _, _ = edit_counts([ref], [hyp])
    return float(edits[0]) / float(chars[0])
