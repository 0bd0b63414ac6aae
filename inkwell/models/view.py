"""What the model sees of a line: the fitted image, its size, image tokens, scale and the writing's height.

Stage ``models``: imports lower stages, :mod:`inkwell.models.loading` (the processor) and
:mod:`inkwell.models.prompt` (the fitting training and decoding use). A line goes
through :func:`~inkwell.models.prompt.prepare_image` exactly as the collator sends it,
then through the model's own processor, whose output gives the image tokens and
the size the vision tower really gets (Qwen processors round to patch multiples
and enlarge lines under their minimum pixel count; DeepSeek-OCR-2 pads a square
view and stretches long lines over tiles). When the processor cannot be read
(a hub id offline), the family table gives the patch grid instead, said as an
estimate. Per-family facts come from the table (:mod:`inkwell.models.families`) or the
processor, never from constants here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from inkwell.models.families import FAMILIES, FamilySettings, VisionView
from inkwell.models.loading import load_processor, model_source
from inkwell.models.prompt import ImageLimits, fitted_size, prepare_image, prompt_text, target_ids
from inkwell.models.published import published_for_name

__all__ = ["ModelView", "TokenReport", "ViewSummary", "Viewer", "ink_height", "model_view", "model_views",
           "token_report"]

#: Share of lines shrunk below a legible height that makes it a problem, and of lines far below the limits.
_ILLEGIBLE_SHARE, _SMALL_SHARE = 0.1, 0.5
#: A line "much smaller than the limits" fills less than this share of the limits' area.
_SMALL_AREA = 0.25
#: The writing spans the rows holding at least this share of the inkiest row's ink (specks and stray strokes aside).
_INK_ROW_SHARE = 0.1


def ink_height(image: Image.Image) -> float:
    """The height of the writing in an image, in its own pixels (0.0 when no ink is found).

    Ink is what is darker than an Otsu threshold of the grey levels (a
    near-uniform image has none); the height runs from the first to the last
    row holding at least a tenth of the inkiest row's ink, so specks and the
    odd stray stroke do not count.
    """
    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    if gray.size == 0 or int(gray.max()) - int(gray.min()) < 32:
        return 0.0
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * levels)
    total = weight[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight - mean * total) ** 2 / (weight * (total - weight))
    threshold = int(np.nanargmax(between))
    ink = gray <= threshold
    if ink.mean() > 0.5:  # light writing on dark paper: the minority is the ink
        ink = ~ink
    per_row = ink.sum(axis=1)
    if per_row.max() == 0:
        return 0.0
    rows = np.nonzero(per_row >= _INK_ROW_SHARE * per_row.max())[0]
    return float(rows[-1] - rows[0] + 1)


@dataclass(frozen=True)
class ModelView:
    """What the model gets of one line.

    Attributes:
        image: The line exactly as it enters the processor (fitted by :func:`~inkwell.models.prompt.prepare_image`).
        stored: The line as stored.
        stored_size: (width, height) of the line as stored.
        size: (width, height) of ``image``.
        scale: The factor the fitting applied (at most 1: lines are never enlarged).
        vision_size: (width, height) of the line in the finest view the vision tower gets, after the
            processor's own resizing (equal to ``size`` unless the processor resizes again).
        views: Images the processor makes of the line (1, or a global view plus tiles).
        image_tokens: Tokens the image costs in the sequence (None when only the processor could count them).
        text_height: Height of the writing in the finest view, in pixels (0.0: no ink found).
        legible_height: The lowest legible writing: one vision patch of the family, in pixels.
        family: The family's key.
        exact: True when read from the model's processor; False for the family table's estimate.
    """

    image: Image.Image = field(repr=False)
    stored: Image.Image = field(repr=False)
    stored_size: tuple[int, int]
    size: tuple[int, int]
    scale: float
    vision_size: tuple[int, int]
    views: int
    image_tokens: int | None
    text_height: float
    legible_height: int
    family: str
    exact: bool

    @property
    def stored_text_height(self) -> float:
        """The writing's height as stored, in the stored image's pixels."""
        return self.text_height * self.stored_size[1] / self.vision_size[1]

    @property
    def legible(self) -> bool:
        """Whether the writing is at least one vision patch high (lines with no ink found count as legible)."""
        return self.text_height == 0.0 or self.text_height >= self.legible_height

    def describe(self) -> str:
        """One line: sizes, scale, tokens and the writing's height."""
        tokens = "? tokens" if self.image_tokens is None else f"{self.image_tokens} tokens"
        sw, sh = self.stored_size
        w, h = self.size
        vw, vh = self.vision_size
        seen = "" if (vw, vh) == (w, h) else f", seen at {vw} x {vh}" + (f" ({self.views} views)"
                                                                        if self.views > 1 else "")
        flag = "" if self.legible else f" (under {self.legible_height} px: illegible)"
        return (f"{sw} x {sh} -> {w} x {h} px (x{self.scale:.2f}){seen}; {tokens}; writing "
                f"{self.text_height:.0f} px high{flag}")


