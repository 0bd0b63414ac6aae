"""The per-family table: every setting that differs between model families lives here.

Stage ``models``: imports nothing from the package. Code elsewhere reads a family's
entry (prompt, end-of-turn token, image patching and aspect limit, LoRA target
names, the classes and overrides of its tiny test model) and never branches on a
family's name.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAMILIES",
    "PromptBuilder",
    "FamilySettings",
    "TinyOverrides",
    "TinySpec",
    "UnslothRecipe",
    "ViewReader",
    "VisionView",
    "chat_prompt",
    "family_for_model_type",
    "grid_view",
    "image_only_chat_prompt",
    "lora_target_regex",
    "native_families",
    "plain_prompt",
    "remote_code_refusal",
    "sized_view",
    "square_view",
    "strictest_aspect_ratio",
]

#: Builds the prompt text up to where the answer starts, from (processor, instruction).
PromptBuilder = Callable[[Any, str], str]


def chat_prompt(processor: Any, instruction: str) -> str:
    """The processor's chat template: one user turn (the image, then the instruction), then the generation prompt."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def image_only_chat_prompt(processor: Any, instruction: str) -> str:
    """The chat template with one user turn holding the image alone (the instruction is not used).

    The checkpoint's template adds its own empty system turn; an explicit empty
    system message would render differently (one newline the model never saw).
    """
    messages = [{"role": "user", "content": [{"type": "image"}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def plain_prompt(processor: Any, instruction: str) -> str:
    """No chat template: the instruction (which holds the image tag) after exactly one beginning-of-sequence token.

    DeepSeek tokenizers prepend that token themselves; it is written into the
    text only when the tokenizer does not, so the prompt never starts with two.
    """
    tok = processor.tokenizer
    ids = tok("a")["input_ids"]
    adds_bos = tok.bos_token_id is not None and len(ids) > 0 and ids[0] == tok.bos_token_id
    return instruction if adds_bos or not tok.bos_token else f"{tok.bos_token}{instruction}"


@dataclass(frozen=True)
class VisionView:
    """A line as the vision tower gets it, after the processor's own resizing.

    Attributes:
        width: Width of the line in the finest view the tower gets, in pixels.
        height: Height of the line in that view, in pixels.
        views: Images the processor makes of the line (1, or a global view plus tiles).
    """

    width: int
    height: int
    views: int = 1


#: Reads a :class:`VisionView` from (family, processor, the processor's output for one line, the line's size).
ViewReader = Callable[[Any, Any, Mapping[str, Any], tuple[int, int]], VisionView]


def grid_view(family: Any, processor: Any, encoding: Mapping[str, Any], size: tuple[int, int]) -> VisionView:
    """Qwen-style processors: the patch grid (``image_grid_thw``) times the family's patch size."""
    _, rows, cols = (int(v) for v in encoding["image_grid_thw"][0])
    return VisionView(cols * family.patch_size, rows * family.patch_size)


def sized_view(family: Any, processor: Any, encoding: Mapping[str, Any], size: tuple[int, int]) -> VisionView:
    """Pixtral-style processors: the resized image's ``image_sizes`` (height, width)."""
    height, width = (int(v) for v in encoding["image_sizes"][0])
    return VisionView(width, height)


def square_view(family: Any, processor: Any, encoding: Mapping[str, Any], size: tuple[int, int]) -> VisionView:
    """DeepSeek-OCR-2: a global view (the line scaled into a padded square) and, for a long line, tiles.

    With tiles, the finest view is the tiled canvas (tile columns x rows, each
    ``tile_size``), which the processor stretches the line onto.
    """
    ip = processor.image_processor
    width, height = size
    tiles = int(encoding["num_local_patches"][0])
    if tiles:
        from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import (  # heavy: on use
            get_optimal_tiled_canvas,
        )

        cols, rows = get_optimal_tiled_canvas((height, width), (ip.tile_size, ip.tile_size), ip.min_patches,
                                              ip.max_patches)
        return VisionView(cols * ip.tile_size, rows * ip.tile_size, 1 + tiles)
    scale = ip.size["height"] / max(width, height)
    return VisionView(round(width * scale), round(height * scale))


#: (text-config overrides, vision-config overrides) of a tiny model, from (patch size, layers, head dim).
TinyOverrides = Callable[[int, int, int], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class TinySpec:
    """How to build a tiny random-weight model of a family (see :mod:`inkwell.models.tiny`).

    Attributes:
        recipe: The builder in :mod:`inkwell.models.tiny` that assembles config and processor
            (``"qwen"`` serves every Qwen-layout family).
        config_class: transformers config class name.
        processor_class: transformers processor class name.
        video_processor_class: transformers video processor class name ("" when none).
        overrides: Small function giving the family's own text- and vision-config entries.
        template: Which chat template the tiny tokenizer carries (a key of the recipe's templates).
        added_tokens: Ordinary (non-special) tokens the real tokenizer adds, e.g. ``<think>``.
        remote_code: Save the model with its own modeling code and an ``auto_map`` (a remote-code checkpoint).
    """

    recipe: str
    config_class: str
    processor_class: str
    video_processor_class: str = ""
    overrides: TinyOverrides | None = None
    template: str = "qwen"
    added_tokens: tuple[str, ...] = ()
    remote_code: bool = False


@dataclass(frozen=True)
class UnslothRecipe:
    """What Unsloth needs to load a family, and how Inkwell's choice relates to Unsloth's own notebook.

    Attributes:
        load_in_4bit: Whether 4-bit (QLoRA) loading is used, on the Unsloth and the transformers backend
            alike; False: 16-bit LoRA on both, said out loud.
        kwargs: Extra ``FastVisionModel.from_pretrained`` arguments, as (name, value) pairs.
        note: Unsloth's own recipe for the family and what Inkwell does instead, in words.
    """

    load_in_4bit: bool = True
    kwargs: tuple[tuple[str, Any], ...] = ()
    note: str = ""


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
        tiny: How to build the family's tiny test model (None: no tiny model).
        default_checkpoint: The hub checkpoint a user would pick.
        parameters: Size of the default checkpoint, in words (the table in docs/families.md).
        unsloth: How Unsloth loads the family.
        auto_class: The transformers Auto class that loads the model.
        remote_code: The model's code comes from its repository (``trust_remote_code``).
        native_alternative: For remote-code families: the native family to use instead.
        bf16_only: Training in float16 is unstable (NaN gradients): bfloat16 or float32 only.
        prompt: The small function that builds the prompt text (:func:`chat_prompt` unless the family differs).
        processor_class: Load the processor with this transformers class whatever the checkpoint's
            ``processor_config.json`` names ("": the class it names).
        view: Reads the size the vision tower gets the line at from the processor's output.
        own_views: The processor makes views of its own (a padded square, tiles), so only it can count the
            image tokens; otherwise a fitted image costs ``(width / patch_multiple) x (height / patch_multiple)``.
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
    tiny: TinySpec | None = field(repr=False)
    default_checkpoint: str = ""
    parameters: str = ""
    unsloth: UnslothRecipe = UnslothRecipe()
    auto_class: str = "AutoModelForImageTextToText"
    remote_code: bool = False
    native_alternative: str = ""
    bf16_only: bool = False
    prompt: PromptBuilder = field(default=chat_prompt, repr=False)
    processor_class: str = ""
    view: ViewReader = field(default=grid_view, repr=False)
    own_views: bool = False

    @property
    def patch_size(self) -> int:
        """Side of one vision patch, in pixels."""
        return self.patch_multiple // self.merge_size

    def grid_tokens(self, width: int, height: int) -> int | None:
        """Image tokens of an image fitted to the patch multiple, from the patch grid alone (no processor).

        None for a family whose processor makes views of its own (only the processor can count them).
        """
        if self.own_views:
            return None
        return max(1, width // self.patch_multiple) * max(1, height // self.patch_multiple)


def _qwen25_tiny(patch: int, layers: int, head_dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Qwen2.5-VL: windowed attention in the vision tower, full attention in its last block."""
    return {}, {"window_size": 4 * patch, "fullatt_block_indexes": [layers - 1]}


def _qwen3_tiny(patch: int, layers: int, head_dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Qwen3-VL: explicit head size, interleaved M-RoPE, learned positions and deepstack features."""
    text = {"head_dim": head_dim, "rope_parameters": {"mrope_interleaved": True}}
    return text, {"num_position_embeddings": 256, "deepstack_visual_indexes": [0]}


def _qwen35_tiny(patch: int, layers: int, head_dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Qwen3.5: full-attention and linear-attention (Gated DeltaNet) layers alternate, full first.

    ``layer_types`` must be explicit (a short stack would otherwise be all linear
    attention), and the M-RoPE sections must add up to the rotated half of a head.
    With the linear layer first, the random tiny model barely tells the images
    apart (overfit CER 0.12 on 16 lines); full first memorises them (0.049).
    """
    kinds = ["full_attention" if i % 2 == 0 else "linear_attention" for i in range(layers)]
    quarter = head_dim // 4  # partial_rotary_factor 0.5: head_dim / 2 rotated dims, head_dim / 4 frequencies
    text = {
        "head_dim": head_dim,
        "layer_types": kinds,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "linear_conv_kernel_dim": 4,
        "rope_parameters": {"partial_rotary_factor": 0.5, "mrope_interleaved": True,
                            "mrope_section": [quarter - 2 * (quarter // 4), quarter // 4, quarter // 4]},
    }
    return text, {"num_position_embeddings": 256}


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
        tiny=TinySpec("qwen", "Qwen2_5_VLConfig", "Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor", _qwen25_tiny),
        default_checkpoint="unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit",
        parameters="8.3 B (7B); 3.8 B (3B)",
        unsloth=UnslothRecipe(note="Unsloth's notebook: 4-bit LoRA, r 16, batch 2 x 4, lr 2e-4; Inkwell the same"),
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
        tiny=TinySpec("qwen", "Qwen3VLConfig", "Qwen3VLProcessor", "Qwen3VLVideoProcessor", _qwen3_tiny),
        default_checkpoint="unsloth/Qwen3-VL-8B-Instruct-unsloth-bnb-4bit",
        parameters="8.8 B (8B); 4.4 B (4B); 2.1 B (2B)",
        unsloth=UnslothRecipe(note="Unsloth's notebook: 4-bit LoRA, r 16, batch 2 x 4, lr 2e-4; Inkwell the same"),
    ),
    "qwen3_5": FamilySettings(
        name="qwen3_5",
        model_types=("qwen3_5",),
        instruction=_TRANSCRIBE,
        end_of_turn="<|im_end|>",  # the checkpoint's eos is <|endoftext|>: generation stops on this token explicitly
        patch_multiple=32,
        merge_size=2,
        max_aspect_ratio=200.0,
        language_prefix=r"model\.language_model",
        vision_prefix=r"model\.visual",
        # linear-attention layers (3 of every 4) carry in_proj_* and out_proj instead of q/k/v/o
        attention_modules=(*_QWEN_ATTENTION, "in_proj_qkv", "in_proj_z", "in_proj_a", "in_proj_b", "out_proj"),
        mlp_modules=_QWEN_MLP,
        tiny=TinySpec("qwen", "Qwen3_5Config", "Qwen3VLProcessor", "Qwen3VLVideoProcessor", _qwen35_tiny,
                      template="qwen3_5", added_tokens=("<think>", "</think>")),
        default_checkpoint="unsloth/Qwen3.5-2B",
        parameters="2.2 B (2B); also 0.8B, 4B, 9B",
        unsloth=UnslothRecipe(load_in_4bit=False, note="Unsloth advises against 4-bit QLoRA for Qwen3.5: 16-bit LoRA, "
                              "as in its notebook"),
        bf16_only=True,
    ),
    "paddleocr_vl": FamilySettings(
        name="paddleocr_vl",
        model_types=("paddleocr_vl",),
        instruction="OCR:",  # the checkpoint's own text-recognition task prompt
        end_of_turn="</s>",
        patch_multiple=28,
        merge_size=2,
        max_aspect_ratio=200.0,  # its image processor refuses wider images
        language_prefix=r"model\.language_model",
        # the projector (model.projector.linear_1/2) sits beside model.visual: reached from "model" by a look-ahead
        vision_prefix=r"model\.visual|model(?=\.projector\.)",
        attention_modules=("q_proj", "k_proj", "v_proj", "o_proj", "out_proj"),
        mlp_modules=("gate_proj", "up_proj", "down_proj", "fc1", "fc2", "linear_1", "linear_2"),
        tiny=TinySpec("paddleocr_vl", "PaddleOCRVLConfig", "PaddleOCRVLProcessor"),
        default_checkpoint="PaddlePaddle/PaddleOCR-VL",
        parameters="0.9 B",
        unsloth=UnslothRecipe(load_in_4bit=False, note=(
            "Unsloth's notebook runs a 16-bit full fine-tune of PaddleOCR-VL (its LoRA call is ignored; lr 5e-5, "
            "remote code on transformers 4.56); Inkwell trains 16-bit LoRA on the native class instead: the model "
            "is small (0.9 B), 4-bit would quantise its vision tower and projector, and an adapter keeps the base "
            "reusable")),
    ),
    "lighton_ocr": FamilySettings(
        name="lighton_ocr",
        model_types=("lighton_ocr",),
        instruction="",  # the checkpoint is prompted with the image alone
        end_of_turn="<|im_end|>",
        patch_multiple=28,
        merge_size=2,
        # Pixtral fits the longest edge to 1540 px; a side that ends under 15 px gets no image token and the
        # forward pass fails: above 1540 / 15 = 102 for a 28 px line
        max_aspect_ratio=100.0,
        language_prefix=r"model\.language_model",
        # the projector (model.vision_projection) sits beside the vision encoder: reached by a look-ahead
        vision_prefix=r"model\.vision_encoder|model(?=\.vision_projection\.)",
        attention_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
        mlp_modules=("gate_proj", "up_proj", "down_proj", "linear_1", "linear_2", "merging_layer"),
        tiny=TinySpec("lighton_ocr", "LightOnOcrConfig", "LightOnOcrProcessor"),
        default_checkpoint="lightonai/LightOnOCR-2-1B-base",
        parameters="1.0 B",
        unsloth=UnslothRecipe(load_in_4bit=False, note=(
            "Unsloth publishes no recipe for LightOnOCR; Inkwell trains 16-bit LoRA: at 1 B parameters the "
            "16-bit weights take about 2 GB, and 4-bit would cost a small model relatively more quality")),
        prompt=image_only_chat_prompt,
        view=sized_view,
        # copies of the checkpoint name PixtralProcessor, which would add image-break and image-end tokens the
        # model was never trained with; LightOnOcrProcessor writes the image tokens alone
        processor_class="LightOnOcrProcessor",
    ),
    "deepseek_ocr2": FamilySettings(
        name="deepseek_ocr2",
        model_types=("deepseek_ocr2",),
        instruction="<image>\nFree OCR.",  # the checkpoint's own plain-OCR prompt: no chat template, no roles
        end_of_turn="<｜end▁of▁sentence｜>",  # no end-of-turn token of its own: the answer ends with EOS
        # the processor makes its own views (the line padded into a square global view, 768 px tiles when wider)
        patch_multiple=16,
        merge_size=1,
        max_aspect_ratio=200.0,  # no limit in the processor: a very wide line is a thin band of the square view
        language_prefix=r"model\.language_model",
        # the Qwen2-style vision encoder, never SAM: SAM's leaf `proj` is also a non-Linear container there
        vision_prefix=r"model\.vision_tower\.vision_encoder",
        attention_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
        # dense and shared-expert MLPs; the routed experts are fused 3-D parameters that LoRA does not reach
        mlp_modules=("gate_proj", "up_proj", "down_proj"),
        tiny=TinySpec("deepseek_ocr2", "DeepseekOcr2Config", "DeepseekOcr2Processor"),
        default_checkpoint="deepseek-community/DeepSeek-OCR-2",
        parameters="3.4 B (mixture of experts, about 0.5 B active per token)",
        unsloth=UnslothRecipe(load_in_4bit=False, note=(
            "Unsloth's notebook loads the remote-code DeepSeek-OCR-2 through AutoModel with trust_remote_code and "
            "trains 16-bit LoRA (on transformers 4.56); Inkwell loads the native checkpoint with transformers' own "
            "classes, no remote code, 16-bit LoRA as in the notebook")),
        prompt=plain_prompt,
        view=square_view,
        own_views=True,
    ),
    # Remote-code families: their model code comes from the checkpoint's repository.
    "deepseek_ocr": FamilySettings(
        name="deepseek_ocr",
        model_types=("deepseek_vl_v2", "deepseekocr"),
        instruction="<image>\nFree OCR.",
        end_of_turn="<｜end▁of▁sentence｜>",
        patch_multiple=16,
        merge_size=1,
        max_aspect_ratio=200.0,
        language_prefix=r"model\.layers",
        vision_prefix=r"model\.(?:sam_model|vision_model)",
        attention_modules=("q_proj", "k_proj", "v_proj", "o_proj", "qkv", "out_proj"),
        mlp_modules=("gate_proj", "up_proj", "down_proj", "fc1", "fc2"),
        tiny=None,
        default_checkpoint="deepseek-ai/DeepSeek-OCR",
        parameters="3.3 B",
        unsloth=UnslothRecipe(load_in_4bit=False, kwargs=(("auto_model", "AutoModel"), ("trust_remote_code", True)),
                              note="Unsloth's notebook: 16-bit LoRA through AutoModel with trust_remote_code"),
        auto_class="AutoModel",
        remote_code=True,
        native_alternative="deepseek_ocr2",
        prompt=plain_prompt,
        own_views=True,
    ),
}


#: dots.ocr: a Qwen2-layout model whose code comes from its repository (its own tokens are not modelled here).
FAMILIES["dots_ocr"] = dataclasses.replace(
    FAMILIES["qwen2_5_vl"],
    name="dots_ocr",
    model_types=("dots_ocr",),
    tiny=TinySpec("qwen", "Qwen2_5_VLConfig", "Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor", _qwen25_tiny,
                  remote_code=True),
    default_checkpoint="rednote-hilab/dots.ocr",
    parameters="3.0 B",
    unsloth=UnslothRecipe(load_in_4bit=False, kwargs=(("trust_remote_code", True),),
                          note="no Unsloth recipe; 16-bit LoRA through the remote code"),
    remote_code=True,
    native_alternative="qwen2_5_vl",
)


def family_for_model_type(model_type: str) -> FamilySettings:
    """Return the family settings for a ``config.model_type``.

    Args:
        model_type: e.g. ``"qwen2_5_vl"``.

    Raises:
        ValueError: The architecture is not supported; the message lists the
            supported types and the closest one.
    """
    known = {t: f for f in FAMILIES.values() for t in f.model_types}
    if model_type in known:
        return known[model_type]
    close = difflib.get_close_matches(model_type, list(known), n=1, cutoff=0.4)
    hint = f" The closest supported type is {close[0]!r} ({known[close[0]].default_checkpoint})." if close else ""
    raise ValueError(
        f"Model type {model_type!r} is not supported (supported: {', '.join(sorted(known))}).{hint} "
        "Pick a checkpoint of a supported family in `model_name`; docs/families.md lists one per family."
    )


def native_families() -> list[str]:
    """Keys of the families transformers implements itself, each with a tiny test model (the tested ones)."""
    return [key for key, f in FAMILIES.items() if not f.remote_code and f.tiny is not None]


def remote_code_refusal(family: FamilySettings, model_name: str) -> str:
    """Why a remote-code model is not loaded without ``trust_remote_code``, and what to do instead."""
    alternative = FAMILIES[family.native_alternative]
    return (
        f"{model_name!r} is a {family.name} model whose code comes from its own repository: loading it runs that "
        "Python code on your machine, with your permissions. If you trust its authors, set trust_remote_code = True "
        f"in 02_finetune. Otherwise use the native family {alternative.name!r} (e.g. model_name = "
        f"{alternative.default_checkpoint!r}), which needs no remote code."
    )


def strictest_aspect_ratio() -> float:
    """The widest aspect ratio every native family accepts: the data limit when none is given."""
    return min(FAMILIES[key].max_aspect_ratio for key in native_families())


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
