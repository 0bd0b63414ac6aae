"""inkwell.families: the family table, its lookup and the LoRA target regex."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inkwell.families import FAMILIES, family_for_model_type, lora_target_regex, strictest_aspect_ratio


@pytest.mark.parametrize(
    ("model_type", "family"),
    [("qwen2_5_vl", "qwen2_5_vl"), ("qwen2_vl", "qwen2_5_vl"), ("qwen3_vl", "qwen3_vl")],
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

    from inkwell.data import prepare_dataset

    assert strictest_aspect_ratio() == min(f.max_aspect_ratio for f in FAMILIES.values()) == 200.0
    Image.new("RGB", (1608, 8), "white").save(tmp_path / "wide.png")  # 201:1
    Image.new("RGB", (1600, 8), "white").save(tmp_path / "ok.png")  # 200:1
    (tmp_path / "labels.csv").write_text("image,text\nwide.png,too wide\nok.png,fits\n", encoding="utf-8")
    report = prepare_dataset(tmp_path / "labels.csv", dataset_name="ds", output_root=tmp_path / "out", progress=False)
    assert [r.reason for r in report.rejected] == ["aspect_ratio"] and report.n_accepted == 1


@pytest.mark.parametrize(("family", "bf16", "expected"), [
    ("qwen2_5_vl", True, "bfloat16"), ("qwen2_5_vl", False, "float16"),
    ("qwen3_5", True, "bfloat16"), ("qwen3_5", False, "float32"),
])
def test_compute_dtype_never_float16_for_bf16_only_families(family: str, bf16: bool, expected: str) -> None:
    """Qwen3.5's linear-attention layers give NaN gradients in float16: a T4 (no bfloat16) trains it in float32."""
    from inkwell.model import compute_dtype

    assert compute_dtype(FAMILIES[family], bf16) == expected


def test_prompt_builders_follow_the_table() -> None:
    """Each family's prompt comes from the small function its entry points to, not from a branch on its name."""
    from inkwell.families import chat_prompt, image_only_chat_prompt, plain_prompt

    class Processor:
        class tokenizer:  # noqa: N801 - stands in for a processor's tokenizer attribute
            bos_token = "<s>"

        def apply_chat_template(self, messages: list, **kwargs: object) -> str:
            return repr((messages, sorted(kwargs.items())))

    p = Processor()
    assert plain_prompt(p, "<image>\nFree OCR.") == "<s><image>\nFree OCR."
    chat = chat_prompt(p, "Read it.")
    assert "Read it." in chat and "'add_generation_prompt', True" in chat and "'type': 'image'" in chat
    alone = image_only_chat_prompt(p, "Read it.")
    assert "Read it." not in alone and "'role': 'system'" in alone and "'type': 'image'" in alone
    assert FAMILIES["deepseek_ocr"].prompt is plain_prompt and FAMILIES["qwen2_5_vl"].prompt is chat_prompt
