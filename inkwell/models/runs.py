"""The run record (``run.json``) and finding finished runs under ``adapters/``.

Stage ``models``: imports lower stages, :mod:`inkwell.models.prompt` (a run's image
limits) and :mod:`inkwell.models.loading` (when two base-model names are the same
model). :class:`RunInfo` is the one typed record of a training run: written by
:meth:`RunInfo.save`, read by :meth:`RunInfo.load` everywhere else. Parameters
are recorded once, under the names the user typed in ``02_finetune``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import warnings
from collections.abc import Sequence
from importlib import metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inkwell.models.loading import model_identity
from inkwell.core.paths import (PARTIAL_SUFFIX, CleanedUp, DamagedFileError, check_manifest, project_path,
                           unique_path, write_json)
from inkwell.models.prompt import ImageLimits

__all__ = [
    "RUN_FILE",
    "DatasetInfo",
    "InterruptedRun",
    "RunInfo",
    "base_model_of",
    "describe_interrupted",
    "find_interrupted",
    "find_runs",
    "interrupted_runs",
    "library_versions",
    "new_run_dir",
    "now_iso",
    "publish_saved_runs",
    "RunChoice",
    "image_limits_of",
    "trusts_remote_code",
    "pick_run",
    "recorded_val_cer",
]

#: The run record's file name inside ``adapters/<run_name>/``.
RUN_FILE = "run.json"

# Keys of run.json files written before the record was typed, and their names today.
_OLD_SETTINGS = {"epochs": "num_epochs", "scheduler": "lr_scheduler"}
_OLD_LORA = {"r": "lora_r", "alpha": "lora_alpha", "dropout": "lora_dropout", "vision": "finetune_vision_layers",
             "language": "finetune_language_layers", "attention": "finetune_attention_modules",
             "mlp": "finetune_mlp_modules"}


def now_iso() -> str:
    """The local time with its offset, to the second (the time stamps of run and evaluation records)."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a run's result."""
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "peft", "datasets", "bitsandbytes", "unsloth", "jiwer"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class DatasetInfo:
    """Which processed data set a run was trained on.

    Attributes:
        name: ``dataset_name`` as given.
        path: Its folder.
        fingerprint: :func:`~inkwell.data.dataset.dataset_fingerprint` of the set.
        splits: Lines per split.
    """

    name: str
    path: str
    fingerprint: str
    splits: dict[str, int]


