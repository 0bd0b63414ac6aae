"""The per-family table: every setting that differs between model families lives here.

Bottom layer: imports nothing from the package. Code elsewhere reads a family's
entry (prompt, end-of-turn token, image patching and aspect limit, LoRA target
names, the classes and overrides of its tiny test model) and never branches on a
family's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAMILIES",
    "FamilySettings",
    "TinyOverrides",
    "TinySpec",
    "family_for_model_type",
    "lora_target_regex",
    "strictest_aspect_ratio",
]

#: (text-config overrides, vision-config overrides) of a tiny model, from (patch size, layers, head dim).
TinyOverrides = Callable[[int, int, int], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class TinySpec:
    """How to build a tiny random-weight model of a family (see :mod:`inkwell.tiny`).

    Attributes:
        config_class: transformers config class name.
        processor_class: transformers processor class name.
        video_processor_class: transformers video processor class name.
        overrides: Small function giving the family's own text- and vision-config entries.
    """

    config_class: str
    processor_class: str
    video_processor_class: str
    overrides: TinyOverrides


@dataclass(frozen=True)
class FamilySettings:
    """What differs between model families.

    Attributes:
        name: Short family name used in parameters and file names.
        model_types: ``config.model_type`` values that belong to the family.
        instruction: The user prompt that asks for a transcription.
        end_of_turn: The token that ends the assistant's answer; the training
            target ends with it and generation stops on it.
        patch_multiple: Image sides are rounded to a multiple of this
            (vision patch size times the spatial merge size).
        merge_size: Vision patches merged into one token per side.
        max_aspect_ratio: The widest aspect ratio the vision tower accepts.
        language_prefix: Regex prefix of language-model module names.
        vision_prefix: Regex prefix of vision-tower module names.
        attention_modules: Leaf names of attention projections.
        mlp_modules: Leaf names of MLP projections.
        tiny: How to build the family's tiny test model.
    """

    name: str
    model_types: tuple[str, ...]
    instruction: str
    end_of_turn: str
    patch_multiple: int
    merge_size: int
    max_aspect_ratio: float
    language_prefix: str
    vision_prefix: str
    attention_modules: tuple[str, ...]
    mlp_modules: tuple[str, ...]
    tiny: TinySpec = field(repr=False)

    @property
    def patch_size(self) -> int:
        """Side of one vision patch, in pixels."""
        return self.patch_multiple // self.merge_size


def _qwen25_tiny(patch: int, layers: int, head_dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Qwen2.5-VL: windowed attention in the vision tower, full attention in its last block."""
    return {}, {"window_size": 4 * patch, "fullatt_block_indexes": [layers - 1]}


def _qwen3_tiny(patch: int, layers: int, head_dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Qwen3-VL: explicit head size, interleaved M-RoPE, learned positions and deepstack features."""
    text = {"head_dim": head_dim, "rope_parameters": {"mrope_interleaved": True}}
    return text, {"num_position_embeddings": 256, "deepstack_visual_indexes": [0]}


_TRANSCRIBE = "Transcribe the handwritten text in this image exactly. Reply with the text only."
_QWEN_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj", "qkv", "proj")
_QWEN_MLP = ("gate_proj", "up_proj", "down_proj", "linear_fc1", "linear_fc2")

FAMILIES: dict[str, FamilySettings] = {
    "qwen2_5_vl": FamilySettings(
        name="qwen2_5_vl",
        model_types=("qwen2_5_vl", "qwen2_vl"),
        instruction=_TRANSCRIBE,
        end_of_turn="<|im_end|>",
        patch_multiple=28,
        merge_size=2,
        max_aspect_ratio=200.0,  # Qwen2/2.5-VL refuse wider images
        language_prefix=r"model\.language_model",
        vision_prefix=r"model\.visual",
        attention_modules=_QWEN_ATTENTION,
        mlp_modules=_QWEN_MLP,
        tiny=TinySpec("Qwen2_5_VLConfig", "Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor", _qwen25_tiny),
    ),
    "qwen3_vl": FamilySettings(
        name="qwen3_vl",
        model_types=("qwen3_vl",),
        instruction=_TRANSCRIBE,
        end_of_turn="<|im_end|>",
        patch_multiple=32,
        merge_size=2,
        max_aspect_ratio=200.0,
        language_prefix=r"model\.language_model",
        vision_prefix=r"model\.visual",
        attention_modules=_QWEN_ATTENTION,
        mlp_modules=_QWEN_MLP,
        tiny=TinySpec("Qwen3VLConfig", "Qwen3VLProcessor", "Qwen3VLVideoProcessor", _qwen3_tiny),
    ),
}


def family_for_model_type(model_type: str) -> FamilySettings:
    """Return the family settings for a ``config.model_type``.

    Args:
        model_type: e.g. ``"qwen2_5_vl"``.

    Raises:
        ValueError: The architecture is not one Inkwell supports yet.
    """
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam
    supported = ", ".join(t for f in FAMILIES.values() for t in f.model_types)
    raise ValueError(
        f"Model type {model_type!r} is not supported yet (supported: {supported}). "
        "Pick a Qwen2.5-VL or Qwen3-VL checkpoint in `model_name`."
    )


def strictest_aspect_ratio() -> float:
    """The widest aspect ratio every supported family accepts: the data limit when none is given."""
    return min(f.max_aspect_ratio for f in FAMILIES.values())


def lora_target_regex(
    family: FamilySettings,
    *,
    vision: bool = False,
    language: bool = True,
    attention: bool = True,
    mlp: bool = True,
) -> str:
    """Build the regex of module names that receive LoRA adapters.

    The same regex is handed to Unsloth and to PEFT, so both backends adapt
    exactly the same layers.

    Args:
        family: The model family.
        vision: Adapt the vision tower.
        language: Adapt the language model.
        attention: Adapt attention projections.
        mlp: Adapt MLP projections.

    Returns:
        A regex for ``peft.LoraConfig(target_modules=...)`` (full match).

    Raises:
        ValueError: Every switch is off, so nothing would be trained.
    """
    parts = [p for p, on in ((family.language_prefix, language), (family.vision_prefix, vision)) if on]
    leaves = [*(family.attention_modules if attention else ()), *(family.mlp_modules if mlp else ())]
    if not parts or not leaves:
        raise ValueError(
            "No LoRA target left: set at least one of finetune_language_layers / finetune_vision_layers "
            "and at least one of finetune_attention_modules / finetune_mlp_modules to True."
        )
    return rf"(?:{'|'.join(parts)})\..*\.(?:{'|'.join(sorted(set(leaves)))})"
