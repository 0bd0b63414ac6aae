"""Tiny random-weight models of real architectures, built offline for tests and the quickstart.

Middle layer: imports the bottom layer only; what differs between families comes
from their :class:`~inkwell.families.TinySpec` entry. The result is an ordinary
checkpoint folder (config, safetensors weights, tokenizer, processor) that loads
through the same ``from_pretrained`` call as a hub id. torch and transformers are
imported inside the builder: importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inkwell.families import FAMILIES, FamilySettings, TinySpec
from inkwell.paths import atomic_folder, project_path
from inkwell.published import PUBLISHED

__all__ = ["build_published_model", "build_tiny_model", "model_config", "tiny_charset"]

_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<unk>",
)

#: The chat template of the tiny models: the Qwen layout, without a system turn.
_QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Qwen3.5's layout: the answer follows an empty, closed think block (its small models do not think by default).
_QWEN35_TEMPLATE = _QWEN_TEMPLATE.replace(
    "<|im_start|>assistant\n{% endif %}", "<|im_start|>assistant\n<think>\n\n</think>\n\n{% endif %}"
)

_TEMPLATES = {"qwen": _QWEN_TEMPLATE, "qwen3_5": _QWEN35_TEMPLATE}


def tiny_charset() -> list[str]:
    """Characters the tiny models' character-level tokenizer knows.

    Printable ASCII, newline, Latin-1 and Latin Extended-A letters, basic
    Cyrillic and common typographic punctuation.
    """
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    chars += [chr(c) for c in range(0xA0, 0x180)] + [chr(c) for c in range(0x400, 0x460)]
    chars += list("‘’“”–—…•€№")
    return list(dict.fromkeys(chars))


def _tiny_tokenizer(special_ids: dict[str, int] | None = None, size: int = 0) -> Any:
    """A character-level fast tokenizer with the Qwen special tokens and chat template.

    Args:
        special_ids: Where the special tokens sit (a real checkpoint's ids); None
            packs them first, then the characters.
        size: Entries in all, reached with unused filler tokens (with ``special_ids``).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers  # heavy: only when building
    from transformers import PreTrainedTokenizerFast  # heavy: loaded on use

    if special_ids is None:
        vocab = {tok: i for i, tok in enumerate([*_SPECIAL_TOKENS, *tiny_charset()])}
    else:
        vocab = {tok: special_ids[tok] for tok in _SPECIAL_TOKENS if tok in special_ids}
        vocab.setdefault("<unk>", size - 1)
        free = iter(sorted(set(range(size)) - set(vocab.values())))
        vocab.update({ch: next(free) for ch in tiny_charset()})
        vocab.update({f"<|unused_{i}|>": i for i in free})
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=list(_SPECIAL_TOKENS[1:7]),
        chat_template=_QWEN_TEMPLATE,
    )


