"""Synthetic handwriting lines: the embedded default data set, so the workflow runs with no data of yours.

Stage ``data``: imports lower stages only. Lines are phrases of a small closed
vocabulary rendered in handwriting-like styles (installed handwriting fonts when
there are any); the result is a ``labels.csv`` that ``01_data`` reads like any table.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from inkwell.core.paths import atomic_folder, project_path
from inkwell.core.progress import progress_bar

__all__ = [
    "DEMO_PHRASES",
    "FONT_DIRS",
    "HANDWRITING_FONT_HINTS",
    "SyntheticSet",
    "find_handwriting_fonts",
    "make_synthetic_lines",
    "render_line",
]

#: The closed vocabulary of the embedded default: short diary-style lines.
DEMO_PHRASES: tuple[str, ...] = (
    "dear diary",
    "12 May 1921",
    "rain all day",
    "went to town",
    "letter from Anna",
    "bought bread",
    "the garden is green",
    "meeting at noon",
    "call the doctor",
    "cold morning",
    "paid 3 shillings",
    "train was late",
    "walked by the river",
    "supper with Tom",
    "new ink today",
    "see you soon",
)

#: Folders searched for handwriting-style fonts (Debian's font packages and the user's own).
FONT_DIRS: tuple[str, ...] = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")

#: File-name fragments of handwriting-style fonts (Debian's OFL handwriting font packages and common names).
HANDWRITING_FONT_HINTS: tuple[str, ...] = (
    "dkg", "breip", "bwht", "dancing", "ecolier", "femkeklaver", "humor", "kaushan", "kristi",
    "rufscript", "comicneue", "comic", "klee", "hand", "script",
)


def find_handwriting_fonts(extra_dirs: Sequence[str] = ()) -> list[Path]:
    """Find installed handwriting-style TrueType/OpenType fonts.

    Args:
        extra_dirs: More folders to search first.

    Returns:
        Sorted font paths; empty when none is installed (then Pillow's
        bundled font is used).
    """
    found: set[Path] = set()
    for d in [*extra_dirs, *FONT_DIRS]:
        root = Path(d).expanduser()
        if not root.is_dir():
            continue
        for p in root.rglob("*"):
            if p.suffix.lower() in (".ttf", ".otf") and any(h in p.name.lower() for h in HANDWRITING_FONT_HINTS):
                found.add(p)
    return sorted(found)


def render_line(
    text: str,
    rng: random.Random,
    fonts: Sequence[Path] = (),
    height: int = 64,
) -> Image.Image:
    """Render one text line as a scanned handwriting-like image.

    Light, seeded augmentation: font (a handwriting font when installed, else
    Pillow's bundled font), size and stroke weight, slant, small rotation,
    baseline jitter per character, ink colour, paper tint, ruled lines, blur and
    noise.

    Args:
        text: The line's text.
        rng: Random source (seed it for reproducible images).
        fonts: Candidate font files; empty means Pillow's bundled font.
        height: Output height in pixels.

    Returns:
        An RGB image ``height`` pixels tall.
    """
    size = rng.randint(int(height * 0.5), int(height * 0.65))
    font_path = rng.choice(list(fonts)) if fonts else None
    font = ImageFont.truetype(str(font_path), size) if font_path else ImageFont.load_default(size)
    stroke = rng.choice([0, 0, 1]) if height >= 48 else 0
    ink = tuple(rng.randint(0, 70) for _ in range(2)) + (rng.randint(40, 140),)
    margin = height // 4
    # draw character by character with a wandering baseline
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    advance = [probe.textlength(ch, font=font) * rng.uniform(0.95, 1.08) for ch in text]
    width = int(sum(advance)) + 2 * margin + stroke * len(text)
    canvas = Image.new("L", (width, height * 2), 0)
    draw = ImageDraw.Draw(canvas)
    x, drift = float(margin), 0.0
    for ch, adv in zip(text, advance):
        drift = max(-height * 0.08, min(height * 0.08, drift + rng.uniform(-1.2, 1.2)))
        draw.text((x, height * 0.5 + drift), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        x += adv + stroke
    shear = rng.uniform(-0.35, 0.15)
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, shear, -shear * height, 0, 1, 0),
                              Image.Resampling.BICUBIC)
    canvas = canvas.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, expand=False)
    box = canvas.getbbox() or (0, 0, width, height)
    top = max(0, box[1] - margin // 2)
    bottom = min(canvas.height, box[3] + margin // 2)
    left = max(0, box[0] - margin)
    right = min(canvas.width, box[2] + margin)
    mask = canvas.crop((left, top, right, bottom))
    mask = mask.resize((max(1, int(mask.width * height / max(1, mask.height))), height), Image.Resampling.BICUBIC)
    paper_tone = rng.randint(225, 255)
    paper = Image.new("RGB", mask.size, (paper_tone, paper_tone - rng.randint(0, 12), paper_tone - rng.randint(0, 25)))
    if rng.random() < 0.4:
        rule = ImageDraw.Draw(paper)
        y = int(height * rng.uniform(0.78, 0.9))
        rule.line([(0, y), (paper.width, y)], fill=(170, 190, 220), width=1)
    paper.paste(Image.new("RGB", mask.size, ink), (0, 0), mask)
    if rng.random() < 0.5:
        paper = paper.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.8)))
    arr = np.asarray(paper, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(2, 8), arr.shape[:2])
    arr = np.clip(arr + noise[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


@dataclass
class SyntheticSet:
    """A synthetic handwriting set on disk, in the table format 01_data reads.

    Attributes:
        labels: ``labels.csv`` (columns image, text, page).
        images_dir: Folder of the PNG line images.
        n_lines: Number of lines.
        fonts: Font files used (empty: Pillow's bundled font).
    """

    labels: Path
    images_dir: Path
    n_lines: int
    fonts: list[str]

    def describe(self) -> str:
        """One sentence: how many lines, where, and in which handwriting styles."""
        styles = ", ".join(Path(f).stem for f in self.fonts) if self.fonts else "Pillow's bundled font"
        return (f"Synthetic demo set: {self.n_lines} lines in {self.images_dir.parent} "
                f"(labels {self.labels.name}; {len(self.fonts) or 1} styles: {styles}).")

    def __str__(self) -> str:
        return self.describe()


def make_synthetic_lines(
    out_dir: str | os.PathLike[str],
    n_lines: int = 600,
    *,
    phrases: Sequence[str] = DEMO_PHRASES,
    seed: int = 0,
    lines_per_page: int = 8,
    height: int = 64,
    fonts: Sequence[Path] | None = None,
    progress: bool = False,
) -> SyntheticSet:
    """Write synthetic handwriting lines and a ``labels.csv`` that 01_data ingests.

    Each line is a phrase from a small closed vocabulary rendered by
    :func:`render_line` with its own random style; every ``lines_per_page``
    lines share a page id (so grouped splits have pages to keep together) and
    a font. An existing set made with the same settings is reused;
    one made with other settings is never overwritten.

    Args:
        out_dir: Folder to write (``labels.csv`` and ``images/``).
        n_lines: How many lines.
        phrases: The vocabulary, cycled through in a seeded random order.
        seed: Seed of texts and styles.
        lines_per_page: Lines per page id.
        height: Image height in pixels.
        fonts: Font files; ``None`` finds installed handwriting fonts.
        progress: Show a progress bar.

    Returns:
        A :class:`SyntheticSet`.

    Raises:
        FileExistsError: ``out_dir`` holds a different set.
    """
    out = project_path(out_dir)
    font_list = list(find_handwriting_fonts() if fonts is None else fonts)
    settings = {
        "n_lines": n_lines,
        "phrases": list(phrases),
        "seed": seed,
        "lines_per_page": lines_per_page,
        "height": height,
        "fonts": [str(f) for f in font_list],
    }
    labels, images_dir, stamp = out / "labels.csv", out / "images", out / "synthetic.json"
    if labels.exists():
        old = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else None
        if old == settings:
            return SyntheticSet(labels, images_dir, n_lines, settings["fonts"])
        raise FileExistsError(
            f"{out} already holds a different data set; it is left as it is. "
            "Choose another folder for the synthetic lines or delete that one yourself."
        )
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out, staging=out.with_name(out.name + ".partial")) as tmp:
        (tmp / "images").mkdir()
        order: list[str] = []
        with open(tmp / "labels.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image", "text", "page"])
            for i in progress_bar(n_lines, "rendering", "line", disable=not progress, iterable=range(n_lines)):
                if not order:
                    order = list(phrases)
                    rng.shuffle(order)
                text = order.pop()
                page = i // lines_per_page
                page_rng = random.Random(seed * 1_000_003 + page)
                page_fonts = [page_rng.choice(font_list)] if font_list else []
                img = render_line(text, rng, page_fonts, height)
                name = f"line_{i:05d}.png"
                img.save(tmp / "images" / name)
                writer.writerow([f"images/{name}", text, f"page_{page:04d}"])
        (tmp / "synthetic.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return SyntheticSet(labels, images_dir, n_lines, settings["fonts"])


