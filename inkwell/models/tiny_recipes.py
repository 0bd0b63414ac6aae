"""What each family's tiny test model is: its tokenizer, chat template, config and processor.

Stage ``models``: imports lower stages only. One recipe per layout (``TinySpec.recipe``
in :mod:`inkwell.models.families` names it) returns a transformers config and the family's
own processor around a character-level tokenizer; :mod:`inkwell.models.tiny` builds and
saves the model. transformers and tokenizers are imported inside the recipes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inkwell.models.families import FAMILIES, FamilySettings, TinySpec

__all__ = ["RECIPES", "model_config", "qwen_processor", "qwen_tokenizer", "tiny_charset"]

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


def qwen_tokenizer(special_ids: dict[str, int] | None = None, size: int = 0) -> Any:
    """A character-level fast tokenizer with the Qwen special tokens and chat template.

    Args:
        special_ids: Where the special tokens sit (a real checkpoint's ids); None
            packs them first, then the characters.
        size: Entries in all, reached with unused filler tokens (with ``special_ids``).
    """
    from transformers import PreTrainedTokenizerFast  # heavy: loaded on use

    if special_ids is None:
        vocab = {tok: i for i, tok in enumerate([*_SPECIAL_TOKENS, *tiny_charset()])}
    else:
        vocab = {tok: special_ids[tok] for tok in _SPECIAL_TOKENS if tok in special_ids}
        vocab.setdefault("<unk>", size - 1)
        free = iter(sorted(set(range(size)) - set(vocab.values())))
        vocab.update({ch: next(free) for ch in tiny_charset()})
        vocab.update({f"<|unused_{i}|>": i for i in free})
    return PreTrainedTokenizerFast(
        tokenizer_object=_char_core(vocab),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=list(_SPECIAL_TOKENS[1:7]),
        chat_template=_QWEN_TEMPLATE,
    )


def _char_core(vocab: dict[str, int]) -> Any:
    """A ``tokenizers`` WordLevel model that splits text into single characters (unknown ones map to ``<unk>``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers  # heavy: only when building

    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return core


def _decoder_sizes(vocab_size: int, hidden_size: int, layers: int, kv_heads: int = 2) -> dict[str, Any]:
    """The sizes every tiny language model shares: 4 query heads, an MLP twice as wide, 4096 positions."""
    return dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
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


def _qwen_recipe(family: FamilySettings, hidden_size: int, layers: int) -> tuple[Any, Any]:
    """Config and processor of a tiny Qwen-layout model (Qwen2/2.5/3-VL, Qwen3.5, dots.ocr)."""
    import transformers  # heavy: loaded on use

    spec = family.tiny
    tokenizer = qwen_tokenizer()
    if spec.added_tokens:
        tokenizer.add_tokens(list(spec.added_tokens))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _SPECIAL_TOKENS}
    heads = 4
    head_dim = hidden_size // heads
    patch, merge = family.patch_size, family.merge_size
    text = dict(
        **_decoder_sizes(len(tokenizer), hidden_size, layers),
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
    return config, qwen_processor(spec, tokenizer, image_processor, patch)


def qwen_processor(spec: TinySpec, tokenizer: Any, image_processor: Any, patch: int) -> Any:
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


#: PaddleOCR-VL's special tokens, the first three at the real ERNIE ids: <unk> doubles as pad, </s> ends a turn.
_PADDLE_SPECIALS = (
    "<unk>",
    "<s>",
    "</s>",
    "<|begin_of_sentence|>",
    "<|end_of_sentence|>",
    "<|IMAGE_PLACEHOLDER|>",
    "<|IMAGE_START|>",
    "<|IMAGE_END|>",
    "<|VIDEO_PLACEHOLDER|>",
)

#: PaddleOCR-VL's layout: "<|begin_of_sentence|>", then "User: " + the turn's images + its text + "\n", and
#: "Assistant: " + answer + "</s>"; no system turn; the generation prompt is "Assistant: ".
_PADDLE_TEMPLATE = (
    "{{- '<|begin_of_sentence|>' -}}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{%- set parts = [{'type': 'text', 'text': message['content']}] -%}"
    "{%- else -%}{%- set parts = message['content'] -%}{%- endif -%}"
    "{%- if message['role'] == 'user' -%}{{- 'User: ' -}}"
    "{%- for p in parts -%}{%- if p['type'] == 'image' -%}"
    "{{- '<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>' -}}{%- endif -%}{%- endfor -%}"
    "{%- for p in parts -%}{%- if p['type'] == 'text' -%}{{- p['text'] -}}{%- endif -%}{%- endfor -%}"
    "{{- '\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- 'Assistant: ' -}}"
    "{%- for p in parts -%}{%- if p['type'] == 'text' -%}{{- p['text'] -}}{%- endif -%}{%- endfor -%}"
    "{{- '</s>' -}}"
    "{%- elif message['role'] == 'system' -%}"
    "{%- for p in parts -%}{%- if p['type'] == 'text' -%}{{- p['text'] + '\\n' -}}{%- endif -%}{%- endfor -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant: ' -}}{%- endif -%}"
)


def _paddle_recipe(family: FamilySettings, hidden_size: int, layers: int) -> tuple[Any, Any]:
    """Config and processor of a tiny PaddleOCR-VL (NaViT-style vision tower, ERNIE-4.5 language model)."""
    import transformers  # heavy: loaded on use

    vocab = {t: i for i, t in enumerate([*_PADDLE_SPECIALS, *tiny_charset()])}
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_char_core(vocab),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        cls_token="<|begin_of_sentence|>",
        sep_token="<|end_of_sentence|>",
        # PaddleOCRVLProcessor reads tokenizer.image_token / image_token_id
        extra_special_tokens={
            "image_token": "<|IMAGE_PLACEHOLDER|>",
            "image_start_token": "<|IMAGE_START|>",
            "image_end_token": "<|IMAGE_END|>",
            "video_token": "<|VIDEO_PLACEHOLDER|>",
        },
        chat_template=_PADDLE_TEMPLATE,
    )
    ids = {t: vocab[t] for t in _PADDLE_SPECIALS}
    heads = 4
    head_dim = hidden_size // heads
    patch, merge = family.patch_size, family.merge_size
    text = dict(
        **_decoder_sizes(len(tok), hidden_size, layers),
        head_dim=head_dim,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0, "mrope_section": _mrope_section(head_dim)},
        pad_token_id=ids["<unk>"],
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        tie_word_embeddings=False,
    )
    vision = dict(
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        patch_size=patch,
        spatial_merge_size=merge,
        # The tower adds a learned absolute position vector (random here) to every patch; white paper maps to
        # zero, so those vectors can drown the ink. A 1x1 grid gives one shared vector; positions still come from
        # the tower's 2-D RoPE and the language model's M-RoPE. (The real checkpoint's grid is 27x27.)
        image_size=patch,
    )
    config = transformers.PaddleOCRVLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|IMAGE_PLACEHOLDER|>"],
        video_token_id=ids["<|VIDEO_PLACEHOLDER|>"],
        vision_start_token_id=ids["<|IMAGE_START|>"],
        vision_end_token_id=ids["<|IMAGE_END|>"],
        tie_word_embeddings=False,  # the top-level default is True, whatever text_config says
    )
    image_processor = transformers.PaddleOCRVLImageProcessor(
        image_mean=[1.0, 1.0, 1.0],
        image_std=[0.5, 0.5, 0.5],
        patch_size=patch,
        merge_size=merge,
        temporal_patch_size=1,
        # a fresh dict: min_pixels= / max_pixels= would write into the class-level default `size` and change
        # every PaddleOCRVLImageProcessor built later in the process
        size={"shortest_edge": (patch * merge) ** 2, "longest_edge": (patch * merge) ** 2 * 256},
    )
    processor = getattr(transformers, family.tiny.processor_class)(
        image_processor=image_processor, tokenizer=tok, chat_template=_PADDLE_TEMPLATE
    )
    return config, processor