class Viewer:
    """Makes :class:`ModelView` objects for one model and one pair of limits; the processor is read once.

    Args:
        model_name: Hub id or folder of the model (as in 02_finetune).
        max_image_width: Widest line image fed to the model, px.
        max_image_height: Tallest line image fed to the model, px.
        trust_remote_code: Allow a remote-code model's processor.

    Raises:
        ValueError: A limit under one patch multiple, or a model whose family is unknown (the message names
            the parameter and the fix).
    """

    def __init__(self, model_name: str, max_image_width: int = ImageLimits.max_width,
                 max_image_height: int = ImageLimits.max_height, *, trust_remote_code: bool = False):
        self.model_name = model_name
        self.processor: Any = None
        try:
            self.processor, self.family = load_processor(model_name, trust_remote_code)
        except (FileNotFoundError, OSError):
            if model_source(model_name) != model_name:  # a local folder that is broken: say so, never guess
                raise
            self.family = _family_by_name(model_name)
        m = self.family.patch_multiple
        for name, value in (("max_image_width", max_image_width), ("max_image_height", max_image_height)):
            if not isinstance(value, int) or value < m:
                raise ValueError(f"{name} = {value!r}: it must be a whole number of pixels of at least {m} "
                                 f"(one patch multiple of {self.family.name}); set it to {m} or more.")
        self.limits = ImageLimits(max_image_width, max_image_height)
        self.prompt = prompt_text(self.processor, self.family) if self.processor is not None else ""
        self._image_ids = self._image_token_ids()

    @property
    def exact(self) -> bool:
        """True when the views come from the model's own processor."""
        return self.processor is not None

    def source(self) -> str:
        """Where the figures come from, in words."""
        if self.exact:
            return f"the processor of {self.model_name} ({self.family.name})"
        return (f"the {self.family.name} family table (an estimate: the processor of {self.model_name!r} could "
                "not be read here)")

    def _image_token_ids(self) -> set[int]:
        """Token ids that stand for the image in the sequence (image tokens and, where used, row breaks and end)."""
        if self.processor is None:
            return set()
        ids = {getattr(self.processor, name, None) for name in ("image_token_id", "image_break_token_id",
                                                                "image_end_token_id")}
        return {i for i in ids if isinstance(i, int)}

    def encode(self, image: Image.Image) -> Any:
        """The processor's output for one fitted line with the training prompt, as the collator calls it."""
        return self.processor(text=[self.prompt], images=[image], padding=True, return_tensors="pt")

    def view(self, image: Image.Image) -> ModelView:
        """What the model gets of one line image."""
        stored = image.size
        fitted = prepare_image(image, self.family, self.limits)
        _, _, scale = fitted_size(stored, self.family, self.limits)
        if self.exact:
            enc = self.encode(fitted)
            seen = self.family.view(self.family, self.processor, enc, fitted.size)
            tokens = sum(int((enc["input_ids"][0] == i).sum()) for i in self._image_ids)
        else:
            seen = VisionView(*fitted.size)
            tokens = self.family.grid_tokens(*fitted.size)
        writing = ink_height(image) * seen.height / stored[1]
        return ModelView(fitted, image, stored, fitted.size, scale, (seen.width, seen.height), seen.views, tokens,
                         writing, self.family.patch_size, self.family.name, self.exact)

    def sequence_tokens(self, image: Image.Image, text: str) -> int | None:
        """Tokens of one training row: the prompt with its image tokens, then the answer (None without a processor)."""
        if not self.exact:
            return None
        enc = self.encode(prepare_image(image, self.family, self.limits))
        return int(enc["attention_mask"][0].sum()) + len(target_ids(self.processor, self.family, text))


