"""The 4-bit layout both backends load, and the layout a loaded model really has.

Stage ``models``: imports nothing from the package. Unsloth quantizes a vision model while
it loads with one ``BitsAndBytesConfig`` (``unsloth/models/vision.py``): NF4 with double
quantization, the compute dtype of the run, and its own list of modules to leave
unquantized (``unsloth_zoo/peft_utils.py``). The transformers + PEFT backend builds the
very same config here, so "Unsloth against transformers" compares backends, not
quantization layouts, and an adapter trained on one reads on the other with the same
weights. What a list of names keeps in 16-bit depends on how transformers matches them
against module paths, so the layout a run records is read from the loaded model
(:func:`layout_of`), not from the config. torch and transformers are imported inside the
functions that use them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FOUR_BIT_METHOD", "UNSLOTH_SKIP_MODULES", "QuantizationLayout", "four_bit_config", "layout_of", "lora_dtype"]

#: The modules Unsloth keeps out of bitsandbytes when it quantizes on load, in its order
#: (``unsloth_zoo.peft_utils.SKIP_QUANTIZATION_MODULES``, unsloth_zoo 2026.10; a test reads
#: Unsloth's own source and fails when the two differ).
UNSLOTH_SKIP_MODULES: tuple[str, ...] = (
    "lm_head",
    "multi_modal_projector",
    "merger",
    "modality_projection",
    "mm_projector",
    "router",
    "mlp.gate",
    "block_sparse_moe.gate",
    "moe.gate",
    "mamba",
    "audio_tower",
    "vision_tower",
    "visual",
    "vision_embedder",
    "embed_vision",
    "embed_audio",
    "score",
    "classifier",
    "qa_outputs",
)

#: The 4-bit scheme, in words (``run.json``'s ``quantization.method``).
FOUR_BIT_METHOD = "bitsandbytes NF4, double quantization"


def four_bit_config(compute_dtype: str) -> Any:
    """The ``BitsAndBytesConfig`` Unsloth builds for a 4-bit load, for the transformers backend.

    Args:
        compute_dtype: ``"bfloat16"``, ``"float16"`` or ``"float32"`` (see :func:`~inkwell.models.loading.compute_dtype`).
    """
    import torch  # heavy: loaded on use
    import transformers  # heavy: loaded on use

    return transformers.BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
        llm_int8_skip_modules=list(UNSLOTH_SKIP_MODULES),
    )


@dataclass
class QuantizationLayout:
    """Which parts of a loaded model hold 4-bit weights, read from its layers.

    Attributes:
        method: :data:`FOUR_BIT_METHOD`, or ``"none"`` when no layer is 4-bit.
        four_bit: Parts (the first two components of a module path, e.g. ``model.language_model``)
            with 4-bit linear layers, and how many.
        sixteen_bit: Parts with linear layers left in 16/32-bit, and how many (LoRA's own layers not counted).
        lora_dtype: The dtype of the trainable adapter weights ("" before LoRA is attached).
    """

    method: str
    four_bit: dict[str, int] = field(default_factory=dict)
    sixteen_bit: dict[str, int] = field(default_factory=dict)
    lora_dtype: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The layout as ``run.json`` holds it."""
        return asdict(self)

    def describe(self) -> str:
        """One sentence: what is 4-bit and what is not."""
        if not self.four_bit:
            text = "no 4-bit layers"
        else:
            kept = ", ".join(self.sixteen_bit) or "nothing"
            text = f"{self.method}: 4-bit {', '.join(self.four_bit)}; left unquantized: {kept}"
        return text + (f"; LoRA weights {self.lora_dtype}" if self.lora_dtype else "")


def _part(name: str) -> str:
    """The part of the model a module path belongs to (PEFT's ``base_model.model.`` prefix dropped)."""
    name = name.removeprefix("base_model.model.")
    return ".".join(name.split(".")[:2]) if name.startswith("model.") else name.split(".")[0]


def layout_of(model: Any) -> QuantizationLayout:
    """Read the quantization layout of a loaded model (a PEFT model or a bare one) from its linear layers."""
    import torch  # heavy: loaded on use

    four, plain = Counter(), Counter()
    for name, module in model.named_modules():
        if ".lora_" in name or not isinstance(module, torch.nn.Linear):
            continue
        weight = getattr(module, "weight", None)
        is_4bit = type(module).__name__ == "Linear4bit" or type(weight).__name__ == "Params4bit"
        if hasattr(module, "base_layer"):  # a LoRA-wrapped layer: the base decides
            continue
        (four if is_4bit else plain)[_part(name)] += 1
    return QuantizationLayout(FOUR_BIT_METHOD if four else "none", dict(four), dict(plain), lora_dtype(model))


def lora_dtype(model: Any) -> str:
    """The dtype of the trainable LoRA weights ("" when there are none; several joined by "+")."""
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for n, p in model.named_parameters()
                     if p.requires_grad and "lora_" in n})
    return "+".join(dtypes)
