"""Tiny random-weight models of real architectures, built offline for tests and the quickstart.

Stage ``models``: imports lower stages and :mod:`inkwell.models.tiny_recipes`; what
differs between families comes from their :class:`~inkwell.models.families.TinySpec`
entry and the recipe it names. The result is an ordinary
checkpoint folder (config, safetensors weights, tokenizer, processor) that loads
through the same ``from_pretrained`` call as a hub id. torch and transformers are
imported inside the builder: importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from inkwell.models.families import FAMILIES
from inkwell.models.loading import without_library_bars
from inkwell.core.paths import atomic_folder, project_path
from inkwell.models.published import PUBLISHED
from inkwell.core.quiet import quiet_known_warnings
from inkwell.models.tiny_recipes import RECIPES, model_config, qwen_processor, qwen_tokenizer, tiny_charset

__all__ = ["build_published_model", "build_tiny_model", "model_config", "tiny_charset"]


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    family: str = "qwen2_5_vl",
    *,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Build and save a tiny random-weight model of a real architecture.

    The result is a normal checkpoint folder (``config.json``, safetensors
    weights, tokenizer and processor) that loads through the same
    ``from_pretrained`` calls as a hub id. Its tokenizer is character level,
    its chat template follows the family's layout, and its image normalisation
    maps white paper to zero so that the vision features carry the ink. The
    family's :class:`~inkwell.models.families.TinySpec` names the recipe that
    assembles config and processor.

    Args:
        out_dir: Folder to write.
        family: A key of :data:`~inkwell.models.families.FAMILIES` with a tiny spec.
        hidden_size: Width of the language model and the vision tower.
        layers: Number of language-model and vision layers each.
        seed: Seed of the random weights.
        overwrite: Replace an existing folder (otherwise it is reused as is).

    Returns:
        The folder, ready for :func:`~inkwell.models.loading.load_model`.
    """
    out = project_path(out_dir)
    if (out / "config.json").exists() and not overwrite:
        return out
    if family not in FAMILIES or FAMILIES[family].tiny is None:
        buildable = sorted(k for k, f in FAMILIES.items() if f.tiny is not None)
        raise ValueError(f"No tiny model for family {family!r}; choose one of {buildable}.")
    spec = FAMILIES[family].tiny
    quiet_known_warnings()  # before the recipe imports transformers (and through it torchao)
    config, processor = RECIPES[spec.recipe](FAMILIES[family], hidden_size, layers)
    return _write_checkpoint(out, family, config, processor, seed=seed, device="cpu", dtype="float32")


def build_published_model(
    out_dir: str | os.PathLike[str],
    key: str,
    *,
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "bfloat16",
    overwrite: bool = False,
) -> Path:
    """Build and save a random-weight model of a real checkpoint's size (see :data:`~inkwell.models.published.PUBLISHED`).

    Every dimension, the vocabulary size and the special token ids are the
    published ones; only the weights are random and the tokenizer is character
    level (padded with unused entries to the real size). Nothing is downloaded.
    Building on ``device="cuda"`` is fast; on a CPU a 7B model takes minutes and
    about 17 GB of memory.

    Args:
        out_dir: Folder to write.
        key: A key of :data:`~inkwell.models.published.PUBLISHED`, e.g. ``"qwen2_5_vl-7B"``.
        seed: Seed of the random weights.
        device: Where the weights are initialised.
        dtype: Weight dtype as saved (``"bfloat16"``, ``"float16"`` or ``"float32"``).
        overwrite: Replace an existing folder (otherwise it is reused as is).

    Returns:
        The folder, ready for :func:`~inkwell.models.loading.load_model`.
    """
    import transformers  # heavy: loaded on use

    if key not in PUBLISHED:
        raise ValueError(f"Unknown published size {key!r}; choose one of {sorted(PUBLISHED)}.")
    out = project_path(out_dir)
    if (out / "config.json").exists() and not overwrite:
        return out
    entry = PUBLISHED[key]
    family = FAMILIES[entry.family]
    tokenizer = qwen_tokenizer(entry.tokens, entry.tokenizer_size)
    image_processor = transformers.Qwen2VLImageProcessor(
        patch_size=family.patch_size, merge_size=family.merge_size, **entry.image_processor
    )
    config = model_config(entry.family, dict(entry.text), dict(entry.vision), entry.tokens)
    processor = qwen_processor(family.tiny, tokenizer, image_processor, family.patch_size)
    return _write_checkpoint(out, entry.family, config, processor, seed=seed, device=device, dtype=dtype)


def _write_checkpoint(
    out: Path,
    family: str,
    config: Any,
    processor: Any,
    *,
    seed: int,
    device: str,
    dtype: str,
) -> Path:
    """Create the random model from ``config`` and save it with its processor to ``out`` atomically."""
    quiet_known_warnings()
    import torch  # heavy: only when building
    import transformers  # heavy: loaded on use

    spec = FAMILIES[family].tiny
    torch.manual_seed(seed)
    with torch.device(device):
        model = getattr(transformers, FAMILIES[family].auto_class).from_config(config, dtype=getattr(torch, dtype))
    tokenizer = processor.tokenizer
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(FAMILIES[family].end_of_turn)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out, overwrite=True, staging=out.with_name(out.name + ".partial")) as tmp:
        with without_library_bars():  # one shard of a tiny model: a bar would be the console's only noise
            model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if spec.remote_code:
            _add_remote_code(tmp, family, spec.config_class, model)
    return out


def _add_remote_code(folder: Path, family: str, config_class: str, model: Any) -> None:
    """Make ``folder`` a remote-code checkpoint: its own configuration and modeling files, named in ``auto_map``.

    The code subclasses transformers' own classes under the family's model type,
    so loading it runs code from the folder exactly as a hub repository's would.
    The weights are stored under the model's own parameter names: transformers'
    key renaming for native types does not apply to a remote type.
    """
    from safetensors.torch import save_file  # heavy: imports torch

    model_class = type(model).__name__
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    name = family.replace("-", "_")
    camel = "".join(part.title() for part in name.split("_"))
    (folder / f"configuration_{name}.py").write_text(
        f'"""Configuration of a {family} checkpoint (code shipped with the model)."""\n\n'
        f"from transformers import {config_class}\n\n\n"
        f"class {camel}Config({config_class}):\n    model_type = {family!r}\n",
        encoding="utf-8",
    )
    (folder / f"modeling_{name}.py").write_text(
        f'"""Model of a {family} checkpoint (code shipped with the model)."""\n\n'
        f"from transformers import {model_class}\n\n"
        f"from .configuration_{name} import {camel}Config\n\n\n"
        f"class {camel}ForConditionalGeneration({model_class}):\n    config_class = {camel}Config\n",
        encoding="utf-8",
    )
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["model_type"] = family
    config["auto_map"] = {
        "AutoConfig": f"configuration_{name}.{camel}Config",
        "AutoModelForImageTextToText": f"modeling_{name}.{camel}ForConditionalGeneration",
    }
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