def _mrope_section(head_dim: int) -> list[int]:
    """Split ``head_dim / 2`` rotary frequencies over (time, height, width)."""
    half = head_dim // 2
    t = half - 2 * (half * 3 // 8)
    return [t, half * 3 // 8, half * 3 // 8]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``extra``, nested dictionaries merged rather than replaced."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


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
    family's :class:`~inkwell.families.TinySpec` names the recipe that
    assembles config and processor.

    Args:
        out_dir: Folder to write.
        family: A key of :data:`~inkwell.families.FAMILIES` with a tiny spec.
        hidden_size: Width of the language model and the vision tower.
        layers: Number of language-model and vision layers each.
        seed: Seed of the random weights.
        overwrite: Replace an existing folder (otherwise it is reused as is).

    Returns:
        The folder, ready for :func:`~inkwell.model.load_model`.
    """
    out = project_path(out_dir)
    if (out / "config.json").exists() and not overwrite:
        return out
    if family not in FAMILIES or FAMILIES[family].tiny is None:
        buildable = sorted(k for k, f in FAMILIES.items() if f.tiny is not None)
        raise ValueError(f"No tiny model for family {family!r}; choose one of {buildable}.")
    spec = FAMILIES[family].tiny
    config, processor = _RECIPES[spec.recipe](FAMILIES[family], hidden_size, layers)
    return _write_checkpoint(out, family, config, processor, seed=seed, device="cpu", dtype="float32")


def _qwen_recipe(family: FamilySettings, hidden_size: int, layers: int) -> tuple[Any, Any]:
    """Config and processor of a tiny Qwen-layout model (Qwen2/2.5/3-VL, Qwen3.5, dots.ocr)."""
    import transformers  # heavy: loaded on use

    spec = family.tiny
    tokenizer = _tiny_tokenizer()
    if spec.added_tokens:
        tokenizer.add_tokens(list(spec.added_tokens))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _SPECIAL_TOKENS}
    heads, kv_heads = 4, 2
    head_dim = hidden_size // heads
    patch, merge = family.patch_size, family.merge_size
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": _mrope_section(head_dim)},
    )
    vision = dict(
        depth=layers,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_heads=heads,
        out_hidden_size=hidden_size,
        patch_size=patch,
        spatial_merge_size=merge,
        temporal_patch_size=2,
    )
    text_extra, vision_extra = spec.overrides(patch, layers, head_dim) if spec.overrides else ({}, {})
    image_processor = transformers.Qwen2VLImageProcessor(
        image_mean=[1.0, 1.0, 1.0],
        image_std=[0.5, 0.5, 0.5],
        patch_size=patch,
        merge_size=merge,
        min_pixels=(merge * patch) ** 2,
        max_pixels=(merge * patch) ** 2 * 256,
    )
    config = model_config(family.name, _merge(text, text_extra), _merge(vision, vision_extra), ids)
    return config, _qwen_processor(spec, tokenizer, image_processor, patch)


def _qwen_processor(spec: TinySpec, tokenizer: Any, image_processor: Any, patch: int) -> Any:
    """The family's processor around a tokenizer and image processor, with the family's chat template."""
    import transformers  # heavy: loaded on use

    template = _TEMPLATES[spec.template]
    tokenizer.chat_template = template
    return getattr(transformers, spec.processor_class)(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=getattr(transformers, spec.video_processor_class)(patch_size=patch),
        chat_template=template,
    )


#: Recipe name (``TinySpec.recipe``) -> the function that assembles config and processor (hidden size, layers).
_RECIPES: dict[str, Callable[[FamilySettings, int, int], tuple[Any, Any]]] = {
    "qwen": _qwen_recipe,
}


def build_published_model(
    out_dir: str | os.PathLike[str],
    key: str,
    *,
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "bfloat16",
    overwrite: bool = False,
) -> Path:
    """Build and save a random-weight model of a real checkpoint's size (see :data:`~inkwell.published.PUBLISHED`).

    Every dimension, the vocabulary size and the special token ids are the
    published ones; only the weights are random and the tokenizer is character
    level (padded with unused entries to the real size). Nothing is downloaded.
    Building on ``device="cuda"`` is fast; on a CPU a 7B model takes minutes and
    about 17 GB of memory.

    Args:
        out_dir: Folder to write.
        key: A key of :data:`~inkwell.published.PUBLISHED`, e.g. ``"qwen2_5_vl-7B"``.
        seed: Seed of the random weights.
        device: Where the weights are initialised.
        dtype: Weight dtype as saved (``"bfloat16"``, ``"float16"`` or ``"float32"``).
        overwrite: Replace an existing folder (otherwise it is reused as is).

    Returns:
        The folder, ready for :func:`~inkwell.model.load_model`.
    """
    import transformers  # heavy: loaded on use

    if key not in PUBLISHED:
        raise ValueError(f"Unknown published size {key!r}; choose one of {sorted(PUBLISHED)}.")
    out = project_path(out_dir)
    if (out / "config.json").exists() and not overwrite:
        return out
    entry = PUBLISHED[key]
    family = FAMILIES[entry.family]
    tokenizer = _tiny_tokenizer(entry.tokens, entry.tokenizer_size)
    image_processor = transformers.Qwen2VLImageProcessor(
        patch_size=family.patch_size, merge_size=family.merge_size, **entry.image_processor
    )
    config = model_config(entry.family, dict(entry.text), dict(entry.vision), entry.tokens)
    processor = _qwen_processor(family.tiny, tokenizer, image_processor, family.patch_size)
    return _write_checkpoint(out, entry.family, config, processor, seed=seed, device=device, dtype=dtype)


def model_config(family: str, text: dict[str, Any], vision: dict[str, Any], ids: dict[str, int]) -> Any:
    """The family's transformers config for these text and vision entries and special token ids."""
    import transformers  # heavy: loaded on use

    text = {**text, "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"], "bos_token_id": None}
    return getattr(transformers, FAMILIES[family].tiny.config_class)(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=text.get("tie_word_embeddings", False),
    )


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
