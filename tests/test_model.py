"""Model-side helpers: family table, LoRA targets, images, prompt masking, run folders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

import helpers


@pytest.mark.parametrize(
    ("model_type", "family"),
    [("qwen2_5_vl", "qwen2_5_vl"), ("qwen2_vl", "qwen2_5_vl"), ("qwen3_vl", "qwen3_vl")],
)
def test_family_lookup(model_type: str, family: str) -> None:
    assert helpers.family_for_model_type(model_type).name == family


def test_unknown_family_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="model_name"):
        helpers.family_for_model_type("llama")


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
    regex = helpers.lora_target_regex(helpers.FAMILIES["qwen2_5_vl"], **kwargs)
    assert bool(re.fullmatch(regex, name)) is expected


def test_lora_target_regex_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="No LoRA target"):
        helpers.lora_target_regex(helpers.FAMILIES["qwen2_5_vl"], attention=False, mlp=False)


@pytest.mark.parametrize(
    ("size", "limits", "expected"),
    [
        ((400, 64), (1024, 128), (392, 56)),  # rounded to multiples of 28
        ((2000, 100), (1024, 128), (1008, 56)),  # scaled down to fit the width
        ((10, 5), (1024, 128), (28, 28)),  # never below one patch
        ((300, 300), (1024, 128), (112, 112)),  # scaled to fit the height, never above it
    ],
)
def test_prepare_image(size: tuple[int, int], limits: tuple[int, int], expected: tuple[int, int]) -> None:
    img = helpers.prepare_image(Image.new("L", size, 255), helpers.FAMILIES["qwen2_5_vl"], *limits)
    assert img.size == expected and img.mode == "RGB"


def test_collator_masks_prompt_and_matches_generation_prompt(tiny_model: Path) -> None:
    """The silent killer of fine-tuning: prompt masking, collator and generation prompt must agree."""
    loaded = helpers.load_model(str(tiny_model))
    rows = [
        {"image": Image.new("RGB", (200, 40), "white"), "text": "dear diary"},
        {"image": Image.new("RGB", (90, 40), "white"), "text": "see you soon, Anna"},
    ]
    collator = helpers.LineCollator(loaded.processor, loaded.family, 512, 32)
    batch = collator(rows)
    tok = loaded.processor.tokenizer
    prompt = helpers.prompt_text(loaded.processor, loaded.family)
    assert prompt.endswith("assistant\n")
    for i, row in enumerate(rows):
        gen = loaded.processor(
            text=[prompt], images=[helpers.prepare_image(row["image"], loaded.family, 512, 32)], return_tensors="pt"
        )
        n_prompt = gen["input_ids"].shape[1]
        ids = batch["input_ids"][i].tolist()
        labels = batch["labels"][i].tolist()
        # the training row starts with exactly the ids generation starts from
        assert ids[:n_prompt] == gen["input_ids"][0].tolist()
        # every prompt token (image tokens included) is masked
        assert all(v == -100 for v in labels[:n_prompt])
        answer = [v for v in labels[n_prompt:] if v != -100]
        assert tok.decode(answer[:-1]) == row["text"]
        assert answer[-1] == tok.convert_tokens_to_ids(loaded.family.end_of_turn)
        # padding is masked and not attended
        n_real = int(batch["attention_mask"][i].sum())
        assert all(v == -100 for v in labels[n_real:])
        assert n_real == n_prompt + len(answer)


def test_new_run_dir_never_reuses(tmp_path: Path) -> None:
    first = helpers.new_run_dir("exp", tmp_path)
    assert first == tmp_path / "exp"
    first.mkdir()
    assert helpers.new_run_dir("exp", tmp_path) == tmp_path / "exp-2"
    (tmp_path / "exp-2.partial").mkdir()  # an interrupted run also holds its name
    assert helpers.new_run_dir("exp", tmp_path) == tmp_path / "exp-3"
    assert re.fullmatch(r"run-\d{8}-\d{6}", helpers.new_run_dir("", tmp_path).name)
    with pytest.raises(ValueError, match="run_name"):
        helpers.new_run_dir("../escape", tmp_path)


def test_literal_parameters_keeps_flat_literals() -> None:
    ns = {"a": 1, "b": "x", "c": [1, "y"], "d": None, "_private": 2, "In": [""], "f": object(), "g": {"k": 1}}
    assert helpers.literal_parameters(ns) == {"a": 1, "b": "x", "c": [1, "y"], "d": None}


def test_choose_backend_without_gpu_says_why() -> None:
    backend, reason, four_bit = helpers.choose_backend("auto", load_in_4bit=True)
    assert backend == "transformers" and four_bit is False
    assert "no CUDA GPU" in reason and "full precision" in reason
    with pytest.raises(RuntimeError, match="CUDA"):
        helpers.choose_backend("unsloth")


def test_missing_local_model_is_a_clear_error(home: Path) -> None:
    with pytest.raises(FileNotFoundError, match="quickstart"):
        helpers.load_model("data/models/does-not-exist")


def test_tiny_model_round_trips(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] in ("qwen2_5_vl", "qwen3_vl")
    loaded = helpers.load_model(str(tiny_model))
    assert loaded.backend == "transformers" and loaded.device == "cpu"
    n = sum(p.numel() for p in loaded.model.parameters())
    assert n < 2_000_000


def test_synthetic_lines_are_reproducible_and_kept(tmp_path: Path) -> None:
    a = helpers.make_synthetic_lines(tmp_path / "a", 6, seed=5)
    b = helpers.make_synthetic_lines(tmp_path / "b", 6, seed=5)
    assert a.labels.read_text() == b.labels.read_text()
    for i in range(6):
        name = f"line_{i:05d}.png"
        assert (a.images_dir / name).read_bytes() == (b.images_dir / name).read_bytes()
    again = helpers.make_synthetic_lines(tmp_path / "a", 6, seed=5)  # same settings: reused
    assert again.labels == a.labels
    with pytest.raises(FileExistsError):
        helpers.make_synthetic_lines(tmp_path / "a", 7, seed=5)  # other settings: never overwritten
    rows = a.labels.read_text().splitlines()
    assert rows[0] == "image,text,page" and len(rows) == 7


def test_unsloth_branch_imports(tmp_path: Path) -> None:
    """The pinned stack installs with Unsloth and the GPU branch's imports resolve (CPU import check only)."""
    import os
    import subprocess
    import sys

    code = (
        "from unsloth import FastVisionModel; import unsloth, trl, transformers; "
        "assert hasattr(FastVisionModel, 'get_peft_model') and hasattr(FastVisionModel, 'for_inference'); "
        "print(unsloth.__version__, trl.__version__, transformers.__version__)"
    )
    env = {**os.environ, "UNSLOTH_ALLOW_CPU": "1", "HF_HUB_OFFLINE": "1"}
    # run in a scratch folder: importing Unsloth writes a compiled cache into the working directory
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["2026.10.5", "1.15.0", "5.17.0"]
