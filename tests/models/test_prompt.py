"""inkwell.models.prompt: image limits, prompt and collator agree with decoding (the masking test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from inkwell.models.families import FAMILIES
from inkwell.models.loading import load_model
from inkwell.models.prompt import ImageLimits, LineCollator, prepare_image, prompt_text


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
    img = prepare_image(Image.new("L", size, 255), FAMILIES["qwen2_5_vl"], ImageLimits(*limits))
    assert img.size == expected and img.mode == "RGB"


def test_collator_masks_prompt_and_matches_generation_prompt(tiny_model: Path) -> None:
    """The silent killer of fine-tuning: prompt masking, collator and generation prompt must agree."""
    loaded = load_model(str(tiny_model))
    rows = [
        {"image": Image.new("RGB", (200, 40), "white"), "text": "dear diary"},
        {"image": Image.new("RGB", (90, 40), "white"), "text": "see you soon, Anna"},
    ]
    collator = LineCollator(loaded.processor, loaded.family, ImageLimits(512, 32))
    batch = collator(rows)
    tok = loaded.processor.tokenizer
    prompt = prompt_text(loaded.processor, loaded.family)
    for i, row in enumerate(rows):
        gen = loaded.processor(
            text=[prompt], images=[prepare_image(row["image"], loaded.family, ImageLimits(512, 32))], return_tensors="pt"
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
