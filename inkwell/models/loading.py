"""Loading a model: Unsloth on a CUDA GPU, transformers + PEFT otherwise; LoRA and saved adapters.

Stage ``models``: imports lower stages only. One code path takes a hub id or a
local folder. torch, transformers, peft and unsloth are imported inside the
functions that use them: they are heavy, and ``import unsloth`` fails without a GPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from inkwell.models.families import FAMILIES, FamilySettings, family_for_model_type, lora_target_regex, remote_code_refusal
from inkwell.core.paths import DamagedFileError, check_manifest, project_path
from inkwell.core.progress import bar_class
from inkwell.models.quantization import QuantizationLayout, four_bit_config, layout_of
from inkwell.core.quiet import quiet_known_warnings
from inkwell.models.unsloth_backend import load_with_unsloth, unsloth_first, unsloth_load_kwargs

__all__ = [
    "BACKENDS",
    "BackendChoice",
    "DamagedRunError",
    "LoadedModel",
    "LoraSettings",
    "add_lora",
    "choose_backend",
    "compute_dtype",
    "library_bars",
    "load_adapter",
    "load_model",
    "load_processor",
    "model_family",
    "model_identity",
    "model_source",
    "place_adapter_weights",
    "unsloth_lora_kwargs",
    "without_library_bars",
]


class DamagedRunError(RuntimeError):
    """A run folder's adapter files cannot be read (half-written or broken); the message names the file."""


#: The backend parameter's values: Unsloth on a CUDA GPU when available, or one of the two by name.
BACKENDS = ("auto", "unsloth", "transformers")


@dataclass
class LoadedModel:
    """A base model ready for training or inference.

    Attributes:
        model: The model (a PEFT model once LoRA or an adapter is attached).
        processor: Its processor (tokenizer + image processor).
        family: Per-family settings from :data:`FAMILIES`.
        backend: ``"unsloth"`` or ``"transformers"``.
        reason: Why that backend was chosen, in words.
        quantized_4bit: Whether the weights are loaded in 4-bit.
        model_name: The hub id or folder it came from (as the user named it).
        device: ``"cuda"`` or ``"cpu"``.
        trust_remote_code: Whether the model's own code from its repository was allowed to run.
        loaded_name: What was really read: Unsloth swaps some hub ids for its own 4-bit copies
            (``""``: ``model_name`` itself).
        gradient_checkpointing: Whether training recomputes activations to save memory (GPU).
        quantization: The layout read from the loaded layers (see :func:`~inkwell.models.quantization.layout_of`).
    """

    model: Any
    processor: Any
    family: FamilySettings
    backend: str
    reason: str
    quantized_4bit: bool
    model_name: str
    device: str
    trust_remote_code: bool = False
    loaded_name: str = ""
    gradient_checkpointing: bool = True
    quantization: QuantizationLayout | None = None

    def describe(self) -> str:
        """One paragraph saying what was loaded, where and why."""
        bits = "4-bit" if self.quantized_4bit else ("16-bit" if self.device == "cuda" else "full precision")
        remote = ""
        if self.trust_remote_code and self.family.remote_code:
            remote = " trust_remote_code = True: code from the model's own repository runs on this machine."
        layout = f" Quantization: {self.quantization.describe()}." if self.quantization and self.quantized_4bit else ""
        return (
            f"{self.model_name} ({self.family.name}) on {self.device}, {bits}, "
            f"backend {self.backend}: {self.reason}{layout}{remote}"
        )



class BackendChoice(NamedTuple):
    """Which backend runs, and why.

    Attributes:
        backend: ``"unsloth"`` or ``"transformers"``.
        reason: Why, in words (shown in the notebook and recorded in ``run.json``).
        use_4bit: Whether the weights are loaded in 4-bit.
    """

    backend: str
    reason: str
    use_4bit: bool