@dataclass(kw_only=True)
class RunInfo:
    """The record of one training run, as ``run.json`` holds it.

    Attributes:
        run_name: The run's folder name.
        base_model: Hub id or folder of the base model.
        family: Model family key.
        backend: ``"unsloth"`` or ``"transformers"``.
        backend_reason: Why that backend ran.
        quantized_4bit: Whether the base weights were loaded in 4-bit (what the user asked for is
            ``parameters["load_in_4bit"]``).
        loaded_model: The hub id really read when it differs from ``base_model`` (Unsloth swaps some
            ids for its own 4-bit copies); "" when it is ``base_model`` itself.
        quantization: The layout read from the trained model's layers: ``method``, the parts with 4-bit
            layers (``four_bit``) and left unquantized (``sixteen_bit``), each with its layer count, and
            ``lora_dtype`` (see :class:`~inkwell.models.quantization.QuantizationLayout`).
        device: ``"cuda"`` or ``"cpu"``.
        threads: CPU threads torch used (CPU results depend on it).
        prompt: The instruction the model was trained with.
        train_lines: Training lines.
        parameters: Every parameter of the run, under its 02_finetune name.
        metrics: ``train_loss``, ``final_logged_loss``, ``steps``, ``train_seconds``; with validation
            also ``best_step``, ``best_val_cer``, ``saved_step`` (the step of the saved adapter),
            ``stop_reason`` and ``validation_seconds``.
        log_history: The trainer's log entries.
        versions: Library versions.
        started: Start time.
        finished: End time.
        dataset: The data set, when the run came from 02_finetune.
        validation: The quick validation check (``lines``, ``cer``, ``wer``), when it ran.
        val_history: Validation during training: ``{"step", "cer", "wer", "seconds"}`` per evaluation.
        extra: Entries of the file that this record does not know (kept as they were).
    """

    run_name: str
    base_model: str
    family: str
    backend: str
    backend_reason: str = ""
    quantized_4bit: bool
    loaded_model: str = ""
    quantization: dict[str, Any] = field(default_factory=dict)
    device: str
    threads: int = 0
    prompt: str = ""
    train_lines: int = 0
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    log_history: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    dataset: DatasetInfo | None = None
    validation: dict[str, Any] | None = None
    val_history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_names(self) -> tuple[str, ...]:
        """The names the trained base goes by: the one asked for, and the one really read when they differ."""
        return (self.base_model, self.loaded_model) if self.loaded_model else (self.base_model,)

    @property
    def image_limits(self) -> ImageLimits:
        """The image limits the run was trained with (reading must use the same)."""
        default = ImageLimits()
        return ImageLimits(int(self.parameters.get("max_image_width", default.max_width)),
                           int(self.parameters.get("max_image_height", default.max_height)))

    def to_dict(self) -> dict[str, Any]:
        """The record as ``run.json`` holds it (unknown entries of an older file kept at the top level)."""
        out = dataclasses.asdict(self)
        extra = out.pop("extra")
        return {**extra, **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInfo:
        """Read a record, including ones written before it was typed (their settings become parameters)."""
        data = dict(data)
        params = dict(data.get("parameters") or {})
        for old_key, renames in (("train_settings", _OLD_SETTINGS), ("lora", _OLD_LORA)):
            for key, value in (data.pop(old_key, None) or {}).items():
                params.setdefault(renames.get(key, key), value)
        data["parameters"] = params
        if "quantized_4bit" not in data and "load_in_4bit" in data:
            data["quantized_4bit"] = data.pop("load_in_4bit")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        if isinstance(known.get("dataset"), dict):
            known["dataset"] = DatasetInfo(**known["dataset"])
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def save(self, run_dir: str | os.PathLike[str]) -> Path:
        """Write ``run.json`` into ``run_dir`` (atomically) and return its path."""
        path = Path(run_dir) / RUN_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str]) -> RunInfo:
        """Read ``run_dir/run.json``.

        Raises:
            FileNotFoundError: The folder holds no ``run.json``.
            DamagedFileError: ``run.json`` is not a whole record (truncated or edited by hand).
        """
        path = project_path(run_dir) / RUN_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: {Path(run_dir).name} is not a finished run of 02_finetune.")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, AttributeError) as exc:
            raise DamagedFileError(
                f"{path} cannot be read as a run record ({type(exc).__name__}: {exc}): it was truncated or edited. "
                f"The run {path.parent.name} is damaged; train it again with 02_finetune, or delete its folder "
                "so it is no longer offered.") from None


def new_run_dir(run_name: str, adapters_root: str | os.PathLike[str] = "adapters") -> Path:
    """Pick ``adapters/<run_name>/`` for a new run without touching earlier runs.

    An empty ``run_name`` becomes a time stamp; a name that is taken gets
    ``-2``, ``-3``, ... appended. Nothing is created yet.

    Args:
        run_name: The name the user asked for.
        adapters_root: Folder of all runs.

    Returns:
        A path that does not exist yet.
    """
    base = run_name.strip() or dt.datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if not re.fullmatch(r"[\w.\-]+", base):
        raise ValueError(f"run_name {run_name!r} may hold only letters, digits, '.', '_' and '-'.")
    return unique_path(project_path(adapters_root), base)


