"""The contract between training and decoding: image limits, the prompt, the answer ids and the collator.

Stage ``models``: imports lower stages only. Training (:class:`LineCollator`)
and decoding (:mod:`inkwell.models.decode`) build the prompt with the same
:func:`prompt_text` and fit images with the same :func:`prepare_image` under the
same :class:`ImageLimits`; if they disagreed, fine-tuning would fail silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from inkwell.models.families import FamilySettings

__all__ = ["ImageLimits", "LineCollator", "fitted_size", "prepare_image", "prompt_text", "target_ids"]


@dataclass(frozen=True)
class ImageLimits:
    """The largest line image fed to the model, the same for training and reading.

    Attributes:
        max_width: Widest image, in pixels.
        max_height: Tallest image, in pixels.
    """

    max_width: int = 1024
    max_height: int = 128


def fitted_size(size: tuple[int, int], family: FamilySettings,
                limits: ImageLimits = ImageLimits()) -> tuple[int, int, float]:
    """The size :func:`prepare_image` gives a line of ``size`` (width, height), and its scale factor.

    The scale fits the line into the limits with its aspect ratio kept, never
    enlarging (at most 1.0); each side is then rounded to a multiple of the
    family's patch multiple (at least one).

    Returns:
        ``(width, height, scale)``.
    """
    m = family.patch_multiple
    box_w, box_h = max(m, limits.max_width // m * m), max(m, limits.max_height // m * m)
    scale = min(1.0, box_w / size[0], box_h / size[1])
    # scaled sides are at most box_w / box_h, both multiples of m, so rounding never crosses the limit
    w = max(m, int(round(size[0] * scale / m)) * m)
    h = max(m, int(round(size[1] * scale / m)) * m)
    return w, h, scale


def prepare_image(image: Image.Image, family: FamilySettings, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Fit a line image into the size limits and round its sides for the vision tower.

    The image is converted to RGB, scaled down (never up) to fit the limits
    with its aspect ratio kept, and each side is rounded to a multiple of the
    family's patch size (at least one patch); see :func:`fitted_size`.

    Args:
        image: A PIL image of one text line.
        family: Model family (gives the patch multiple).
        limits: Widest and tallest allowed image.

    Returns:
        A new RGB image.
    """
    img = image.convert("RGB")
    w, h, _ = fitted_size(img.size, family, limits)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return img


def prompt_text(processor: Any, family: FamilySettings) -> str:
    """The prompt up to where the answer starts (generation prompt included), built by the family's builder."""
    return family.prompt(processor, family.instruction)


def target_ids(processor: Any, family: FamilySettings, text: str) -> list[int]:
    """Token ids of the answer the model must produce: the text, then the end-of-turn token."""
    tok = processor.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return [*ids, tok.convert_tokens_to_ids(family.end_of_turn)]


class LineCollator:
    """Turn dataset rows (``image``, ``text``) into a training batch.

    The prompt is built by :func:`prompt_text`, the very function decoding
    uses, and the answer ids by :func:`target_ids`; each row is
    ``prompt ids + answer ids``. Labels are ``-100`` on every prompt token
    (image tokens included) and on padding, so the loss covers the answer and
    its end-of-turn token only.
    """

    def __init__(self, processor: Any, family: FamilySettings, limits: ImageLimits = ImageLimits()):
        self.processor = processor
        self.family = family
        self.limits = limits
        self.prompt = prompt_text(processor, family)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Collate rows into tensors: input ids, attention mask, labels and the processor's image tensors.

        The processor batches the images its own way (flattened patches and grid
        sizes, padded pixel arrays and sizes, tiles...); every tensor it returns
        besides the token ids is passed on unchanged, so no family needs its own
        collator. Each row's prompt ids are read back through the attention mask.
        """
        import torch  # heavy: loaded when training starts, not on import

        images = [prepare_image(r["image"], self.family, self.limits) for r in rows]
        enc = self.processor(text=[self.prompt] * len(rows), images=images, padding=True, return_tensors="pt")
        keep = enc["attention_mask"].bool()
        pad_id = self.processor.tokenizer.pad_token_id
        per_token_keys = [k for k in _PER_TOKEN_KEYS if k in enc]
        seqs, labels, extras = [], [], {}
        for i, row in enumerate(rows):
            prompt_ids = enc["input_ids"][i][keep[i]].tolist()
            answer = target_ids(self.processor, self.family, row["text"])
            seqs.append(prompt_ids + answer)
            labels.append([-100] * len(prompt_ids) + answer)
            for k in per_token_keys:
                extras.setdefault(k, []).append(enc[k][i][keep[i]].tolist() + [0] * len(answer))
        width = max(len(s) for s in seqs)
        batch: dict[str, Any] = {
            "input_ids": torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs]),
            "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
        }
        for k, vals in extras.items():
            batch[k] = torch.tensor([v + [0] * (width - len(v)) for v in vals])
        for k, v in enc.items():
            if k not in batch and k not in _PER_TOKEN_KEYS:
                batch[k] = v
        return batch


#: Processor outputs with one entry per token: cut with the prompt and extended over the answer.
_PER_TOKEN_KEYS = ("mm_token_type_ids", "token_type_ids")
