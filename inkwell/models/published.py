"""Published sizes of real checkpoints: the dimensions of their ``config.json``, kept here once.

Stage ``models``: imports nothing from the package. The GPU benchmark builds
random-weight models of real size from these entries (no download), and the
pre-flight check sizes a hub checkpoint from them when its ``config.json``
cannot be read (offline). The numbers are copied from the checkpoints'
published ``config.json`` and ``preprocessor_config.json``; a test counts the
parameters they give against the published totals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PUBLISHED", "PublishedModel", "published_for_name"]

#: CLIP normalisation used by the Qwen2/2.5-VL image processors.
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

#: Token ids shared by every Qwen2.5-VL checkpoint.
_QWEN25_TOKENS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}

_QWEN25_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "hidden_act": "silu",
}

_QWEN25_ROPE = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}


@dataclass(frozen=True)
class PublishedModel:
    """The published dimensions of one real checkpoint.

    Attributes:
        key: Short name, e.g. ``"qwen2_5_vl-7B"``.
        family: Family key in :data:`~inkwell.models.families.FAMILIES`.
        hub_id: The checkpoint these numbers come from.
        name_pattern: Regex that recognises the size in a hub id (e.g. its
            4-bit copies by other publishers).
        parameters: Total parameter count as published.
        text: The ``text_config`` entries.
        vision: The ``vision_config`` entries.
        tokens: Special token -> id.
        tokenizer_size: Entries in the tokenizer (the embedding has ``text["vocab_size"]`` rows).
        image_processor: The ``preprocessor_config.json`` entries that shape images.
    """

    key: str
    family: str
    hub_id: str
    name_pattern: str
    parameters: int
    text: dict[str, Any] = field(repr=False)
    vision: dict[str, Any] = field(repr=False)
    tokens: dict[str, int] = field(repr=False)
    tokenizer_size: int
    image_processor: dict[str, Any] = field(repr=False)


PUBLISHED: dict[str, PublishedModel] = {
    "qwen2_5_vl-3B": PublishedModel(
        key="qwen2_5_vl-3B",
        family="qwen2_5_vl",
        hub_id="Qwen/Qwen2.5-VL-3B-Instruct",
        name_pattern=r"qwen2\.5-vl-3b",
        parameters=3_754_622_976,
        text={
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True,
            "rope_parameters": _QWEN25_ROPE,
        },
        vision={**_QWEN25_VISION, "out_hidden_size": 2048},
        tokens=_QWEN25_TOKENS,
        tokenizer_size=151665,
        image_processor={"min_pixels": 3136, "max_pixels": 12845056, "image_mean": _CLIP_MEAN, "image_std": _CLIP_STD},
    ),
    "qwen2_5_vl-7B": PublishedModel(
        key="qwen2_5_vl-7B",
        family="qwen2_5_vl",
        hub_id="Qwen/Qwen2.5-VL-7B-Instruct",
        name_pattern=r"qwen2\.5-vl-7b",
        parameters=8_292_166_656,
        text={
            "vocab_size": 152064,
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False,
            "rope_parameters": _QWEN25_ROPE,
        },
        vision={**_QWEN25_VISION, "out_hidden_size": 3584},
        tokens=_QWEN25_TOKENS,
        tokenizer_size=151665,
        image_processor={"min_pixels": 3136, "max_pixels": 12845056, "image_mean": _CLIP_MEAN, "image_std": _CLIP_STD},
    ),
}


def published_for_name(model_name: str) -> PublishedModel | None:
    """The published entry whose size a hub id names (``unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit`` -> 7B), or None."""
    lowered = model_name.lower()
    for entry in PUBLISHED.values():
        if re.search(entry.name_pattern, lowered):
            return entry
    return None
