"""Bulk OCR on vLLM: the requests, engine settings and flags, all testable without vLLM.

Stage ``reading``: imports lower stages, :mod:`inkwell.models.prompt`, :mod:`inkwell.models.decode`,
:mod:`inkwell.models.loading` and :mod:`inkwell.models.runs`. vLLM reads with the prompt and image
limits training used (:func:`~inkwell.models.prompt.prompt_text`, :func:`~inkwell.models.prompt.prepare_image`),
exactly as :func:`~inkwell.models.decode.predict_lines` does; only the one call that generates
(``scripts/ocr_vllm.py``) needs vLLM and a CUDA GPU. ``vllm`` and ``transformers`` are
imported inside the functions that use them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

from inkwell.models.decode import Prediction, has_repetition_loop
from inkwell.models.families import FAMILIES, FamilySettings
from inkwell.models.loading import model_family, model_source
from inkwell.core.paths import project_path
from inkwell.core.progress import progress_bar
from inkwell.models.prompt import ImageLimits, prepare_image, prompt_text
from inkwell.models.runs import RUN_FILE, RunInfo

__all__ = [
    "Generate",
    "LORA_RANKS",
    "VLLM_MISSING",
    "engine_settings",
    "load_processor",
    "read_lines",
    "require_vllm",
    "sampling_settings",
    "to_predictions",
    "tower_lora_supported",
    "trim_repetition",
    "vllm_requests",
]

#: What to do when vLLM is missing (it needs a CUDA GPU and its own torch).
VLLM_MISSING = (
    'vLLM is not installed: `pip install -e ".[vllm]"` on a machine with a CUDA GPU (vLLM does not run on '
    "this CPU-only setup); or read with 04_demo / 03_evaluate instead."
)

#: The LoRA ranks vLLM's ``max_lora_rank`` accepts; an adapter's rank is rounded up to one of them.
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)

#: Generates one batch of requests: (requests) -> (texts, finish reasons), ``"stop"`` or ``"length"`` each.
Generate = Callable[[list[dict[str, Any]]], tuple[list[str], list[str]]]


def require_vllm() -> ModuleType:
    """Import vLLM, or explain how to get it.

    Returns:
        The ``vllm`` module.

    Raises:
        ImportError: vLLM is not installed (or does not import here); the message says where it runs.
    """
    try:
        import vllm  # GPU only: an optional extra, never installed with the notebooks
    except ImportError as err:
        raise ImportError(f"{VLLM_MISSING} (import error: {err})") from err
    return vllm


def tower_lora_supported() -> bool:
    """Whether the installed vLLM can apply LoRA to the vision tower and connector (``enable_tower_connector_lora``)."""
    from vllm.engine.arg_utils import EngineArgs  # GPU only: called once vLLM imported

    return "enable_tower_connector_lora" in {f.name for f in dataclasses.fields(EngineArgs)}


def load_processor(model_name: str, *, trust_remote_code: bool = False) -> tuple[Any, FamilySettings]:
    """The processor of a base model or merged export, and its family, without loading any weights.

    The processor class is the family's (:attr:`~inkwell.models.families.FamilySettings.processor_class`)
    when it names one, as :func:`~inkwell.models.loading.load_model` does, so the prompt is the one training built.

    Raises:
        FileNotFoundError: The model cannot be found (the message says why and what to do).
        PermissionError: The model needs its own code and ``trust_remote_code`` is off.
        ValueError: The model type is not supported.
    """
    import transformers  # heavy: loaded on use

    family = FAMILIES[model_family(model_name, trust_remote_code)]
    source = model_source(model_name)
    if family.processor_class:
        processor = getattr(transformers, family.processor_class).from_pretrained(source)
    else:
        processor = transformers.AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)
    return processor, family


def vllm_requests(processor: Any, family: FamilySettings, images: Sequence[Image.Image],
                  limits: ImageLimits) -> list[dict[str, Any]]:
    """vLLM multimodal requests for line images: the training prompt and each image fitted as training fitted it.

    Args:
        processor: The model's processor (builds the prompt with its chat template).
        family: The model family.
        images: Line images.
        limits: The image limits the adapter was trained with (a run's ``image_limits``).

    Returns:
        One ``{"prompt": text, "multi_modal_data": {"image": image}}`` per image, in order.
    """
    prompt = prompt_text(processor, family)
    return [{"prompt": prompt, "multi_modal_data": {"image": prepare_image(im, family, limits)}} for im in images]


def sampling_settings(processor: Any, family: FamilySettings, max_new_tokens: int) -> dict[str, Any]:
    """``SamplingParams`` arguments: greedy, at most ``max_new_tokens``, stopping on the family's end-of-turn token.

    Raises:
        ValueError: ``max_new_tokens`` is not a positive whole number.
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens = {max_new_tokens!r}: give a positive whole number (128 reads most lines).")
    eos = processor.tokenizer.convert_tokens_to_ids(family.end_of_turn)
    return {"temperature": 0.0, "max_tokens": max_new_tokens, "stop_token_ids": [int(eos)],
            "skip_special_tokens": True}


def _lora_rank(run: Path, info: RunInfo) -> int:
    """The adapter's rank: ``adapter_config.json`` first, else the run's ``lora_r``."""
    try:
        config = json.loads((run / "adapter_config.json").read_text(encoding="utf-8"))
        return int(config.get("r") or info.parameters.get("lora_r", 16))
    except (OSError, ValueError):
        return int(info.parameters.get("lora_r", 16))


def _image_tokens(family: FamilySettings, limits: ImageLimits) -> int:
    """An upper bound on one line image's tokens (patches merged as the family merges them), with room for views."""
    per_side = family.patch_multiple
    tokens = -(-limits.max_width // per_side) * -(-limits.max_height // per_side)
    return max(tokens, 1024)  # families that add their own views (DeepSeek-OCR 2) stay inside this


def engine_settings(
    run_or_model: str | os.PathLike[str],
    *,
    merged: bool,
    max_new_tokens: int,
    max_model_len: int = 4096,
    max_num_seqs: int = 256,
    gpu_memory_utilization: float = 0.9,
    trust_remote_code: bool = False,
    tower_lora: bool = False,
    limits: ImageLimits | None = None,
) -> dict[str, Any]:
    """What vLLM is started with: ``LLM(...)`` arguments, the LoRA request, the image limits, warnings.

    Args:
        run_or_model: A finished run (``adapters/<run>``: base model plus adapter), or with ``merged`` a
            model folder or hub id (a merged export, or any supported model read as it is).
        merged: True: the model carries its own weights, no LoRA request; False: ``run_or_model`` is a run.
        max_new_tokens: Longest answer per line, in tokens (checked against ``max_model_len``).
        max_model_len: Longest sequence vLLM plans for (prompt, image tokens and answer).
        max_num_seqs: Most lines vLLM decodes at once.
        gpu_memory_utilization: Share of the GPU's memory vLLM may take.
        trust_remote_code: Let a remote-code model run its code (a run records its own choice).
        tower_lora: The installed vLLM supports LoRA on the vision tower (:func:`tower_lora_supported`).
        limits: Image limits for a merged model (default: those of a ``run.json`` beside it, else 1024 x 128).

    Returns:
        ``{"model", "family", "image_limits", "llm" (LLM kwargs), "lora" ({"name", "id", "path"} or None),
        "warnings" (list of sentences)}``.

    Raises:
        ValueError: ``merged`` does not fit what ``run_or_model`` is, or ``max_model_len`` is too small.
        FileNotFoundError: The run or model does not exist.
    """
    path = project_path(run_or_model)
    is_run = (path / "adapter_config.json").is_file() and (path / RUN_FILE).is_file()
    warnings: list[str] = []
    lora: dict[str, Any] | None = None
    lora_llm: dict[str, Any] = {}
    if merged:
        if is_run:
            raise ValueError(f"{str(run_or_model)!r} is a run folder (an adapter, not a merged model): pass it as "
                             "--run (merged=False), or pass the merged export's folder as --model.")
        model = str(run_or_model)
        family = FAMILIES[model_family(model, trust_remote_code)]
        beside = path / RUN_FILE
        if limits is None and beside.is_file():
            limits = RunInfo.load(path).image_limits
        elif limits is None:
            limits = ImageLimits()
            warnings.append(f"No {RUN_FILE} beside the model: lines are fitted into the default {limits.max_width} x "
                            f"{limits.max_height} px; if the model was fine-tuned with other limits, pass them "
                            "(--max-image-width / --max-image-height).")
    else:
        if not is_run:
            raise ValueError(f"{str(run_or_model)!r} is not a finished run (no adapter_config.json and {RUN_FILE}): "
                             "pass a run under adapters/ as --run, or a merged export or plain model as --model "
                             "(merged=True).")
        info = RunInfo.load(path)
        model, family, limits = info.base_names[-1], FAMILIES[info.family], limits or info.image_limits
        trust_remote_code = bool(info.parameters.get("trust_remote_code", trust_remote_code))
        rank = _lora_rank(path, info)
        lora = {"name": path.name, "id": 1, "path": str(path)}
        lora_llm = {"enable_lora": True, "max_lora_rank": next((r for r in LORA_RANKS if r >= rank), rank),
                    "max_loras": 1}
        if tower_lora and info.parameters.get("finetune_vision_layers"):
            lora_llm["enable_tower_connector_lora"] = True
        if info.parameters.get("use_dora"):
            warnings.append(f"Run {path.name} trained a DoRA adapter, which vLLM does not serve: read the merged "
                            "export of the run instead (--model <export folder>).")
        if info.parameters.get("finetune_vision_layers"):
            if tower_lora:
                warnings.append(f"Run {path.name} adapted the vision tower: enable_tower_connector_lora is on, but "
                                "vLLM applies tower LoRA only for some models; if readings differ from 03_evaluate, "
                                "read the merged export instead (--model <export folder>).")
            else:
                warnings.append(f"Run {path.name} adapted the vision tower, and this vLLM applies LoRA to the "
                                "language model only: the vision half of the adapter would be ignored and readings "
                                "would differ from 03_evaluate. Read the merged export instead (--model <export "
                                "folder>), or upgrade vLLM to one with enable_tower_connector_lora.")
        if "bnb-4bit" in model.lower() or info.quantized_4bit:
            warnings.append(f"The base {model!r} was loaded in 4-bit for training; vLLM reads bitsandbytes "
                            "checkpoints more slowly than 16-bit ones: a merged 16-bit export reads faster.")
    need = _image_tokens(family, limits) + max_new_tokens
    if max_model_len < need:
        raise ValueError(f"max_model_len = {max_model_len} leaves no room for a {limits.max_width} x "
                         f"{limits.max_height} px line and {max_new_tokens} new tokens: give at least {need}.")
    llm: dict[str, Any] = {
        "model": model_source(model),
        "trust_remote_code": trust_remote_code,
        "limit_mm_per_prompt": {"image": 1},
        "max_model_len": max_model_len,
        "max_num_seqs": max_num_seqs,
        "gpu_memory_utilization": gpu_memory_utilization,
        "seed": 0,
        **lora_llm,
    }
    return {"model": model, "family": family.name, "image_limits": limits, "llm": llm, "lora": lora,
            "warnings": warnings}


def trim_repetition(text: str) -> str:
    """The shortest start of ``text`` that already ends in a repetition loop (``text`` itself when none does).

    This is where :func:`~inkwell.models.decode.predict_lines`' guard would have stopped (to within a token),
    so a looping line scores alike on vLLM and in 03_evaluate.
    """
    if not has_repetition_loop(text):
        return text
    return next(text[:k] for k in range(1, len(text) + 1) if has_repetition_loop(text[:k]))


def to_predictions(texts: Sequence[str], finish_reasons: Sequence[str | None], *,
                   repetition_guard: bool = True) -> list[Prediction]:
    """Predictions with the flags 04_demo and 03_evaluate record, from vLLM's texts and finish reasons.

    A line that ran to ``max_tokens`` (finish reason ``"length"``) and ends in a loop is cut where
    the repetition guard would have stopped it (``stopped_by_guard``); one that ran to the limit
    without looping is flagged ``hit_limit``. A line that ended on its own carries no flag.

    Raises:
        ValueError: ``texts`` and ``finish_reasons`` differ in length.
    """
    if len(texts) != len(finish_reasons):
        raise ValueError(f"{len(texts)} texts but {len(finish_reasons)} finish reasons: give one reason per text.")
    out = []
    for text, reason in zip(texts, finish_reasons):
        ran_out = reason == "length"
        looped = ran_out and repetition_guard and has_repetition_loop(text)
        out.append(Prediction(trim_repetition(text) if looped else text, stopped_by_guard=looped,
                              hit_limit=ran_out and not looped))
    return out


def read_lines(generate: Generate, images: Sequence[Image.Image], *, processor: Any, family: FamilySettings,
               limits: ImageLimits, batch_size: int = 256, progress: bool = True,
               desc: str = "reading") -> list[Prediction]:
    """Read line images through ``generate`` (one vLLM call per batch), in order.

    Args:
        generate: Generates one batch of requests (see :data:`Generate`).
        images: Line images.
        processor: The model's processor.
        family: The model family.
        limits: The image limits the model was trained with.
        batch_size: Lines per call (vLLM schedules inside a call; larger calls keep the GPU busier).
        progress: Show a progress bar.
        desc: The bar's name.

    Raises:
        ValueError: ``batch_size`` is not a positive whole number, or ``generate`` returns a wrong count.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size = {batch_size!r}: give a positive whole number of lines per call, e.g. 256.")
    out: list[Prediction] = []
    bar = progress_bar(len(images), desc, "line", disable=not progress)
    try:
        for start in range(0, len(images), batch_size):
            requests = vllm_requests(processor, family, images[start:start + batch_size], limits)
            texts, reasons = generate(requests)
            if len(texts) != len(requests):
                raise ValueError(f"generate returned {len(texts)} texts for {len(requests)} requests.")
            out += to_predictions(texts, reasons)
            bar.update(len(requests))
    finally:
        bar.close()
    return out