def _family_by_name(model_name: str) -> FamilySettings:
    """The family a hub id names when its config cannot be read: a published size, or a family's default checkpoint.

    Raises:
        ValueError: Neither is known (the message says what to do).
    """
    entry = published_for_name(model_name)
    if entry is not None:
        return FAMILIES[entry.family]
    for family in FAMILIES.values():
        if family.default_checkpoint.lower() == model_name.lower():
            return family
    raise ValueError(f"model_name = {model_name!r}: its config.json could not be read here and its family is not "
                     "known. Run once with network access, or set model_name to a local model folder or to one of "
                     "the default checkpoints in docs/families.md.")


def model_view(image: Image.Image, model_name: str, max_image_width: int = ImageLimits.max_width,
               max_image_height: int = ImageLimits.max_height, *, trust_remote_code: bool = False) -> ModelView:
    """What the model gets of one line: the image as it enters the processor, sizes, image tokens, scale and the
    writing's height after all resizing.

    Example:
        >>> v = model_view(Image.open("line.png"), "unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit", 1024, 128)
        >>> v.describe()
        '2400 x 160 -> 1036 x 56 px (x0.43); 74 tokens; writing 17 px high'
    """
    return Viewer(model_name, max_image_width, max_image_height, trust_remote_code=trust_remote_code).view(image)


def _pick(n_lines: int, sample: int) -> list[int]:
    """Up to ``sample`` row indices spread evenly over ``n_lines`` rows (all of them when there are fewer)."""
    if n_lines <= sample:
        return list(range(n_lines))
    return sorted({round(i * (n_lines - 1) / (sample - 1)) for i in range(sample)})


