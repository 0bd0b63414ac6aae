"""Exporting a run as one merged model that plain transformers loads, and checking it reads like the adapter.

Stage ``training``: imports lower stages and :mod:`inkwell.models.loading`, :mod:`inkwell.models.runs`,
:mod:`inkwell.models.decode` and :mod:`inkwell.evaluation.evaluate`. :func:`export_merged` loads the run's
base model in 16 bits (bfloat16 on a GPU that supports it, float32 on a CPU; never 4-bit),
attaches the adapter, folds it into the weights (PEFT's ``merge_and_unload``) and writes the
result with its processor into a new folder, next to the run (the run itself is not touched).
A run trained on a 4-bit base is merged into the de-quantised weights the adapter was trained
against, and the export says so. :func:`merge_parity` decodes the same lines with base +
adapter and with the merged folder and reports both CERs and the share of identical outputs.
torch, transformers, peft and safetensors are imported inside the functions that use them.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inkwell.models.decode import max_new_tokens_for, predict_lines
from inkwell.evaluation.evaluate import score_lines, system_metrics
from inkwell.models.families import FAMILIES, FamilySettings
from inkwell.models.loading import (BACKENDS, LoadedModel, compute_dtype, library_bars, load_adapter, load_model,
                           model_family, model_source)
from inkwell.core.paths import atomic_folder, project_path, unique_path, write_json
from inkwell.core.quiet import quiet_known_warnings
from inkwell.models.runs import RunInfo, library_versions, now_iso

__all__ = ["EXPORT_FILE", "ExportResult", "ParityResult", "default_export_dir", "export_merged", "merge_parity"]

#: The record an export writes beside the merged weights.
EXPORT_FILE = "export.json"


@dataclass
class ExportResult:
    """A merged model written to a new folder.

    Attributes:
        run_name: The run whose adapter was merged.
        run_dir: Its folder (left as it was).
        out_dir: The new folder holding the merged model and :data:`EXPORT_FILE`.
        base_model: Hub id or folder of the base model.
        family: Model family key.
        dtype: The dtype of the merged weights (``"bfloat16"``, ``"float16"`` or ``"float32"``).
        device: Where the merge ran (``"cuda"`` or ``"cpu"``).
        trained_on_4bit: The run trained on a 4-bit base (``run.json``'s ``quantized_4bit``).
        dequantized: The base weights were 4-bit and were de-quantised to ``dtype`` before merging.
        base_weights: Which base weights the adapter was merged into, in words.
        merged_layers: Layers whose LoRA update was folded into their weights.
        seconds: Time of the whole export.
        size_bytes: Size of the new folder.
        files: File names in the new folder.
    """

    run_name: str
    run_dir: Path
    out_dir: Path
    base_model: str
    family: str
    dtype: str
    device: str
    trained_on_4bit: bool
    dequantized: bool
    base_weights: str
    merged_layers: int
    seconds: float
    size_bytes: int
    files: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A few sentences: what was merged, into which weights, where it is and how to load it."""
        return (
            f"Merged the adapter of run {self.run_name} ({self.merged_layers} LoRA layers) into {self.base_model} "
            f"({self.family}): {self.base_weights} Weights saved in {self.dtype} (merged on {self.device}) to "
            f"{self.out_dir}, {self.size_bytes / 1e6:.1f} MB, in {self.seconds:.1f} s. Plain transformers loads it "
            f"with no PEFT (AutoProcessor and the family's Auto class{self._remote()}); the run folder is unchanged."
        )

    def _remote(self) -> str:
        return ", trust_remote_code=True: its own code is copied along" if FAMILIES[self.family].remote_code else ""


@dataclass
class ParityResult:
    """The same lines read by base + adapter and by the merged model.

    Attributes:
        lines: Lines decoded.
        adapter_cer: Corpus CER of base + adapter.
        merged_cer: Corpus CER of the merged model.
        identical: Lines whose two outputs are the same text.
        identical_share: ``identical / lines``.
        adapter_setup: How base + adapter was loaded, in words.
        merged_setup: How the merged model was loaded, in words.
        differing: ``(id, adapter text, merged text)`` of the first lines that differ.
        seconds: Time of both decodings, loading included.
    """

    lines: int
    adapter_cer: float
    merged_cer: float
    identical: int
    identical_share: float
    adapter_setup: str
    merged_setup: str
    differing: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        """One sentence with both CERs and the share of identical outputs."""
        return (
            f"On {self.lines} lines the merged model reads {self.identical}/{self.lines} lines "
            f"({self.identical_share:.0%}) exactly as base + adapter; CER {self.merged_cer:.2%} merged vs "
            f"{self.adapter_cer:.2%} base + adapter ({self.adapter_setup}; merged: {self.merged_setup})."
        )


def default_export_dir(run: str | os.PathLike[str]) -> Path:
    """``adapters/<run>-merged`` beside the run (``-merged-2``, ... when taken); nothing is created."""
    path = project_path(run)
    return unique_path(path.parent, f"{path.name}-merged")


def _run_dir(run: str | os.PathLike[str]) -> Path:
    """The run folder: a path, or a run name under ``adapters/``."""
    path = project_path(run)
    if not path.is_dir() and not os.path.isabs(str(run)) and len(Path(run).parts) == 1:
        path = project_path("adapters") / str(run)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{path} holds no adapter_config.json: name a finished run of 02_finetune "
                                "(e.g. 'my-run' or 'adapters/my-run').")
    return path