def choose_backend(backend: str = "auto", load_in_4bit: bool = True, *, for_training: bool = True) -> BackendChoice:
    """Decide which backend runs, and say why.

    Args:
        backend: ``"auto"`` (Unsloth when CUDA is present), ``"unsloth"`` or
            ``"transformers"``.
        load_in_4bit: What the user asked for.
        for_training: Whether the model will be trained (02_finetune) or only read with
            (04_demo, 03_evaluate); the reason speaks of what follows.

    Returns:
        A :class:`BackendChoice`.

    Raises:
        RuntimeError: ``"unsloth"`` was asked for on a machine without CUDA.
    """
    import torch  # heavy: loaded on use

    cuda = torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if cuda else ""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto', 'unsloth' or 'transformers', not {backend!r}.")
    if backend == "unsloth" and not cuda:
        raise RuntimeError("backend='unsloth' needs a CUDA GPU and none is visible; use backend='auto'.")
    if cuda and backend in ("auto", "unsloth"):
        return BackendChoice("unsloth", f"CUDA GPU found ({gpu}): Unsloth FastVisionModel.", load_in_4bit)
    if cuda:
        return BackendChoice("transformers", f"CUDA GPU found ({gpu}), transformers + PEFT as requested.", load_in_4bit)
    note = "no CUDA GPU, so transformers + PEFT on the CPU (Unsloth needs a GPU)"
    if load_in_4bit and for_training:
        note += "; 4-bit was asked for but bitsandbytes cannot train 4-bit weights reliably on a CPU, so full precision"
    elif load_in_4bit:
        note += "; 4-bit was asked for, but on a CPU the model is loaded in full precision for reading " \
                "(4-bit is for GPUs)"
    return BackendChoice("transformers", note + ".", False)


def load_model(
    model_name: str,
    *,
    load_in_4bit: bool = True,
    backend: str = "auto",
    gradient_checkpointing: bool = True,
    trust_remote_code: bool = False,
    for_training: bool = True,
) -> LoadedModel:
    """Load a base model and its processor from a hub id or a local folder.

    The family comes from ``config.model_type`` (read before any model code
    runs). With a CUDA GPU this is ``unsloth.FastVisionModel.from_pretrained``
    or, with ``backend="transformers"``, the family's transformers Auto class; on
    both, 4-bit when asked and the family allows it (else 16-bit, said in the
    reason), with the same quantization layout (:func:`~inkwell.models.quantization.four_bit_config`).
    Without a GPU it is the family's transformers Auto class in float32 on the
    CPU. Both take the same ``model_name``.

    Args:
        model_name: Hub id (e.g. ``"unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit"``)
            or a local folder (relative paths are resolved against the project).
        load_in_4bit: Load the weights in 4-bit (GPU only).
        backend: See :func:`choose_backend`.
        gradient_checkpointing: Trade compute for memory during training (GPU).
        trust_remote_code: Allow a model whose code comes from its repository
            (dots.ocr) to run that code here.
        for_training: Whether a LoRA will be trained on it (False: it only reads); only the
            reason's words depend on it (:func:`choose_backend`).

    Returns:
        A :class:`LoadedModel`.

    Raises:
        FileNotFoundError: A local folder does not exist, or a hub id cannot be read (not in the
            cache and offline, misspelt, or private); the message says which and what to do.
        PermissionError: The model needs its own code and ``trust_remote_code`` is off.
        ValueError: The model type is not supported (the message names the closest one), or its
            checkpoint has no image processor (the message names the family to use instead).
    """
    unsloth_first(backend)
    quiet_known_warnings()
    source = model_source(model_name)
    config = _config_dict(source, model_name)
    family = _checked_family(config, model_name, trust_remote_code)
    chosen, reason, use_4bit = choose_backend(backend, load_in_4bit, for_training=for_training)
    if use_4bit and not family.unsloth.load_in_4bit:  # the family's rule, on either backend
        use_4bit = False
        reason += f" 16-bit LoRA, not 4-bit: {family.unsloth.note}."
    with _unreachable(model_name, source):
        weights = _load_weights(source, model_name, config, family, chosen, use_4bit, gradient_checkpointing,
                                trust_remote_code)
    loaded = LoadedModel(weights.model, weights.processor, family, chosen, reason + weights.note, use_4bit,
                         model_name, weights.device, trust_remote_code, loaded_name=weights.loaded_name,
                         gradient_checkpointing=gradient_checkpointing, quantization=layout_of(weights.model))
    loaded.quantized_4bit = bool(loaded.quantization.four_bit)  # what the layers hold, not what was asked
    return loaded