def _quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of a non-empty list."""
    return float(np.quantile(np.asarray(values, dtype=float), q))


@dataclass
class ViewSummary:
    """What the model sees of a sample of lines, with the warnings the sample calls for.

    Attributes:
        views: One :class:`ModelView` per sampled line, in row order.
        ids: The sampled lines' ids.
        texts: The sampled lines' transcriptions.
        source: Where the figures come from (the processor, or the family table as an estimate).
        limits: The limits the lines were fitted to.
        patch_multiple: The family's patch multiple (image sides are rounded to it).
        warnings: One sentence per problem, each naming the parameters to change.
    """

    views: list[ModelView]
    ids: list[str]
    texts: list[str]
    source: str
    limits: ImageLimits
    patch_multiple: int
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Token counts, scales, writing heights and warnings, as lines of text."""
        if not self.views:
            return "No lines to show."
        v = self.views
        tokens = [x.image_tokens for x in v if x.image_tokens is not None]
        token_text = (f"image tokens per line {min(tokens)}-{max(tokens)} (median {statistics.median(tokens):.0f})"
                      if tokens else "image tokens: only the model's processor can count them")
        head = (f"What the model sees, at max_image_width = {self.limits.max_width}, max_image_height = "
                f"{self.limits.max_height} ({len(v)} lines, from {self.source}):\n  {token_text}; scale "
                f"{min(x.scale for x in v):.2f}-{max(x.scale for x in v):.2f}; writing "
                f"{_quantile([x.text_height for x in v], 0.1):.0f}-{_quantile([x.text_height for x in v], 0.9):.0f}"
                f" px high for 80% of lines (legible from {v[0].legible_height} px: one vision patch)")
        lines = [head, *(f"WARNING {w}" for w in self.warnings)]
        if not self.warnings:
            lines.append("  ok: the writing stays legible and the limits fit the lines.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


def _warnings(views: list[ModelView], limits: ImageLimits, multiple: int) -> list[str]:
    """The problems a sample of views shows, each with the parameter to change and a value to try."""
    out: list[str] = []
    n = len(views)
    shrunk = [v for v in views if not v.legible and v.stored_text_height >= v.legible_height]
    if n and len(shrunk) >= max(1, _ILLEGIBLE_SHARE * n):
        need = [v.legible_height / v.text_height for v in shrunk if v.text_height > 0]
        factor = _quantile(need, 0.9) if need else 2.0
        # the width binds a line whose aspect ratio is wider than the limits' own
        wide = sum(v.stored_size[0] * limits.max_height > limits.max_width * v.stored_size[1]
                   for v in shrunk) >= len(shrunk) / 2
        width = -(-int(limits.max_width * factor) // multiple) * multiple
        height = -(-int(limits.max_height * factor) // multiple) * multiple
        fix = (f"raise max_image_width (now {limits.max_width}) to about {width}" if wide else
               f"raise max_image_height (now {limits.max_height}) to about {height}")
        out.append(f"{len(shrunk)} of {n} lines ({len(shrunk) / n:.0%}) are shrunk until their writing is under "
                   f"{views[0].legible_height} px high (one vision patch): the model cannot read them. In "
                   f"02_finetune (and here) {fix}, or cut long lines in two.")
    low = [v for v in views if not v.legible and v.stored_text_height < v.legible_height and v.text_height > 0]
    if n and len(low) >= max(1, _ILLEGIBLE_SHARE * n):
        out.append(f"{len(low)} of {n} lines have writing under {views[0].legible_height} px high as stored: no "
                   "limit helps (lines are never enlarged); scan at a higher resolution.")
    box = limits.max_width * limits.max_height
    small = [v for v in views if v.size[0] * v.size[1] < _SMALL_AREA * box]
    if n and len(small) > _SMALL_SHARE * n:
        fit_w = -(-int(_quantile([v.size[0] for v in views], 0.95)) // multiple) * multiple
        fit_h = -(-int(_quantile([v.size[1] for v in views], 0.95)) // multiple) * multiple
        # a limit the lines already fill (to within one patch multiple) is not one to lower: that would shrink them
        lower = [f"{name} to {fit}" for name, fit, limit in (("max_image_width", fit_w, limits.max_width),
                                                            ("max_image_height", fit_h, limits.max_height))
                 if fit <= limit - multiple]
        fix = (f"lower {' and '.join(lower)} (95% of lines fit), or raise batch_size" if lower else
               "raise batch_size (the lines fill one limit already: lowering it would shrink them)")
        out.append(f"{len(small)} of {n} lines ({len(small) / n:.0%}) fill under a quarter of max_image_width x "
                   f"max_image_height = {limits.max_width} x {limits.max_height}: the memory estimate, the batch "
                   f"and every fixed-size view are sized for tokens these lines never use. In 02_finetune (and "
                   f"here) {fix}.")
    return out


def model_views(lines: Any, model_name: str, max_image_width: int = ImageLimits.max_width,
                max_image_height: int = ImageLimits.max_height, *, sample: int = 200,
                trust_remote_code: bool = False) -> ViewSummary:
    """What the model sees of up to ``sample`` lines of a split (spread over it), with warnings.

    Warns, naming the parameters, when at least 10% of the lines are shrunk until
    their writing is under one vision patch high, when that many are that low as
    stored, and when most lines fill under a quarter of the limits' area.

    Args:
        lines: A split with ``image`` (and ``id``, ``text``) columns, or a list of PIL images.
        model_name: Hub id or folder of the model (02_finetune's ``model_name``).
        max_image_width: 02_finetune's ``max_image_width``.
        max_image_height: 02_finetune's ``max_image_height``.
        sample: Lines looked at, at most.
        trust_remote_code: Allow a remote-code model's processor.
    """
    viewer = Viewer(model_name, max_image_width, max_image_height, trust_remote_code=trust_remote_code)
    rows = _pick(len(lines), sample)
    images, ids, texts = _columns(lines, rows)
    views = [viewer.view(img) for img in images]
    return ViewSummary(views, ids, texts, viewer.source(), viewer.limits, viewer.family.patch_multiple,
                       _warnings(views, viewer.limits, viewer.family.patch_multiple))


def _columns(lines: Any, rows: list[int]) -> tuple[list[Image.Image], list[str], list[str]]:
    """Images, ids and texts of the chosen rows of a split (or of a list of images)."""
    if isinstance(lines, list):
        return [lines[i] for i in rows], [str(i) for i in rows], ["" for _ in rows]
    picked = lines.select(rows)
    names = picked.column_names
    ids = [str(i) for i in picked["id"]] if "id" in names else [str(i) for i in rows]
    texts = [str(t) for t in picked["text"]] if "text" in names else ["" for _ in rows]
    return list(picked["image"]), ids, texts


@dataclass(frozen=True)
class TokenReport:
    """Tokens per training line and per batch for the chosen settings, measured on training lines.

    Attributes:
        lines: Training lines measured.
        image_tokens: Image tokens per line (empty when only the processor could count them).
        line_tokens: Whole rows (prompt, image tokens, answer) per line (empty without the processor).
        batch_size: Lines per batch.
        grad_accum: Batches per optimiser step.
        source: Where the figures come from.
    """

    lines: int
    image_tokens: list[int]
    line_tokens: list[int]
    batch_size: int
    grad_accum: int
    source: str

    def text(self) -> str:
        """Per line and per batch, in one short paragraph."""
        if not self.lines:
            return "Tokens: no training lines to measure."
        img = self.image_tokens
        out = f"Tokens, measured on {self.lines} training lines with {self.source}:"
        if img:
            out += f"\n  image tokens per line {min(img)}-{max(img)} (median {statistics.median(img):.0f})"
        if self.line_tokens:
            seq = self.line_tokens
            batch = self.batch_size * max(seq)
            out += (f"\n  a training line (prompt, image and answer) {min(seq)}-{max(seq)} tokens (median "
                    f"{statistics.median(seq):.0f}); a batch of batch_size = {self.batch_size} lines up to "
                    f"{batch} tokens (padded to its longest line), an optimiser step (grad_accum = "
                    f"{self.grad_accum}) up to {batch * self.grad_accum}")
        elif img:
            out += (f"; a batch of batch_size = {self.batch_size} lines up to {self.batch_size * max(img)} image "
                    "tokens (text tokens need the model's tokenizer)")
        return out

    def __repr__(self) -> str:
        return self.text()


def token_report(lines: Any, model_name: str, max_image_width: int = ImageLimits.max_width,
                 max_image_height: int = ImageLimits.max_height, batch_size: int = 2, grad_accum: int = 4, *,
                 sample: int = 200, trust_remote_code: bool = False) -> TokenReport:
    """Tokens per line (image and whole row) and per batch on up to ``sample`` training lines.

    Args:
        lines: The training split (``image`` and ``text`` columns).
        model_name: 02_finetune's ``model_name``.
        max_image_width: 02_finetune's ``max_image_width``.
        max_image_height: 02_finetune's ``max_image_height``.
        batch_size: 02_finetune's ``batch_size``.
        grad_accum: 02_finetune's ``grad_accum``.
        sample: Lines measured, at most.
        trust_remote_code: Allow a remote-code model's processor.
    """
    viewer = Viewer(model_name, max_image_width, max_image_height, trust_remote_code=trust_remote_code)
    rows = _pick(len(lines), sample)
    images, _, texts = _columns(lines, rows)
    image_tokens = [viewer.view(img).image_tokens for img in images]
    seq = [viewer.sequence_tokens(img, text) for img, text in zip(images, texts)]
    return TokenReport(len(rows), [t for t in image_tokens if t is not None], [t for t in seq if t is not None],
                       batch_size, grad_accum, viewer.source())