def _merge_device() -> tuple[str, str]:
    """(device, dtype name) of the merge: the GPU in its 16-bit compute dtype, else the CPU in float32."""
    import torch  # heavy: loaded on use

    if torch.cuda.is_available():
        return "cuda", ""
    return "cpu", "float32"


def _load_base(info: RunInfo, *, dequantize: bool) -> tuple[LoadedModel, str, bool, str]:
    """The run's base through transformers, 4-bit exactly when the run trained on a 4-bit base.

    With ``dequantize`` the 4-bit weights are turned back into 16-bit ones (the weights the
    adapter saw in training) before anything is attached.

    Returns:
        The loaded model, the dtype name, whether it was de-quantised, and which weights those are in words.
    """
    quiet_known_warnings()
    import torch  # heavy: loaded on use
    import transformers  # heavy: loaded on use
    from transformers import PretrainedConfig  # heavy: loaded on use

    trust = bool(info.parameters.get("trust_remote_code", False))
    base = info.base_names[-1]  # the weights really trained on (Unsloth may have read its own copy)
    family = FAMILIES[model_family(base, trust_remote_code=trust)]
    source = model_source(base)
    config = PretrainedConfig.get_config_dict(source)[0]
    prequantized = "quantization_config" in config
    device, dtype_name = _merge_device()
    if device == "cuda":
        dtype_name = compute_dtype(family, torch.cuda.is_bf16_supported())
    dtype = getattr(torch, dtype_name)
    four_bit = bool(info.quantized_4bit) or prequantized
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust}
    if device == "cuda":
        kwargs["device_map"] = {"": 0}
    if four_bit and not prequantized:  # the run quantised a 16-bit checkpoint on loading: do the same
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    with library_bars():
        model = getattr(transformers, family.auto_class).from_pretrained(source, **kwargs)
    processor = transformers.AutoProcessor.from_pretrained(source, trust_remote_code=trust)
    if family.processor_class and type(processor).__name__ != family.processor_class:
        processor = getattr(transformers, family.processor_class).from_pretrained(source)
    dequantized = False
    if four_bit and dequantize:
        model.dequantize(dtype=dtype)
        dequantized = True
    if dequantized:
        how = ("a pre-quantised 4-bit checkpoint" if prequantized else
               "quantised to 4-bit NF4 as Inkwell's transformers backend does; Unsloth may have used its own "
               "pre-quantised copy or double quantisation, so an Unsloth run's weights can differ slightly")
        words = (f"the run trained on a 4-bit base, so the adapter was merged into the de-quantised {dtype_name} "
                 f"weights of that base ({how}); nothing was merged into 4-bit weights.")
    elif four_bit:
        words = "the base in 4-bit, as the run trained on it."
    else:
        words = f"the base's own {dtype_name} weights (the run trained on a 16-bit base)."
    reason = f"transformers + PEFT on {device}, {'4-bit' if four_bit and not dequantized else dtype_name}"
    loaded = LoadedModel(model, processor, family, "transformers", reason, four_bit and not dequantized,
                         base, device, trust)
    return loaded, dtype_name, dequantized, words


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}.")
    if backend == "unsloth":
        raise ValueError(
            "backend='unsloth' cannot export a merged model here: Unsloth may swap in its own pre-quantised "
            "copy of the base. Use backend='auto' (transformers + PEFT, plain 16-bit arithmetic).")