@dataclass
class _Weights:
    """What a backend loaded: the model, its processor, the device, what was really read and a note."""

    model: Any
    processor: Any
    device: str
    loaded_name: str = ""
    note: str = ""


def _load_weights(source: str, model_name: str, config: dict[str, Any], family: FamilySettings, chosen: str,
                  use_4bit: bool, gradient_checkpointing: bool, trust_remote_code: bool) -> _Weights:
    """The model and processor from the chosen backend; the processor is checked before any weights load."""
    import torch  # heavy: loaded on use
    import transformers  # heavy: loaded on use

    processor = _processor(source, family, trust_remote_code)
    _check_processor(processor, family, model_name)
    if chosen == "unsloth":
        dtype = getattr(torch, compute_dtype(family, torch.cuda.is_bf16_supported()))
        kwargs = unsloth_load_kwargs(family, use_4bit, gradient_checkpointing, dtype, trust_remote_code)
        with library_bars():
            model, unsloth_processor, loaded_name, note = load_with_unsloth(
                source, model_name, kwargs, offline=_offline_state().startswith("Offline mode is on"))
        if not family.processor_class or type(unsloth_processor).__name__ == family.processor_class:
            processor = unsloth_processor
        _check_processor(processor, family, model_name)
        return _Weights(model, processor, "cuda", loaded_name, note)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if torch.cuda.is_available():
        device = "cuda"
        dtype = compute_dtype(family, torch.cuda.is_bf16_supported())
        kwargs["dtype"] = getattr(torch, dtype)
        kwargs["device_map"] = {"": 0}
        if use_4bit and "quantization_config" not in config:  # a *-bnb-4bit checkpoint brings its own quantization
            kwargs["quantization_config"] = four_bit_config(dtype)  # the layout Unsloth loads
    else:
        device = "cpu"
        kwargs["dtype"] = torch.float32
    with library_bars():
        model = getattr(transformers, family.auto_class).from_pretrained(source, **kwargs)
    return _Weights(model, processor, device)


def _processor(source: str, family: FamilySettings, trust_remote_code: bool) -> Any:
    """The checkpoint's processor, through the class the family's table names when it names one."""
    import transformers  # heavy: loaded on use

    if family.processor_class:
        return getattr(transformers, family.processor_class).from_pretrained(source)
    return transformers.AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)


def _check_processor(processor: Any, family: FamilySettings, model_name: str) -> None:
    """Refuse a checkpoint whose processor cannot prepare images (a bare tokenizer came back).

    Raises:
        ValueError: Naming the model, why, and the native family to use instead.
    """
    if getattr(processor, "image_processor", None) is not None and getattr(processor, "tokenizer", None) is not None:
        return
    instead = ""
    if family.native_alternative:
        native = FAMILIES[family.native_alternative]
        instead = (f" Use its native successor {native.name!r} instead (model_name = {native.default_checkpoint!r}), "
                   "which transformers implements with its own processor.")
    raise ValueError(
        f"model_name = {model_name!r} ({family.name}) cannot be trained or read by Inkwell: its checkpoint has no "
        f"image processor (loading its processor gave a bare {type(processor).__name__}), so no line image can be "
        f"prepared for it; such a model prepares images in its own code, which Inkwell's training and reading do "
        f"not call.{instead}"
    )


