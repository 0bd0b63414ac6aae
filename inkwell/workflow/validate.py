"""The notebooks' parameters checked before anything loads or is written (02_finetune, 03_evaluate, 04_demo).

Stage ``workflow``: imports lower stages, :mod:`inkwell.models.loading` (to read a
model's ``config.json``, no weights), :mod:`inkwell.data.dataset` (the processed sets)
and :mod:`inkwell.models.runs` (the finished runs). Every refusal names the parameter,
the value it got and what is allowed; all problems are reported together, and
nothing is created on disk.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inkwell.reading.baselines import baseline_names
from inkwell.data.corrections import ORDERS
from inkwell.data.dataset import processed_sets
from inkwell.models.families import FAMILIES
from inkwell.models.loading import BACKENDS, model_family, unsloth_first
from inkwell.reading.lines import LINE_FINDERS
from inkwell.reading.lines.kraken import kraken_available
from inkwell.reading.pages import READ_MODES
from inkwell.core.paths import project_path
from inkwell.models.runs import find_runs

__all__ = ["ParameterError", "check_demo_parameters", "check_evaluate_parameters", "check_finetune_parameters",
           "share_problem"]

#: Learning-rate schedules the trainer accepts by name in 02_finetune.
_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")


class ParameterError(ValueError):
    """One or more notebook parameters are out of range; the message lists each with its allowed values."""


@dataclass(frozen=True)
class _Rule:
    """One parameter's allowed values, as a test and the words that describe it."""

    name: str
    test: Callable[[Any], bool]
    allowed: str


def _int(lo: int, hi: float = math.inf) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _num(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[Any], bool]:
    def test(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)

    return test


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


_RULES = (
    _Rule("max_steps", _int(0), "an integer >= 0 (0: train num_epochs epochs), e.g. 60"),
    _Rule("num_epochs", _num(0, 1000, lo_open=True), "a number > 0 and <= 1000, e.g. 1.0"),
    _Rule("batch_size", _int(1, 4096), "an integer from 1 to 4096, e.g. 2"),
    _Rule("grad_accum", _int(1, 4096), "an integer from 1 to 4096, e.g. 4"),
    _Rule("warmup_steps", _int(0), "an integer >= 0, e.g. 5"),
    _Rule("learning_rate", _num(0, 1, lo_open=True), "a number > 0 and <= 1, e.g. 2e-4"),
    _Rule("weight_decay", _num(0, 1), "a number from 0 to 1, e.g. 0.0"),
    _Rule("lr_scheduler", lambda v: v in _SCHEDULERS, "one of " + ", ".join(repr(s) for s in _SCHEDULERS)),
    _Rule("lora_r", _int(1, 1024), "an integer from 1 to 1024, e.g. 16"),
    _Rule("lora_alpha", _num(0, 4096, lo_open=True), "a number > 0, e.g. 16"),
    _Rule("lora_dropout", _num(0, 1, hi_open=True), "a number from 0 up to (not including) 1, e.g. 0.0"),
    _Rule("max_image_width", _int(1, 16384), "an integer number of pixels, e.g. 1024"),
    _Rule("max_image_height", _int(1, 16384), "an integer number of pixels, e.g. 128"),
    _Rule("max_train_lines", _int(0), "an integer >= 0 (0: all lines)"),
    _Rule("eval_lines", _int(0), "an integer >= 0 (0: no validation)"),
    _Rule("save_steps", _int(0), "an integer >= 0 (0: no checkpoints, the run cannot be resumed), e.g. 50"),
    _Rule("resume", lambda v: isinstance(v, str), 'a run name, "last" or "" (a new run)'),
    _Rule("eval_steps", _int(0), "an integer >= 0 (0: validate only at the end)"),
    _Rule("early_stopping_patience", _int(0), "an integer >= 0 (0: never stop early)"),
    _Rule("seed", _int(0, 2**32 - 1), "an integer from 0 to 2**32 - 1, e.g. 3407"),
    _Rule("backend", lambda v: v in BACKENDS, "one of " + ", ".join(repr(b) for b in BACKENDS)),
    *(
        _Rule(name, _bool, "True or False")
        for name in ("load_in_4bit", "trust_remote_code", "finetune_vision_layers", "finetune_language_layers",
                     "finetune_attention_modules", "finetune_mlp_modules", "use_dora", "use_rslora")
    ),
)