def _copy_remote_code(family: FamilySettings, source: str, out: Path) -> None:
    """Put the model's own code files beside a merged remote-code model; refuse when they cannot be found."""
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    needed = {ref.split(".")[0] + ".py" for ref in _auto_map_refs(config.get("auto_map", {}))}
    local = Path(source)
    for name in sorted(needed):
        if not (out / name).exists() and (local / name).is_file():
            shutil.copy2(local / name, out / name)
    missing = sorted(n for n in needed if not (out / n).exists())
    if missing or not needed:
        raise RuntimeError(
            f"The merged {family.name} model needs its own code ({', '.join(missing) or 'no auto_map found'}), "
            f"which could not be copied from {source}. Export the native family instead "
            f"({family.native_alternative or 'none'}), or serve base + adapter.")


def _auto_map_refs(auto_map: dict[str, Any]) -> list[str]:
    refs = []
    for value in auto_map.values():
        for ref in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(ref, str) and ref:
                refs.append(ref.split("--")[-1])  # "repo--module.Class": the module part
    return refs


def export_merged(run: str | os.PathLike[str], out_dir: str | os.PathLike[str] = "", *,
                  backend: str = "auto") -> ExportResult:
    """Merge a run's adapter into its base model and save a model that plain transformers loads.

    Args:
        run: A run folder (``adapters/<run>``) or a run name.
        out_dir: The folder to create; empty: ``adapters/<run>-merged``. A folder that exists is never
            overwritten: ``-2``, ``-3``, ... is appended (the result names the folder written).
        backend: ``"auto"`` or ``"transformers"`` (both merge with transformers + PEFT in 16 bits).

    Returns:
        An :class:`ExportResult` (also written as ``export.json`` in the new folder).

    Raises:
        FileNotFoundError: The run folder holds no adapter.
        ValueError: ``backend`` is unknown or ``"unsloth"``.
        RuntimeError: A remote-code model's own code files cannot be copied along.
    """
    _check_backend(backend)
    t0 = time.perf_counter()
    run_dir = _run_dir(run)
    info = RunInfo.load(run_dir)
    loaded, dtype_name, dequantized, words = _load_base(info, dequantize=True)
    load_adapter(loaded, run_dir)
    merged_layers = sum(1 for name, _ in loaded.model.named_modules() if name.endswith(".lora_A"))
    model = loaded.model.merge_and_unload()
    leftover = [n for n, _ in model.named_parameters() if "lora_" in n]
    if leftover:
        raise RuntimeError(f"merge_and_unload left LoRA weights in the model (first: {leftover[0]}).")
    target = unique_path(project_path(out_dir).parent, project_path(out_dir).name) if out_dir else \
        default_export_dir(run_dir)
    adapter_config = json.loads((run_dir / "adapter_config.json").read_text(encoding="utf-8"))
    with atomic_folder(target, needed_bytes=model.get_memory_footprint()) as tmp:  # the weights, as saved
        model.save_pretrained(tmp, safe_serialization=True)
        loaded.processor.save_pretrained(tmp)
        if loaded.family.remote_code:
            _copy_remote_code(loaded.family, model_source(loaded.model_name), tmp)
        record = {
            "run_name": info.run_name or run_dir.name,
            "run_dir": str(run_dir),
            "base_model": info.base_model,
            "family": loaded.family.name,
            "dtype": dtype_name,
            "device": loaded.device,
            "trained_on_4bit_base": bool(info.quantized_4bit),
            "base_dequantized": dequantized,
            "base_weights": words,
            "merged": {
                "what": "the LoRA adapter of the run, folded into the base weights with PEFT's merge_and_unload",
                "layers": merged_layers,
                "lora_r": adapter_config.get("r"),
                "lora_alpha": adapter_config.get("lora_alpha"),
                "use_dora": adapter_config.get("use_dora", False),
                "use_rslora": adapter_config.get("use_rslora", False),
                "target_modules": adapter_config.get("target_modules"),
            },
            "image_limits": asdict(info.image_limits),
            "instruction": loaded.family.instruction,
            "loads_with": f"transformers.{loaded.family.auto_class} + transformers.AutoProcessor (no PEFT)"
                          + (", trust_remote_code=True (the model's own code is in the folder)"
                             if loaded.family.remote_code else ""),
            "created": now_iso(),
            "versions": library_versions(),
        }
        write_json(tmp / EXPORT_FILE, record)
    files = sorted(p.name for p in target.iterdir())
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    del model, loaded
    gc.collect()
    return ExportResult(record["run_name"], run_dir, target, info.base_model, record["family"], dtype_name,
                        record["device"], bool(info.quantized_4bit), dequantized, words, merged_layers,
                        time.perf_counter() - t0, size, files)


