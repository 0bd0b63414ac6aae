"""inkwell.models.published and inkwell.models.tiny.build_published_model: real-size models from published dimensions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from inkwell.models.loading import load_model
from inkwell.models.published import PUBLISHED, published_for_name
from inkwell.models.tiny import build_published_model, model_config


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_published_dimensions_give_the_published_parameter_count(key: str) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    entry = PUBLISHED[key]
    config = model_config(entry.family, entry.text, entry.vision, entry.tokens)
    assert config.model_type == entry.family
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == entry.parameters


def test_transformers_default_config_is_not_the_7b() -> None:
    """The reason the dimensions are written down: the class default is a 72B-sized text model."""
    from transformers import Qwen2_5_VLConfig

    assert Qwen2_5_VLConfig().text_config.hidden_size != PUBLISHED["qwen2_5_vl-7B"].text["hidden_size"]


@pytest.mark.parametrize(
    ("name", "key"),
    [("unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit", "qwen2_5_vl-7B"), ("Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl-3B"),
     ("someone/other-model", None)],
)
def test_published_size_from_a_hub_id(name: str, key: str | None) -> None:
    entry = published_for_name(name)
    assert (entry.key if entry else None) == key


def test_built_model_has_real_token_ids_and_loads_like_a_hub_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """The builder at a shrunken width (a real 7B is built on the GPU by scripts/bench_gpu.py)."""
    real = PUBLISHED["qwen2_5_vl-7B"]
    small = dataclasses.replace(
        real, key="small",
        text={**real.text, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2, "num_key_value_heads": 1,
              "rope_parameters": {**real.text["rope_parameters"], "mrope_section": [2, 3, 3]}},
        vision={**real.vision, "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                "out_hidden_size": 32, "fullatt_block_indexes": [0]},
    )
    monkeypatch.setitem(PUBLISHED, "small", small)
    folder = build_published_model(tmp_path / "small", "small", dtype="float32")
    loaded = load_model(str(folder))
    tok = loaded.processor.tokenizer
    assert len(tok) == real.tokenizer_size
    assert loaded.model.get_input_embeddings().num_embeddings == real.text["vocab_size"]
    for token, token_id in real.tokens.items():
        assert tok.convert_tokens_to_ids(token) == token_id
    assert tok.decode(tok("Grüße, Ada!")["input_ids"]) == "Grüße, Ada!"
    assert list(loaded.processor.image_processor.image_mean) == real.image_processor["image_mean"]
    with pytest.raises(ValueError, match="qwen2_5_vl-7B"):
        build_published_model(tmp_path / "x", "qwen9-1B")


def test_a_tiny_model_is_built_without_a_bar_and_leaves_the_bars_as_they_were(tmp_path: Path,
                                                                             capfd: pytest.CaptureFixture) -> None:
    """The quickstart's first console line is not transformers' "Writing model shards" bar, and a user's switch for
    transformers' bars is left as it was."""
    from transformers.utils import logging as hf_logging

    from inkwell.models.tiny import build_tiny_model

    build_tiny_model(tmp_path / "tiny", "qwen2_5_vl")
    assert "Writing model shards" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        build_tiny_model(tmp_path / "tiny2", "qwen2_5_vl")
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()