def load_processor(model_name: str, trust_remote_code: bool = False) -> tuple[Any, FamilySettings]:
    """The processor (tokenizer + image processor) of a hub id or folder, and its family; no weights are read.

    The same processor :func:`load_model` gives.

    Raises:
        FileNotFoundError: The config or processor cannot be read (the message says why and what to do).
        PermissionError: The model needs its own code and ``trust_remote_code`` is off.
        ValueError: The model type is not supported.
    """
    quiet_known_warnings()
    source = model_source(model_name)
    family = _checked_family(_config_dict(source, model_name), model_name, trust_remote_code)
    with _unreachable(model_name, source):
        return _processor(source, family, trust_remote_code), family


@contextlib.contextmanager
def without_library_bars() -> Iterator[None]:
    """transformers' own bars off inside the block (e.g. "Writing model shards" for a model saved in a blink),
    then as before."""
    from transformers.utils import logging as hf_logging  # heavy: loaded on use

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def library_bars() -> Iterator[None]:
    """Inside the block, transformers' own bars ("Loading weights") are Inkwell's :func:`~inkwell.core.progress.bar_class`.

    In a notebook they then leave one line of text behind instead of a widget that
    a saved notebook shows frozen at ``0/N``. transformers' switch for its bars
    (``transformers.utils.logging.disable_progress_bar``) is respected.
    """
    from transformers.utils import logging as hf_logging  # heavy: loaded on use

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)  # transformers >= 5
    if set_hook is None:
        yield
        return

    def hook(factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return bar_class()(*args, **kwargs) if hf_logging.is_progress_bar_enabled() else factory(*args, **kwargs)

    previous = set_hook(hook)
    try:
        yield
    finally:
        set_hook(previous)


def model_family(model_name: str, trust_remote_code: bool = False) -> str:
    """The family key of a hub id or folder, read from its ``config.json`` alone (no weights, no model code).

    The same check :func:`load_model` makes, without loading anything.

    Raises:
        FileNotFoundError: The config cannot be read (the message says why and what to do).
        PermissionError: The model needs its own code and ``trust_remote_code`` is off.
        ValueError: The model type is not supported (the message names the closest one).
    """
    config = _config_dict(model_source(model_name), model_name)
    return _checked_family(config, model_name, trust_remote_code).name


def compute_dtype(family: FamilySettings, bf16_supported: bool) -> str:
    """The dtype a GPU computes in: bfloat16 where supported, else float16, or float32 for a bfloat16-only family.

    Args:
        family: The model family (``bf16_only`` families give NaN gradients in float16).
        bf16_supported: Whether the GPU supports bfloat16.
    """
    if bf16_supported:
        return "bfloat16"
    return "float32" if family.bf16_only else "float16"


def _config_dict(source: str, model_name: str) -> dict[str, Any]:
    """The model's ``config.json`` as a dictionary; no model code runs to read it."""
    from transformers import PretrainedConfig  # heavy: loaded on use

    with _unreachable(model_name, source):
        return PretrainedConfig.get_config_dict(source)[0]


def _offline_state() -> str:
    """Whether Hugging Face hub access is off, in words naming the variable that says so."""
    on = [name for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
          if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")]
    if on:
        return f"Offline mode is on ({', '.join(f'{n}={os.environ[n]}' for n in on)}): only the local cache is read."
    return "Offline mode is off (neither HF_HUB_OFFLINE nor TRANSFORMERS_OFFLINE is set), so the hub was asked."


@contextlib.contextmanager
def _unreachable(model_name: str, source: str) -> Iterator[None]:
    """Turn a hub or file error while reading ``model_name`` into one that says why and what to do.

    Raises:
        FileNotFoundError: With the original error as its ``__cause__``.
    """
    try:
        yield
    except OSError as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        if Path(source).is_dir():
            raise FileNotFoundError(
                f"Could not read model_name = {model_name!r}: the model folder {source} is incomplete or damaged "
                f"({type(exc).__name__}: {first}). Fix: copy the whole checkpoint again (config.json, the weights, "
                "the processor and tokenizer files), or set model_name to another folder or a hub id."
            ) from exc
        raise FileNotFoundError(
            f"Could not read model_name = {model_name!r}: no such local folder, and the hub id could not be read "
            f"from the Hugging Face cache or the hub. {_offline_state()} Fix: check the spelling of the hub id "
            "(owner/name), run once with network access (offline mode off) to download it, or set model_name to "
            f"a local folder that holds the model. ({type(exc).__name__}: {first})"
        ) from exc


def _checked_family(config: dict[str, Any], model_name: str, trust_remote_code: bool) -> FamilySettings:
    """The family a ``config.json`` names; a model that needs its own code is refused unless trusted.

    Raises:
        PermissionError: The model needs its own code and ``trust_remote_code`` is off.
        ValueError: The model type is not supported.
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES  # heavy: loaded on use

    model_type = str(config.get("model_type", ""))
    family = family_for_model_type(model_type)
    needs_code = family.remote_code or ("auto_map" in config and model_type not in CONFIG_MAPPING_NAMES)
    if needs_code and not trust_remote_code:
        raise PermissionError(remote_code_refusal(family, model_name))
    return family


def _is_folder_name(model_name: str) -> bool:
    """True when ``model_name`` can only mean a folder: a hub id is "owner/name", nothing more."""
    return model_name.startswith((".", "/", "~")) or model_name.count("/") > 1 or "\\" in model_name


def model_identity(model_name: str) -> str:
    """What makes two base-model names the same model: a folder's resolved path, or the hub id as given.

    A folder recorded once absolute and once relative to the project is the same base.
    """
    local = project_path(model_name)
    if local.is_dir() or _is_folder_name(model_name):
        return str(local.resolve())
    return model_name


def model_source(model_name: str) -> str:
    """A local folder (resolved against the project) if it exists, else the hub id as given."""
    local = project_path(model_name)
    if local.is_dir():
        return str(local)
    if _is_folder_name(model_name):
        raise FileNotFoundError(
            f"model_name = {model_name!r}: model folder {local} does not exist. Check the path, build the "
            "tiny test model with "
            "`python scripts/quickstart.py --only-model` or give a hub id such as "
            "'unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit'."
        )
    return model_name


@dataclass
class LoraSettings:
    """LoRA hyper-parameters, shared by both backends; field names are 02_finetune's parameter names.

    Attributes:
        lora_r: Rank of the low-rank update.
        lora_alpha: Scale numerator (the update is multiplied by alpha / r).
        lora_dropout: Dropout on the LoRA input.
        finetune_vision_layers: Adapt the vision tower too.
        finetune_language_layers: Adapt the language model.
        finetune_attention_modules: Adapt attention projections.
        finetune_mlp_modules: Adapt MLP projections.
        seed: Seed of the LoRA initialisation.
        use_dora: Weight-decomposed LoRA (DoRA): a learned magnitude per output beside the low-rank direction.
        use_rslora: Rank-stabilised scaling, alpha / sqrt(r) instead of alpha / r.
    """

    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    finetune_vision_layers: bool = False
    finetune_language_layers: bool = True
    finetune_attention_modules: bool = True
    finetune_mlp_modules: bool = True
    seed: int = 3407
    use_dora: bool = False
    use_rslora: bool = False

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> LoraSettings:
        """The settings named in a notebook's parameters (others keep their defaults)."""
        return cls(**{f.name: parameters[f.name] for f in dataclasses.fields(cls) if f.name in parameters})

    def target_regex(self, family: FamilySettings) -> str:
        """The module-name regex these switches select in ``family`` (see :func:`lora_target_regex`)."""
        return lora_target_regex(
            family,
            vision=self.finetune_vision_layers,
            language=self.finetune_language_layers,
            attention=self.finetune_attention_modules,
            mlp=self.finetune_mlp_modules,
        )


def unsloth_lora_kwargs(lora: LoraSettings, target: str, gradient_checkpointing: bool) -> dict[str, Any]:
    """The keyword arguments Inkwell passes to ``FastVisionModel.get_peft_model`` (besides the model).

    ``use_dora`` is not one of Unsloth's own parameters: it travels on to ``peft.LoraConfig``.
    A test binds them against Unsloth's real signature, so a renamed argument fails in CI.
    """
    return {
        "r": lora.lora_r,
        "lora_alpha": lora.lora_alpha,
        "lora_dropout": lora.lora_dropout,
        "bias": "none",
        "target_modules": target,
        "random_state": lora.seed,
        "use_rslora": lora.use_rslora,
        "use_gradient_checkpointing": "unsloth" if gradient_checkpointing else False,
        "use_dora": lora.use_dora,  # passed on to peft.LoraConfig
    }


def add_lora(loaded: LoadedModel, lora: LoraSettings) -> LoadedModel:
    """Attach fresh LoRA adapters to the base model, in place.

    Both backends get the same ``target_modules`` regex from
    :func:`lora_target_regex`, so they adapt the same layers. Under Unsloth the
    model's ``gradient_checkpointing`` setting is passed on (Unsloth's own default
    would turn it on, and its trainer restores what ``get_peft_model`` was given).

    Returns:
        The same :class:`LoadedModel`, whose ``model`` is now a PEFT model.
    """
    quiet_known_warnings()
    target = lora.target_regex(loaded.family)
    if loaded.backend == "unsloth":
        from unsloth import FastVisionModel  # needs a GPU

        loaded.model = FastVisionModel.get_peft_model(
            loaded.model, **unsloth_lora_kwargs(lora, target, loaded.gradient_checkpointing))
    else:
        import torch  # heavy: loaded on use
        from peft import LoraConfig, get_peft_model  # heavy: loaded on use

        torch.manual_seed(lora.seed)
        config = LoraConfig(
            r=lora.lora_r,
            lora_alpha=lora.lora_alpha,
            lora_dropout=lora.lora_dropout,
            bias="none",
            target_modules=target,
            task_type="CAUSAL_LM",
            use_rslora=lora.use_rslora,
            use_dora=lora.use_dora,
        )
        loaded.model = get_peft_model(loaded.model, config)
    return loaded


def load_adapter(loaded: LoadedModel, adapter_dir: str | os.PathLike[str]) -> LoadedModel:
    """Attach a trained adapter (``adapters/<run>/``) to a base model and make it the active one.

    On a model that already carries adapters, the new one is added under the
    run's name and switched to, so one base serves several runs in turn.

    Raises:
        FileNotFoundError: The folder holds no ``adapter_config.json``.
        DamagedRunError: ``adapter_config.json`` or ``adapter_model.safetensors`` cannot be read.
    """
    quiet_known_warnings()
    from peft import PeftModel  # heavy: loaded on use

    path = project_path(adapter_dir)
    if not (path / "adapter_config.json").exists():
        raise FileNotFoundError(
            f"{path} holds no adapter_config.json. Pass a run folder written by 02_finetune, "
            "e.g. 'adapters/my-run'."
        )
    _check_adapter_files(path)
    name = path.name.replace(".", "_")  # a run may be called "v1.2"; torch module names cannot hold a dot
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(loaded.model, PeftModel):
            loaded.model.load_adapter(str(path), adapter_name=name)
            loaded.model.set_adapter(name)
        else:
            loaded.model = PeftModel.from_pretrained(loaded.model, str(path), adapter_name=name)
    if place_adapter_weights(loaded.model, path, name):
        # every adapter weight was placed and checked here: PEFT's "missing adapter keys" warning no longer applies
        caught = [w for w in caught if "missing adapter keys" not in str(w.message)]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return loaded


def _check_adapter_files(path: Path) -> None:
    """Read the adapter's config and the safetensors header (no weights) before PEFT does.

    Raises:
        DamagedRunError: Naming the file that cannot be read and the run folder.
    """
    from safetensors import SafetensorError, safe_open  # heavy: loaded on use

    def damaged(file: Path, why: str) -> DamagedRunError:
        return DamagedRunError(
            f"The run {path.name} is damaged: {file} cannot be read ({why}). The run folder {path} was not "
            "written completely (a stopped or interrupted save, a full disk, a partial copy). Train the run "
            f"again with 02_finetune, or delete the folder {path} so it is no longer offered."
        )

    try:  # sizes and SHA-256 recorded when the run was saved: catches truncated and edited files
        check_manifest(path, f"The run {path.name}", f"Train the run again with 02_finetune, or delete the folder "
                       f"{path} so it is no longer offered.")
    except DamagedFileError as exc:
        raise DamagedRunError(str(exc)) from None
    config = path / "adapter_config.json"
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(config, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise damaged(config, f"it holds a {type(parsed).__name__}, not the adapter's settings")
    weights = path / "adapter_model.safetensors"
    if weights.exists():
        try:
            with safe_open(str(weights), framework="pt") as handle:
                handle.keys()
        except (OSError, SafetensorError) as exc:
            raise damaged(weights, f"{type(exc).__name__}: {exc}") from exc


def place_adapter_weights(model: Any, path: Any, adapter: str) -> bool:
    """Put every saved adapter tensor into the parameter of the same name, or stop if one has no place.

    PEFT renames keys on loading with transformers' checkpoint-conversion table; for
    some families (DeepSeek-OCR-2 in transformers 5.17) that table also rewrites the
    native names PEFT saved, the tensors land nowhere and PEFT only warns: the
    adapter would silently be the untrained one. Copying by the saved names makes
    the loaded adapter exactly the saved one for every family.

    Returns:
        True when every saved tensor was placed and every adapter parameter received one.

    Raises:
        RuntimeError: A saved tensor matches no parameter of the model, or a
            parameter of the adapter has no saved tensor.
    """
    import torch  # heavy: loaded on use
    from safetensors.torch import load_file  # heavy: imports torch

    file = path / "adapter_model.safetensors"
    if not file.exists():
        return False  # an adapter saved as .bin: PEFT's own loading is all there is
    own = re.compile(rf"(.*\.lora_\w+)\.{re.escape(adapter)}(\.weight|\.bias)?")  # PEFT: <layer>.lora_A.<adapter>.weight
    params: dict[str, Any] = {}
    for name, param in model.named_parameters():
        match = own.fullmatch(name)
        if match:
            params[match.group(1) + (match.group(2) or "")] = param
            params[match.group(1)] = param  # DoRA magnitudes and embedding LoRA are saved without ".weight"
    unplaced, placed = [], set()
    with torch.no_grad():
        for key, value in load_file(str(file)).items():
            if key in params:
                params[key].copy_(value.to(params[key].dtype))
                placed.add(id(params[key]))
            else:
                unplaced.append(key)
    empty = sorted({name for name, param in params.items() if id(param) not in placed})
    if unplaced:
        raise RuntimeError(
            f"{len(unplaced)} tensors of the adapter in {path} match no layer of the loaded base model "
            f"(first: {unplaced[0]}). The adapter was trained on a different base: load the base model named "
            "in its run.json (model_name), or retrain on this one."
        )
    if empty:
        raise RuntimeError(
            f"The adapter file in {path} holds no weights for {len(empty)} of its layers (first: {empty[0]}); "
            "it is incomplete. Load an adapter folder that 02_finetune finished writing."
        )
    return True