def _free(loaded: LoadedModel) -> None:
    """Let go of a model's memory before the next one loads."""
    import torch  # heavy: loaded on use

    loaded.model = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def merge_parity(run: str | os.PathLike[str], merged_dir: str | os.PathLike[str], lines: Any, *,
                 max_new_tokens: int | None = None, batch_size: int = 8) -> ParityResult:
    """Decode the same lines with base + adapter and with the merged model, and compare.

    Base + adapter is loaded as the run trained it (4-bit when it trained on a 4-bit base), through
    transformers + PEFT; the merged model through :func:`~inkwell.models.loading.load_model` from its folder
    (16-bit, no adapter). Both read with the run's image limits and greedy decoding.

    Args:
        run: The run folder or name.
        merged_dir: A folder written by :func:`export_merged`.
        lines: A split with ``image``, ``text`` and ``id`` columns (e.g. the run's validation lines).
        max_new_tokens: Answer limit; None: fitted to the longest reference.
        batch_size: Lines decoded together.

    Returns:
        A :class:`ParityResult`.
    """
    t0 = time.perf_counter()
    run_dir = _run_dir(run)
    info = RunInfo.load(run_dir)
    images, refs = list(lines["image"]), [str(t) for t in lines["text"]]
    ids = [str(i) for i in lines["id"]] if "id" in getattr(lines, "column_names", lines) else \
        [str(i) for i in range(len(refs))]
    limits = info.image_limits

    adapter, _, _, _ = _load_base(info, dequantize=False)
    load_adapter(adapter, run_dir)
    limit = max_new_tokens or max_new_tokens_for(adapter.processor, refs)
    adapter_setup = f"{adapter.reason}, adapter attached"
    first = [p.text for p in predict_lines(adapter, images, limits=limits, max_new_tokens=limit,
                                           batch_size=batch_size, progress=False)]
    _free(adapter)

    merged = load_model(str(project_path(merged_dir)), load_in_4bit=False, backend="transformers",
                        gradient_checkpointing=False, trust_remote_code=adapter.trust_remote_code)
    dtype = str(next(merged.model.parameters()).dtype).replace("torch.", "")
    merged_setup = f"transformers on {merged.device}, {dtype}, no PEFT"
    second = [p.text for p in predict_lines(merged, images, limits=limits, max_new_tokens=limit,
                                            batch_size=batch_size, progress=False)]
    _free(merged)

    cer_a = system_metrics("adapter", score_lines(ids, refs, first)).cer
    cer_m = system_metrics("merged", score_lines(ids, refs, second)).cer
    same = sum(a == b for a, b in zip(first, second))
    differing = [(i, a, b) for i, a, b in zip(ids, first, second) if a != b][:10]
    return ParityResult(len(refs), cer_a, cer_m, same, same / len(refs) if refs else 1.0, adapter_setup,
                        merged_setup, differing, time.perf_counter() - t0)