def check_finetune_parameters(parameters: dict[str, Any], *, processed_root: str = "data/processed") -> str:
    """Check 02_finetune's parameters before the data or the model is loaded.

    Checks every numeric and switch parameter against its range, that the data
    set exists, that ``model_name`` names a readable checkpoint of a supported
    family (its ``config.json`` only; no weights, no remote code run), and that
    the image limits hold at least one vision patch of that family.

    Args:
        parameters: The notebook's parameters (``helpers.literal_parameters(globals())``).
        processed_root: Folder of the processed data sets.

    Returns:
        The family key of the model, for the record.

    Raises:
        ParameterError: Listing every parameter that is out of range, each with the value
            it got and what is allowed.
    """
    unsloth_first(str(parameters.get("backend", "auto")))  # before anything imports transformers
    problems = _range_problems(_RULES, parameters)
    if parameters.get("max_steps") == 0 and "num_epochs" not in parameters:
        problems.append("max_steps = 0 trains num_epochs epochs, and num_epochs is not set.")
    if "dataset_name" in parameters:
        problems += _dataset_problems(parameters["dataset_name"], None, processed_root)
    family = ""
    if "model_name" in parameters:
        family, problem = _model_family(str(parameters["model_name"]), parameters.get("trust_remote_code") is True)
        if problem:
            problems.append(problem)
    if family:
        patch = FAMILIES[family].patch_multiple
        for name in ("max_image_width", "max_image_height"):
            value = parameters.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < patch:
                problems.append(f"{name} = {value}: must be at least one vision patch of {family}, {patch} px.")
    if problems:
        raise ParameterError("02_finetune cannot start; fix these parameters:\n- " + "\n- ".join(problems))
    return family


_BY_NAME = {rule.name: rule for rule in _RULES}

#: Lines decoded together, in 03_evaluate and 04_demo alike.
_DECODE_BATCH = _Rule("batch_size", _int(1, 4096), "an integer from 1 to 4096 (lines decoded together), e.g. 8")

_EVALUATE_RULES = (
    *(_BY_NAME[name] for name in ("backend", "load_in_4bit")),
    _DECODE_BATCH,
    _Rule("max_lines", _int(0), "an integer >= 0 (0: all lines of the split)"),
    _Rule("n_bootstrap", _int(1, 1_000_000), "an integer from 1 to 1000000, e.g. 1000"),
    _Rule("show_samples", _int(0), "an integer >= 0 (0: none)"),
    _Rule("include_base", _bool, "True or False"),
    _Rule("model_name", lambda v: isinstance(v, str), 'a hub id, a model folder, or "" (the adapters\' base)'),
)

_DEMO_RULES = (
    *(_BY_NAME[name] for name in ("backend", "load_in_4bit")),
    _Rule("max_files", _int(0), "an integer >= 0 (0: every file of the folder)"),
    _Rule("max_new_tokens", _int(1, 32768), "an integer from 1 to 32768, e.g. 128"),
    _Rule("mode", lambda v: v in READ_MODES, "one of " + ", ".join(repr(m) for m in READ_MODES)),
    _Rule("line_finder", lambda v: v in LINE_FINDERS, "one of " + ", ".join(repr(f) for f in LINE_FINDERS)),
    _Rule("pdf_dpi", _int(50, 600), "an integer from 50 to 600, e.g. 200 (lower it for very large pages)"),
    _DECODE_BATCH,
    _Rule("output_dir", lambda v: isinstance(v, str), 'a folder path, or "" for adapters/<run>/readings/<time>/'),
    _Rule("adapter", lambda v: isinstance(v, str), 'a run name, "" (the run with the best validation CER) or "none"'),
    _Rule("model_name", lambda v: isinstance(v, str), 'a hub id, a model folder, or "" (the adapter\'s base)'),
    _Rule("order", lambda v: v in ORDERS, "one of " + ", ".join(repr(o) for o in ORDERS)),
    _Rule("corrections_name", lambda v: isinstance(v, str) and bool(v) and "/" not in v and "\\" not in v
          and not v.startswith("."), 'a plain folder name for data/raw/<name>/, e.g. "my-hand"'),
    _Rule("readings_to_correct", lambda v: isinstance(v, str),
          'a readings folder 04_demo wrote, or "" for the readings just made'),
)


