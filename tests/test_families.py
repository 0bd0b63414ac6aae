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