#: LightOnOCR's special tokens (Qwen2 vocabulary): <|im_end|> ends a turn, <|endoftext|> pads, no bos.
_LIGHTON_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|vision_pad|>",
                     "<|vision_end|>", "<unk>")

#: LightOnOCR's ChatML layout: an empty system turn "<|im_start|>system<|im_end|>\n" (no newline after
#: "system") when the first message is not a system one; an image is one <|image_pad|> (the processor expands
#: it); each text item is followed by "\n". Written without literal newlines so block trimming cannot change it.
_LIGHTON_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system<|im_end|>{{ '\\n' }}{% endif %}"
    "<|im_start|>{{ message['role'] }}{{ '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>{{ '\\n' }}"
    "{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|image_pad|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{{ '\\n' }}{% endif %}"
    "{% endfor %}<|im_end|>{{ '\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def _lighton_recipe(family: FamilySettings, hidden_size: int, layers: int) -> tuple[Any, Any]:
    """Config and processor of a tiny LightOnOCR (Pixtral vision encoder, Qwen3 language model, tied head)."""
    import transformers  # heavy: loaded on use
    from tokenizers import AddedToken  # heavy: only when building

    vocab = {t: i for i, t in enumerate([*_LIGHTON_SPECIALS, *tiny_charset()])}
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_char_core(vocab),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        # LightOnOcrProcessor reads tokenizer.image_token / image_break_token / image_end_token
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "image_break_token": "<|vision_pad|>",
            "image_end_token": "<|vision_end|>",
        },
        chat_template=_LIGHTON_TEMPLATE,
    )
    # with extra_special_tokens given as a dict, additional special tokens are dropped: register the turn start
    tok.add_tokens([AddedToken("<|im_start|>", special=True, normalized=False)], special_tokens=True)
    eos = vocab[family.end_of_turn]
    heads = 4
    head_dim = hidden_size // heads
    longest_edge = 512  # the real checkpoint: 1540
    text = dict(
        model_type="qwen3",
        **_decoder_sizes(len(tok), hidden_size, layers),
        head_dim=head_dim,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    vision = dict(
        model_type="pixtral",
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        head_dim=head_dim,
        hidden_act="silu",
        image_size=longest_edge,  # the 2-D RoPE table covers image_size / patch_size positions per side
        patch_size=family.patch_size,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    config = transformers.LightOnOcrConfig(
        text_config=text,
        vision_config=vision,
        spatial_merge_size=family.merge_size,
        image_token_id=vocab["<|image_pad|>"],
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=tok.pad_token_id,
    )
    image_processor = transformers.PixtralImageProcessor(
        patch_size={"height": family.patch_size, "width": family.patch_size},
        size={"longest_edge": longest_edge},
        image_mean=[1.0, 1.0, 1.0],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = getattr(transformers, family.tiny.processor_class)(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=family.patch_size,
        spatial_merge_size=family.merge_size,
        chat_template=_LIGHTON_TEMPLATE,
    )
    return config, processor


#: DeepSeek-OCR-2's special tokens (BOS 0, EOS 1, pad 2 as in the real tokenizer); <unk> for the tiny one only.
_DEEPSEEK_SPECIALS = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<image>", "<|grounding|>",
                      "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|User|>", "<|Assistant|>", "<unk>")


def _deepseek_ocr2_recipe(family: FamilySettings, hidden_size: int, layers: int) -> tuple[Any, Any]:
    """Config and processor of a tiny DeepSeek-OCR-2 (SAM, then a Qwen2-style encoder, then a DeepSeek-V2 MoE).

    The vision encoder has learned queries for 144 (12 x 12) or 256 positions,
    so every view costs 144 + 1 tokens whatever its pixel size, and the processor
    counts 144 only for a 705..768 px view: the tiny model uses 768 px views and
    tiles with a coarse SAM patch (48 px) to keep the vision cost small.
    """
    import transformers  # heavy: loaded on use
    from tokenizers import processors  # heavy: only when building

    bos, eos, pad, image = _DEEPSEEK_SPECIALS[:4]
    vocab = {t: i for i, t in enumerate([*_DEEPSEEK_SPECIALS, *tiny_charset()])}
    core = _char_core(vocab)
    core.post_processor = processors.TemplateProcessing(  # like the real tokenizer, it prepends BOS
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])]
    )
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=pad, unk_token="<unk>",
        additional_special_tokens=list(_DEEPSEEK_SPECIALS[3:-1]),
    )
    view, sam_patch, sam_hidden = 768, 48, 32
    text = dict(
        **_decoder_sizes(len(tok), hidden_size, layers, kv_heads=4),  # as many key/value heads as query heads

        mlp_layer_types=["dense"] + ["sparse"] * (layers - 1),  # real: 1 dense, then 11 mixture-of-experts layers
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        moe_intermediate_size=hidden_size // 2,
        bos_token_id=vocab[bos],
        eos_token_id=vocab[eos],
        pad_token_id=vocab[pad],
        tie_word_embeddings=False,
    )
    vision = dict(
        sam_config=dict(
            hidden_size=sam_hidden,
            output_channels=sam_hidden,
            num_hidden_layers=layers,
            num_attention_heads=2,
            image_size=view,
            patch_size=sam_patch,
            window_size=8,
            global_attn_indexes=[layers - 1],
            downsample_channels=[sam_hidden, hidden_size],  # the last one must equal the encoder width
            initializer_range=0.02,  # the SAM default, 1e-10, would start it at zero: no image would reach the model
        ),
        encoder_config=dict(
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            vocab_size=1,
        ),
    )
    config = transformers.DeepseekOcr2Config(text_config=text, vision_config=vision, image_token_id=vocab[image])
    image_processor = transformers.DeepseekOcr2ImageProcessor(
        size={"height": view, "width": view},
        tile_size=view,  # real: global view 1024, tiles 768 (tiled when the longest side is over 768)
        image_mean=[1.0, 1.0, 1.0],
        image_std=[0.5, 0.5, 0.5],
        background_color=[255, 255, 255],  # white padding maps to zero like the paper (real: grey 127)
    )
    processor = getattr(transformers, family.tiny.processor_class)(
        image_processor=image_processor, tokenizer=tok, patch_size=16, downsample_ratio=4
    )
    return config, processor


#: Recipe name (``TinySpec.recipe``) -> the function that assembles config and processor (hidden size, layers).
RECIPES: dict[str, Callable[[FamilySettings, int, int], tuple[Any, Any]]] = {
    "qwen": _qwen_recipe,
    "paddleocr_vl": _paddle_recipe,
    "lighton_ocr": _lighton_recipe,
    "deepseek_ocr2": _deepseek_ocr2_recipe,
}


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