def check_evaluate_parameters(parameters: dict[str, Any], *, processed_root: str = "data/processed",
                              adapters_root: str = "adapters") -> None:
    """Check 03_evaluate's parameters before the data or any model is loaded.

    Checks every numeric and switch parameter against its range, that the data set
    exists and has the split, and that every named adapter is a finished run.

    Args:
        parameters: The notebook's parameters (``helpers.literal_parameters(globals())``).
        processed_root: Folder of the processed data sets.
        adapters_root: Folder of the runs.

    Raises:
        ParameterError: Listing every parameter that is out of range, each with the value
            it got and what is allowed.
    """
    unsloth_first(str(parameters.get("backend", "auto")))  # before anything imports transformers
    problems = _range_problems(_EVALUATE_RULES, parameters)
    if "dataset_name" in parameters:
        problems += _dataset_problems(parameters["dataset_name"], parameters.get("split"), processed_root)
    adapters = parameters.get("adapters", "all")
    if not (isinstance(adapters, str) or (isinstance(adapters, list) and all(isinstance(a, str) for a in adapters))):
        problems.append(f'adapters = {adapters!r}: must be "all", a run name, or a list of run names.')
    else:
        try:
            find_runs(adapters, adapters_root)
        except FileNotFoundError as exc:
            problems.append(f"adapters = {adapters!r}: {exc}")
    baselines = parameters.get("baselines", [])
    known = baseline_names()
    if not isinstance(baselines, list) or any(b not in known for b in baselines):
        problems.append(f"baselines = {baselines!r}: must be a list of classic-OCR systems from {known}, or [].")
    focus = parameters.get("focus", "")
    if not isinstance(focus, str):
        problems.append(f'focus = {focus!r}: must be a system name ("base", a baseline or a run name) or "".')
    shares = parameters.get("learning_curve", [])
    if shares != [] and (problem := share_problem(shares)):
        problems.append(problem)
    if problems:
        raise ParameterError("03_evaluate cannot start; fix these parameters:\n- " + "\n- ".join(problems))


def share_problem(shares: Any, name: str = "learning_curve") -> str:
    """Why ``shares`` is not a learning curve's list of training shares ("" when it is one).

    A curve needs two or more different shares of the training split, each in (0, 1].
    """
    ok = (isinstance(shares, list) and len(shares) >= 2 and len(set(shares)) == len(shares)
          and all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s <= 1 for s in shares))
    return "" if ok else (f"{name} = {shares!r}: give two or more different shares of the training split between "
                          "0 and 1, e.g. [0.25, 0.5, 1.0] (1.0 is all of it), or [] for no curve.")


def check_demo_parameters(parameters: dict[str, Any]) -> None:
    """Check 04_demo's parameters (ranges and switches) before any model is loaded.

    Raises:
        ParameterError: Listing every parameter that is out of range, each with the value
            it got and what is allowed.
    """
    unsloth_first(str(parameters.get("backend", "auto")))  # before anything imports transformers
    problems = _range_problems(_DEMO_RULES, parameters)
    if parameters.get("line_finder") == "kraken" and (missing := kraken_available()):
        problems.append(missing)
    if problems:
        raise ParameterError("04_demo cannot start; fix these parameters:\n- " + "\n- ".join(problems))


def _range_problems(rules: tuple[_Rule, ...], parameters: dict[str, Any]) -> list[str]:
    """One line per parameter present in ``parameters`` that fails its rule."""
    return [
        f"{rule.name} = {parameters[rule.name]!r}: must be {rule.allowed}."
        for rule in rules
        if rule.name in parameters and not rule.test(parameters[rule.name])
    ]


def _dataset_problems(dataset: Any, split: Any, processed_root: str) -> list[str]:
    """The data set is missing, or (when ``split`` is given) has no such split: the problem in words."""
    folder = project_path(processed_root) / str(dataset)
    if not (folder / "dataset_dict.json").is_file():
        found = ", ".join(repr(n) for n in processed_sets(processed_root)) or "none yet"
        return [f"dataset_name = {dataset!r}: no processed data set {folder}. "
                f"Run 01_data with this dataset_name first, or pick one of: {found}."]
    if split is None:
        return []
    try:
        splits = list(json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8"))["splits"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"dataset_name = {dataset!r}: {folder / 'dataset_dict.json'} cannot be read ({exc}); "
                "run 01_data again to rewrite the set."]
    if split not in splits:
        return [f"split = {split!r}: the data set {dataset!r} has the splits "
                f"{', '.join(repr(s) for s in splits)}; set split to one of them."]
    return []


def _model_family(model_name: str, trust_remote_code: bool) -> tuple[str, str]:
    """The family key of ``model_name`` read from its ``config.json``, or the problem in words."""
    try:
        return model_family(model_name, trust_remote_code), ""
    except PermissionError as exc:
        return "", f"trust_remote_code = {trust_remote_code!r}: {exc}"
    except (FileNotFoundError, ValueError) as exc:
        return "", f"model_name = {model_name!r}: {exc}"