@dataclass(frozen=True)
class InterruptedRun:
    """A run that did not finish: its ``<name>.partial`` folder and newest checkpoint.

    Attributes:
        name: The run's name (the folder it will have when it finishes).
        path: The ``<name>.partial`` folder.
        last_step: Step of its newest checkpoint (0: none saved, it cannot be resumed).
    """

    name: str
    path: Path
    last_step: int

    @property
    def checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder, or None."""
        return self.path / "checkpoints" / f"checkpoint-{self.last_step}" if self.last_step else None

    def remove_damaged(self) -> list[Path]:
        """Remove the checkpoints newer than :attr:`checkpoint` (a crash cut them short); a warning names them."""
        removed = [c for c, step in _checkpoints(self.path) if step > self.last_step]
        for folder in removed:
            shutil.rmtree(folder, ignore_errors=True)
        if removed:
            warnings.warn(f"Cleaned up after an interrupted earlier write: removed {', '.join(map(str, removed))} "
                          f"(checkpoints cut short by the crash); resuming from step {self.last_step}.", CleanedUp,
                          stacklevel=2)
        return removed

    def describe(self) -> str:
        """One line: the run, where it stopped and how to go on."""
        if not self.last_step:
            return f"{self.name}: interrupted before its first checkpoint (set save_steps to make runs resumable)"
        return f'{self.name}: interrupted after step {self.last_step}; resume = "{self.name}" continues it'


def interrupted_runs(adapters_root: str | os.PathLike[str] = "adapters") -> list[InterruptedRun]:
    """Runs that started and did not finish, oldest first (never counted as finished runs)."""
    root = project_path(adapters_root)
    found = []
    for path in sorted(root.glob(f"*{PARTIAL_SUFFIX}"), key=lambda p: p.stat().st_mtime):
        if path.is_dir() and not path.name.startswith("."):
            steps = [step for c, step in _checkpoints(path) if _complete_checkpoint(c, step)]
            found.append(InterruptedRun(path.name[: -len(PARTIAL_SUFFIX)], path, max(steps, default=0)))
    return found


#: What a checkpoint the trainer finished writing holds; ``trainer_state.json`` is written last.
_CHECKPOINT_FILES = ("adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt")


def _checkpoints(run: Path) -> list[tuple[Path, int]]:
    """The ``checkpoint-<step>`` folders of a run in progress, with their steps."""
    return [(c, int(m.group(1))) for c in (run / "checkpoints").glob("checkpoint-*")
            if (m := re.fullmatch(r"checkpoint-(\d+)", c.name)) and c.is_dir()]


def _complete_checkpoint(folder: Path, step: int) -> bool:
    """Whether the trainer finished writing a checkpoint: its files there, its state whole and at ``step``."""
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(state, dict) and state.get("global_step") == step
            and all((folder / f).is_file() and (folder / f).stat().st_size > 0 for f in _CHECKPOINT_FILES))


def publish_saved_runs(adapters_root: str | os.PathLike[str] = "adapters") -> list[Path]:
    """Move into place the runs that were saved whole but not yet moved when their process died.

    Such a ``<name>.partial`` holds its adapter (matching its manifest) and ``run.json``, and no
    checkpoint is left to resume from. A warning names each run moved.

    Returns:
        The finished run folders now in place.
    """
    moved = []
    for run in interrupted_runs(adapters_root):
        final = run.path.with_name(run.name)
        if run.last_step or final.exists() or not (run.path / RUN_FILE).is_file():
            continue
        try:
            RunInfo.load(run.path)
            check_manifest(run.path, f"The run {run.name}", "")
        except (DamagedFileError, FileNotFoundError):
            continue
        if not (run.path / "manifest.json").is_file():
            continue
        os.replace(run.path, final)
        moved.append(final)
    if moved:
        warnings.warn("Cleaned up after an interrupted earlier write: moved the finished run(s) "
                      f"{', '.join(p.name for p in moved)} into place (saved whole, not yet moved when the process "
                      "stopped).", CleanedUp, stacklevel=2)
    return moved


def describe_interrupted(adapters_root: str | os.PathLike[str] = "adapters") -> str:
    """The interrupted runs, one line each with how to resume it ("" when there are none)."""
    runs = interrupted_runs(adapters_root)
    if not runs:
        return ""
    return "Interrupted runs (not finished, not evaluated):\n" + "\n".join(f"- {r.describe()}" for r in runs)


def find_interrupted(resume: str, adapters_root: str | os.PathLike[str] = "adapters") -> InterruptedRun:
    """The interrupted run ``resume`` names (``"last"``: the most recent one with a checkpoint).

    Raises:
        FileNotFoundError: No such resumable run; the message lists those there are.
    """
    runs = [r for r in interrupted_runs(adapters_root) if r.last_step]
    pick = runs[-1:] if resume == "last" else [r for r in runs if r.name == resume]
    if not pick:
        listed = "; ".join(r.describe() for r in interrupted_runs(adapters_root)) or "none"
        raise FileNotFoundError(f"resume = {resume!r}: no interrupted run with a checkpoint by that name. "
                                f"Interrupted runs: {listed}. Leave resume empty to start a new run.")
    return pick[0]


def find_runs(adapters: str | Sequence[str], adapters_root: str | os.PathLike[str] = "adapters") -> list[Path]:
    """Finished runs to evaluate.

    Args:
        adapters: ``"all"`` (every finished run, oldest first), a run name, or
            a list of run names.
        adapters_root: Folder of all runs.

    Raises:
        FileNotFoundError: A named run does not exist (the message lists those that do).
    """
    root = project_path(adapters_root)
    existing = sorted(  # not hidden, not .partial: a run being written or interrupted is never finished
        (p for p in root.glob("*") if not p.name.startswith(".") and not p.name.endswith(PARTIAL_SUFFIX)
         and (p / "adapter_config.json").exists() and (p / RUN_FILE).exists()),
        key=lambda p: (p / RUN_FILE).stat().st_mtime,
    )
    if adapters == "all":
        return existing
    names = [adapters] if isinstance(adapters, str) else list(adapters)
    runs = []
    for name in names:
        path = root / name
        if not (path / "adapter_config.json").exists():
            have = ", ".join(p.name for p in existing) or "none yet"
            raise FileNotFoundError(f"No finished run {name!r} in {root} (finished runs: {have}). Name one of "
                                    'those, or "all", or run 02_finetune first.')
        runs.append(path)
    return runs


@dataclass
class RunChoice:
    """The run a notebook reads with, and why that one.

    Attributes:
        path: The run folder (None: the base model alone).
        why: One sentence saying how it was chosen.
    """

    path: Path | None
    why: str


def recorded_val_cer(run: Path) -> float | None:
    """The validation CER a run recorded: the best during training, else its quick check, else None."""
    info = RunInfo.load(run)
    best = info.metrics.get("best_val_cer")
    if best is not None:
        return float(best)
    return float(info.validation["cer"]) if info.validation and info.validation.get("cer") is not None else None


def pick_run(adapter: str = "", adapters_root: str | os.PathLike[str] = "adapters") -> RunChoice:
    """The run to read with: a name, ``"none"`` for the base model alone, or ``""`` for the best run.

    The best run is the one with the lowest validation CER recorded (validation sets of
    different runs may differ: the message names the set); the newest finished run when
    no run recorded one.

    Raises:
        FileNotFoundError: A named run does not exist, or there is no finished run for ``""``.
    """
    if adapter.lower() == "none":
        return RunChoice(None, 'adapter = "none": the base model alone.')
    if adapter:
        return RunChoice(find_runs([adapter], adapters_root)[0], f"adapter = {adapter!r}.")
    runs = find_runs("all", adapters_root)
    if not runs:
        raise FileNotFoundError("No finished run under adapters/: run 02_finetune first, or set adapter = 'none'.")
    scored = [(cer, -i, run) for i, run in enumerate(runs) if (cer := recorded_val_cer(run)) is not None]
    if not scored:
        return RunChoice(runs[-1], f"{runs[-1].name}: the newest finished run (no run recorded a validation CER).")
    cer, _, best = min(scored)
    info = RunInfo.load(best)
    on = f" on {info.dataset.name}" if info.dataset else ""
    return RunChoice(best, f"{best.name}: the lowest validation CER recorded ({cer:.1%}{on}) of "
                           f"{len(scored)} run(s) with one; set adapter to a run name to choose another.")


def base_model_of(runs: Sequence[Path], model_name: str = "") -> str:
    """The base model to load: the one the runs were trained on, or ``model_name`` when given.

    Names are compared as :func:`~inkwell.models.loading.model_identity` does: a folder recorded once
    absolute and once relative to the project is the same base; hub ids compare as written.
    A run whose hub id Unsloth swapped for its own copy belongs to either name, and with no
    ``model_name`` the copy really trained on is the one loaded.

    Args:
        runs: Run folders (each with a ``run.json``).
        model_name: The base model asked for; empty: the one the runs record.

    Returns:
        ``model_name`` when given, else the base the runs were really trained on.

    Raises:
        ValueError: No base model is known; ``model_name`` is not the base a run was trained
            on; or the runs come from different bases (each run is named with its base).
    """
    infos = {Path(r).name: RunInfo.load(r) for r in runs}
    recorded = {run: info.base_model for run, info in infos.items()}
    if model_name:
        wanted = model_identity(model_name)
        for run, base in recorded.items():
            if wanted not in {model_identity(name) for name in infos[run].base_names}:
                raise ValueError(
                    f"model_name = {model_name!r}, but the adapter of run {run!r} was trained on base model "
                    f"{base!r}: an adapter only works on the base it was trained on. Leave model_name empty "
                    f"to load {base!r}, or pick adapters trained on {model_name!r}."
                )
        return model_name
    if not recorded:
        raise ValueError("No adapters found and no model_name given: set model_name or run 02_finetune first.")
    read = {run: info.base_names[-1] for run, info in infos.items()}  # the weights really trained on
    if len({model_identity(name) for name in read.values()}) > 1:
        listed = "; ".join(f"{run}: {base!r}" for run, base in read.items())
        raise ValueError(f"The adapters come from different base models ({listed}). Evaluate the runs of one "
                         "base at a time: set adapters to those runs' names.")
    return next(iter(read.values()))


def image_limits_of(run: Path | None) -> ImageLimits:
    """The image limits a run was trained with (the defaults for no run): reading must use the same."""
    return RunInfo.load(run).image_limits if run is not None else ImageLimits()


def trusts_remote_code(runs: Sequence[Path]) -> bool:
    """Whether any run was trained with ``trust_remote_code`` on (its base may then run its own code again)."""
    return any(bool(RunInfo.load(r).parameters.get("trust_remote_code", False)) for r in runs)
