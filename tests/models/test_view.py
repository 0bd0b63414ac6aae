"""What the model sees of a line (inkwell.models.view): the same pixels and image tokens the collator feeds the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import helpers
from inkwell.models.families import FAMILIES
from inkwell.models.loading import load_processor
from inkwell.models.prompt import ImageLimits, LineCollator
from inkwell.models.view import Viewer, ink_height

#: A hub id whose processor is not in the cache here: the family table's estimate is used.
OFFLINE_HUB_ID = FAMILIES["qwen2_5_vl"].default_checkpoint


def written_line(size: tuple[int, int], text_height: int, seed: int = 0) -> Image.Image:
    """A white line with black strokes ``text_height`` px high, vertically centred."""
    w, h = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    top = (h - text_height) // 2
    rng = np.random.default_rng(seed)
    x = 4
    while x < w - 12:
        step = int(rng.integers(6, 14))
        draw.rectangle([x, top, x + step // 2, top + text_height - 1], fill="black")
        x += step
    return img


#: Lines of many shapes: long and low, short, square-ish, and one past DeepSeek-OCR-2's tile size after fitting.
LINES = [written_line((1400, 90), 40), written_line((300, 40), 20, 1), written_line((120, 110), 60, 2),
         written_line((2000, 120), 70, 3), written_line((64, 20), 12, 4)]


class Spy:
    """Records the images a processor is called with, then calls it."""

    def __init__(self, processor):
        self.processor = processor
        self.images: list[Image.Image] = []

    def __call__(self, **kwargs):
        self.images.extend(kwargs["images"])
        return self.processor(**kwargs)

    def __getattr__(self, name):
        return getattr(self.processor, name)


@pytest.mark.parametrize("limits", [ImageLimits(1024, 128), ImageLimits(512, 64)])
def test_model_view_is_what_the_collator_feeds_the_model(tiny_model: Path, limits: ImageLimits) -> None:
    processor, family = load_processor(str(tiny_model))
    spy = Spy(processor)
    batch = LineCollator(spy, family, limits)([{"image": img, "text": "ab"} for img in LINES])
    viewer = Viewer(str(tiny_model), limits.max_width, limits.max_height)
    assert viewer.exact
    image_ids = [i for i in (getattr(processor, n, None) for n in ("image_token_id", "image_break_token_id",
                                                                  "image_end_token_id")) if isinstance(i, int)]
    for i, img in enumerate(LINES):
        view = viewer.view(img)
        # the same pixels
        assert view.image.size == spy.images[i].size == view.size
        assert np.array_equal(np.asarray(view.image), np.asarray(spy.images[i]))
        # the same image tokens in the row the model trains on
        row = batch["input_ids"][i][batch["attention_mask"][i].bool()]
        assert view.image_tokens == sum(int((row == t).sum()) for t in image_ids) > 0
        # the size the vision tower gets, read from the batch's own image tensors
        if "image_grid_thw" in batch:
            _, rows, cols = batch["image_grid_thw"][i].tolist()
            assert view.vision_size == (cols * family.patch_size, rows * family.patch_size)
            assert view.image_tokens == rows * cols // family.merge_size**2
        elif "image_sizes" in batch:
            height, width = batch["image_sizes"][i].tolist()
            assert view.vision_size == (width, height)
        else:  # a padded square global view, plus tiles for a long line
            assert view.views == 1 + int(batch["num_local_patches"][i])
            side = processor.image_processor.size["height"]
            assert max(view.vision_size) >= side if view.views > 1 else max(view.vision_size) == side
        if not family.own_views:  # the table's patch grid agrees with the processor, at the size the tower gets
            assert family.grid_tokens(*view.vision_size) == view.image_tokens
    if family.own_views and limits.max_width > processor.image_processor.tile_size:
        assert any(viewer.view(img).views > 1 for img in LINES)  # a long line gets tiles: more tokens than one view


def test_offline_hub_id_uses_the_family_table_and_says_so(no_network: None) -> None:
    viewer = Viewer(OFFLINE_HUB_ID, 1024, 128)
    assert not viewer.exact and "estimate" in viewer.source() and OFFLINE_HUB_ID in viewer.source()
    view = viewer.view(LINES[0])
    assert view.size == (1008, 56) and view.image_tokens == (1008 // 28) * (56 // 28)
    assert view.scale == pytest.approx(1008 / 1400)  # the limit box is rounded down to the patch multiple
    assert view.text_height == pytest.approx(40 * 56 / 90, abs=2)


@pytest.mark.parametrize("height, expected", [(40, 40), (7, 7), (0, 0)])
def test_ink_height(height: int, expected: float) -> None:
    img = written_line((400, 100), height) if height else Image.new("RGB", (400, 100), "white")
    assert ink_height(img) == pytest.approx(expected, abs=1)


def test_warnings_name_the_parameters() -> None:
    long_lines = [written_line((3000, 100), 45, k) for k in range(10)]
    text = helpers.model_views(long_lines, OFFLINE_HUB_ID, 1024, 128).text()
    assert "WARNING 10 of 10 lines (100%) are shrunk until their writing is under 14 px" in text
    assert "raise max_image_width (now 1024) to about " in text
    assert "lower max_image_width" not in text  # they fill the width: one warning says raise it, none says lower it
    small = [written_line((200, 30), 18, k) for k in range(10)]
    text = helpers.model_views(small, OFFLINE_HUB_ID, 1024, 128).text()
    assert "fill under a quarter of max_image_width x max_image_height = 1024 x 128" in text
    assert "lower max_image_width to 196 and max_image_height to 28" in text
    fine = [written_line((900, 100), 50, k) for k in range(10)]
    assert "WARNING" not in helpers.model_views(fine, OFFLINE_HUB_ID, 1024, 128).text()
    with pytest.raises(ValueError, match="max_image_height = 10: .* at least 28"):
        helpers.model_view(fine[0], OFFLINE_HUB_ID, 1024, 10)


def test_token_report_counts_lines_and_batches(tiny_qwen25: Path) -> None:
    lines = [{"image": img, "text": "abc"} for img in LINES]
    import datasets

    split = datasets.Dataset.from_list([{"image": r["image"], "text": r["text"], "id": str(i)}
                                        for i, r in enumerate(lines)])
    report = helpers.token_report(split, str(tiny_qwen25), 512, 64, batch_size=4, grad_accum=2)
    processor, family = load_processor(str(tiny_qwen25))
    batch = LineCollator(processor, family, ImageLimits(512, 64))([dict(r) for r in split])
    longest = int(batch["attention_mask"].sum(dim=1).max())
    assert max(report.line_tokens) == longest
    assert f"a batch of batch_size = 4 lines up to {4 * longest} tokens" in report.text()
    assert f"(grad_accum = 2) up to {8 * longest}" in report.text()


def test_01_data_looks_with_02_finetunes_defaults() -> None:
    data, finetune = helpers.notebook_parameters("01_data"), helpers.notebook_parameters("02_finetune")
    for name in ("model_name", "max_image_width", "max_image_height"):
        assert data[name] == finetune[name], f"01_data's {name} differs from 02_finetune's"
