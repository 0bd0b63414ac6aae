"""inkwell.models.families: the family table, its lookup and the LoRA target regex."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inkwell.models.families import FAMILIES, family_for_model_type, lora_target_regex, strictest_aspect_ratio


@pytest.mark.parametrize(
    ("model_type", "family"),
    [("qwen2_5_vl", "qwen2_5_vl"), ("qwen2_vl", "qwen2_5_vl"), ("qwen3_vl", "qwen3_vl"), ("qwen3_5", "qwen3_5"),
     ("paddleocr_vl", "paddleocr_vl"), ("lighton_ocr", "lighton_ocr"), ("deepseek_ocr2", "deepseek_ocr2")],
)
def test_family_lookup(model_type: str, family: str) -> None:
    assert family_for_model_type(model_type).name == family


def test_unknown_family_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="model_name"):
        family_for_model_type("llama")


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("model.language_model.layers.0.self_attn.q_proj", {}, True),
        ("model.language_model.layers.3.mlp.down_proj", {}, True),
        ("model.language_model.layers.3.mlp.down_proj", {"mlp": False}, False),
        ("model.visual.blocks.0.attn.qkv", {}, False),
        ("model.visual.blocks.0.attn.qkv", {"vision": True}, True),
        ("model.visual.blocks.0.attn.qkv", {"vision": True, "language": False}, True),
        ("model.language_model.layers.0.self_attn.q_proj", {"vision": True, "language": False}, False),
        ("lm_head", {"vision": True}, False),
        ("model.language_model.embed_tokens", {}, False),
    ],
)
def test_lora_target_regex(name: str, kwargs: dict, expected: bool) -> None:
    regex = lora_target_regex(FAMILIES["qwen2_5_vl"], **kwargs)
    assert bool(re.fullmatch(regex, name)) is expected


def test_lora_target_regex_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="No LoRA target"):
        lora_target_regex(FAMILIES["qwen2_5_vl"], attention=False, mlp=False)


def test_data_limit_is_the_strictest_family_limit(tmp_path: Path) -> None:
    """01_data's default aspect limit is read from the family table, not written again elsewhere."""
    from PIL import Image

    from inkwell.data.dataset import prepare_dataset

    assert strictest_aspect_ratio() == min(f.max_aspect_ratio for f in FAMILIES.values()) == 100.0  # lighton_ocr
    Image.new("RGB", (808, 8), "white").save(tmp_path / "wide.png")  # 101:1
    Image.new("RGB", (800, 8), "white").save(tmp_path / "ok.png")  # 100:1
    (tmp_path / "labels.csv").write_text("image,text\nwide.png,too wide\nok.png,fits\n", encoding="utf-8")
    report = prepare_dataset(tmp_path / "labels.csv", dataset_name="ds", output_root=tmp_path / "out", progress=False)
    assert [r.reason for r in report.rejected] == ["aspect_ratio"] and report.n_accepted == 1


@pytest.mark.parametrize(("family", "bf16", "expected"), [
    ("qwen2_5_vl", True, "bfloat16"), ("qwen2_5_vl", False, "float16"),
    ("qwen3_5", True, "bfloat16"), ("qwen3_5", False, "float32"),
])
def test_compute_dtype_never_float16_for_bf16_only_families(family: str, bf16: bool, expected: str) -> None:
    """Qwen3.5's linear-attention layers give NaN gradients in float16: a T4 (no bfloat16) trains it in float32."""
    from inkwell.models.loading import compute_dtype

    assert compute_dtype(FAMILIES[family], bf16) == expected


def test_prompt_builders_follow_the_table() -> None:
    """Each family's prompt comes from the small function its entry points to, not from a branch on its name."""
    from inkwell.models.families import chat_prompt, image_only_chat_prompt, plain_prompt

    class Tokenizer:
        bos_token, bos_token_id = "<s>", 1

        def __init__(self, adds_bos: bool) -> None:
            self.adds_bos = adds_bos

        def __call__(self, text: str) -> dict:
            return {"input_ids": [1, 7] if self.adds_bos else [7]}

    class Processor:
        tokenizer = Tokenizer(adds_bos=False)

        def apply_chat_template(self, messages: list, **kwargs: object) -> str:
            return repr((messages, sorted(kwargs.items())))

    p = Processor()
    assert plain_prompt(p, "<image>\nFree OCR.") == "<s><image>\nFree OCR."
    p.tokenizer = Tokenizer(adds_bos=True)  # DeepSeek tokenizers prepend BOS themselves: never two
    assert plain_prompt(p, "<image>\nFree OCR.") == "<image>\nFree OCR."
    chat = chat_prompt(p, "Read it.")
    assert "Read it." in chat and "'add_generation_prompt', True" in chat and "'type': 'image'" in chat
    alone = image_only_chat_prompt(p, "Read it.")
    assert "Read it." not in alone and "'role': 'user'" in alone and "'type': 'image'" in alone
    assert FAMILIES["deepseek_ocr"].prompt is plain_prompt and FAMILIES["qwen2_5_vl"].prompt is chat_prompt


@pytest.mark.parametrize(
    ("name", "vision", "expected"),
    [
        ("model.projector.linear_1", True, True),  # the projector sits beside model.visual, not inside it
        ("model.projector.linear_2", False, False),
        ("model.visual.encoder.layers.0.self_attn.out_proj", True, True),
        ("model.visual.embeddings.patch_embedding", True, False),
        ("model.language_model.layers.1.mlp.up_proj", False, True),
        ("lm_head", True, False),
    ],
)
def test_paddleocr_vl_lora_reaches_its_projector(name: str, vision: bool, expected: bool) -> None:
    regex = lora_target_regex(FAMILIES["paddleocr_vl"], vision=vision)
    assert bool(re.fullmatch(regex, name)) is expected


@pytest.mark.parametrize("family", ["paddleocr_vl", "lighton_ocr", "deepseek_ocr2", "qwen2_5_vl", "qwen3_5"])
def test_lora_regex_reaches_every_linear_layer_but_the_head(family: str, tmp_path: Path) -> None:
    """On the family's real module tree: targets are Linear layers (and Qwen's patch-embedding Conv3d, which PEFT
    adapts too); every Linear layer but the LM head and a few named exceptions is reached."""
    import torch
    import transformers

    from inkwell.models.tiny_recipes import RECIPES

    spec = FAMILIES[family].tiny
    config, _ = RECIPES[spec.recipe](FAMILIES[family], 64, 2)
    with torch.device("meta"):
        model = getattr(transformers, FAMILIES[family].auto_class).from_config(config)
    regex = lora_target_regex(FAMILIES[family], vision=True)
    hits = {n: type(m).__name__ for n, m in model.named_modules() if re.fullmatch(regex, n)}
    assert hits and set(hits.values()) <= {"Linear", "Conv3d"}, hits
    assert any(".layers." in n and "language_model" in n for n in hits)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    missed = [n for n in linear if n not in hits and n != "lm_head"]
    # left alone on purpose: DeepSeek's SAM stage (its leaf names collide with non-Linear modules); out of reach of
    # leaf names: Qwen's index-named merger layers and DeepSeek's single-Linear projector. Nothing else is missed.
    allowed = r"merger\.mlp\.\d+$|\.sam_encoder\.|^model\.multi_modal_projector$"
    assert all(re.search(allowed, n) for n in missed), [n for n in missed if not re.search(allowed, n)]
