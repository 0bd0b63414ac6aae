"""Images: safe opening, RGB conversion, cutting lines out of pages, PNG bytes and data URIs.

Stage ``data``: imports nothing from the package. Every image Inkwell reads from
a user's disk goes through :func:`open_checked` (size guard before decoding) or
:func:`open_rgb`; every PNG it embeds or stores is encoded by :func:`png_bytes`.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "image_size",
    "too_large_detail",
    "baseline_crop",
    "exif_orientation",
    "image_to_data_uri",
    "load_page",
    "open_checked",
    "open_rgb",
    "perspective_crop",
    "png_bytes",
    "paper_colour",
    "polygon_crop",
    "quarter_turns",
    "thumbnail_data_uri",
    "to_rgb",
]

#: File suffixes read as images when a folder of images is given.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")

#: Largest width x height opened by default; larger files are refused before decoding. A guard against
#: decompression bombs (a small file that decodes to gigabytes), not against real scans: archive double
#: pages at 400 dpi reach 40-45 MP. This is where Pillow itself refuses to open an image (twice its
#: ``Image.MAX_IMAGE_PIXELS``); the ``max_image_pixels`` parameter of 01_data and 04_demo lowers or raises it.
MAX_IMAGE_PIXELS = 178_956_970

#: Held while Pillow's global decompression-bomb limit is lifted for one file (threads read files too).
_PILLOW_LIMIT = threading.RLock()


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB (alpha composited on white, 16-bit scaled down)."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        if mode.startswith("I;16") or 255 < hi <= 65535:
            arr = arr / 257.0
        elif hi > 65535:
            arr = arr * (255.0 / hi)
        elif mode == "F" and hi <= 1.0:
            arr = arr * 255.0
        gray = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
        return gray.convert("RGB")
    if mode == "P" or (mode in ("RGB", "L") and "transparency" in img.info):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def open_checked(data: bytes, max_image_pixels: int) -> tuple[Image.Image | None, str | None]:
    """Open image bytes with a size guard and decode fully.

    The size in the header is checked against ``max_image_pixels`` before anything is decoded;
    Pillow's own guard (which refuses images above about 179 MP) is lifted while a file within a
    larger limit the user chose is opened.

    Returns:
        ``(image, None)``, or ``(None, reason)`` with reason ``"corrupt_image"`` or ``"too_large"``.
    """
    if not data:
        return None, "corrupt_image"
    size = image_size(data)
    if size is not None and size[0] * size[1] > max_image_pixels:
        return None, "too_large"
    pillow_limit = Image.MAX_IMAGE_PIXELS
    lift = size is not None and pillow_limit is not None and max_image_pixels > pillow_limit
    with _PILLOW_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size was checked above
        if lift:
            Image.MAX_IMAGE_PIXELS = None
        try:
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_image_pixels:
                return None, "too_large"
            img.load()
        except Image.DecompressionBombError:
            return None, "too_large"
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
            return None, "corrupt_image"
        finally:
            if lift:
                Image.MAX_IMAGE_PIXELS = pillow_limit
    return img, None


def too_large_detail(data: bytes, max_image_pixels: int) -> str:
    """Why an image was refused as too large, with its size and the parameter that raises the limit."""
    size = image_size(data)
    found = f"{size[0]} x {size[1]} = {size[0] * size[1]:,} pixels" if size else "more pixels than that"
    return (f"{found}, over max_image_pixels = {max_image_pixels:,}; if the scan is real, raise "
            f"max_image_pixels (a parameter of 01_data and 04_demo) above its size")


def image_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) an image file's header declares, read without decoding (None: unreadable)."""
    with _PILLOW_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as parser:
                return parser.size
        except Exception:  # noqa: BLE001 - a hint for the guard and the message; decoding reports the rest
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit


def exif_orientation(img: Image.Image) -> int:
    """Return the EXIF orientation tag (1 when absent or unreadable)."""
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF blocks should not reject an image
        return 1


def open_rgb(path: Path) -> Image.Image:
    """Open an image file upright (EXIF rotation applied) as RGB."""
    with Image.open(path) as im:
        return to_rgb(ImageOps.exif_transpose(im))


def png_bytes(img: Image.Image, *, small: bool = False) -> bytes:
    """Encode an image as PNG: fast compression for storage, ``small`` for embedding in a page."""
    buf = io.BytesIO()
    if small:
        img.save(buf, format="PNG", optimize=True)
    else:
        img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def image_to_data_uri(image: Image.Image, max_width: int = 800) -> str:
    """Encode an image as a PNG data URI, downscaled to ``max_width``.

    Args:
        image: The image.
        max_width: Wider images are resized, keeping the aspect ratio.

    Returns:
        A ``data:image/png;base64,...`` string for an ``<img src>``.
    """
    img = image
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGB")
    if max_width and img.width > max_width:
        height = max(1, round(img.height * max_width / img.width))
        img = img.resize((max_width, height), Image.LANCZOS)
    return "data:image/png;base64," + base64.b64encode(png_bytes(img, small=True)).decode("ascii")


def thumbnail_data_uri(path: Path, max_pixels: int = MAX_IMAGE_PIXELS, box: tuple[int, int] = (480, 96)) -> str | None:
    """A PNG data URI of a small upright thumbnail of an image file, or None if it cannot be opened safely."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if im.size[0] * im.size[1] > max_pixels:
                    return None
                im.draft("RGB", (480, 480))
                thumb = to_rgb(ImageOps.exif_transpose(im))
                thumb.thumbnail(box)
                return image_to_data_uri(thumb, max_width=0)
        except Exception:  # noqa: BLE001 - any failure just means "no thumbnail"
            return None


def perspective_crop(page: Image.Image, quad: list[tuple[float, float]]) -> Image.Image | None:
    """Warp a 4-point region (clockwise from top-left) into an upright rectangle.

    Follows the PaddleOCR convention: a crop at least 1.5x taller than wide is rotated 90 degrees.
    Returns None for a degenerate quad.
    """
    pts = np.asarray(quad, dtype=np.float64)
    width = int(round(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[3] - pts[2]))))
    height = int(round(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))))
    if width < 1 or height < 1:
        return None
    dst = [(0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height))]
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(dst, pts)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    try:
        coeffs = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(coeffs)):
        return None
    out = page.transform((width, height), Image.Transform.PERSPECTIVE, tuple(coeffs.tolist()),
                         resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    if height / width >= 1.5:
        out = out.transpose(Image.Transpose.ROTATE_90)
    return out


def paper_colour(image: Image.Image) -> tuple[int, int, int]:
    """The colour of the paper in an RGB image: the median of each channel (ink covers well under half of a
    line's or a page's pixels, so the median is the paper's own tone, not white on a yellowed page)."""
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    if len(pixels) > 65536:
        pixels = pixels[:: len(pixels) // 65536]
    return tuple(int(v) for v in np.median(pixels, axis=0))  # type: ignore[return-value]


def polygon_crop(page: Image.Image, points: list[tuple[float, float]]) -> Image.Image | None:
    """Cut the bounding box of a polygon out of a page, painting outside the polygon in the paper's colour
    (:func:`paper_colour` of the box), so that a neighbouring line's strokes are gone and no white frame
    shows on a tinted page."""
    if len(set(points)) < 2:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, top = max(0, int(math.floor(min(xs)))), max(0, int(math.floor(min(ys))))
    right, bottom = min(page.width, int(math.ceil(max(xs)))), min(page.height, int(math.ceil(max(ys))))
    if right - left < 1 or bottom - top < 1:
        return None
    crop = page.crop((left, top, right, bottom))
    if len(set(points)) >= 3:
        mask = Image.new("L", crop.size, 0)
        ImageDraw.Draw(mask).polygon([(x - left, y - top) for x, y in points], fill=255)
        paper = Image.new("RGB", crop.size, paper_colour(crop))
        crop = Image.composite(crop.convert("RGB"), paper, mask)
    return crop


def load_page(path: Path, max_pixels: int, declared: tuple[int, int] | None, *,
              notes: list[str] | None = None, declared_by: str = "the XML file") -> tuple[Image.Image | None, str | None]:
    """Open a page image for cutting lines; EXIF rotation applied only when it matches the declared size.

    The XML's frame wins: an image whose stored pixels already have the declared size is used as
    stored, even when its EXIF orientation would turn it; that is then said in ``notes``
    (e.g. ``"page1.jpg: EXIF orientation 6 would turn the image to 3000x4000, but page1.xml
    declares 4000x3000; the XML's frame is used."``).

    Args:
        path: The page image.
        max_pixels: Largest width*height opened.
        declared: The (width, height) the XML declares, or None.
        notes: Remarks for the report are appended here (when given).
        declared_by: Who declares the size, for the note (e.g. the XML file's name).

    Returns:
        ``(RGB image, None)`` or ``(None, reason)``.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None, "missing_file"
    img, reason = open_checked(data, max_pixels)
    if img is None:
        return None, reason
    try:
        orientation = exif_orientation(img) if declared else 1
        if declared and img.size != declared and orientation != 1:
            turned = ImageOps.exif_transpose(img)
            if turned.size == declared:
                img = turned
        elif declared and img.size == declared and orientation in (5, 6, 7, 8) and declared[0] != declared[1]:
            if notes is not None:
                notes.append(f"{path.name}: EXIF orientation {orientation} would turn the image to "
                             f"{declared[1]}x{declared[0]}, but {declared_by} declares {declared[0]}x{declared[1]}; "
                             "the XML's frame is used.")
        return to_rgb(img), None
    except (OSError, ValueError):
        return None, "corrupt_image"


def quarter_turns(baseline: Sequence[tuple[float, float]] | None) -> int:
    """How many quarter turns counter-clockwise make a baseline (first to last point) run left to right:
    1 for one running top to bottom, -1 for one running bottom to top, else 0 (baselines within 45 degrees
    of horizontal, right-to-left ones included, as right-to-left scripts draw them, are left alone)."""
    if not baseline or len(baseline) < 2:
        return 0
    (x0, y0), (x1, y1) = baseline[0], baseline[-1]
    dx, dy = x1 - x0, y1 - y0  # image coordinates: y grows downwards
    if abs(dy) <= abs(dx):
        return 0
    return 1 if dy > 0 else -1


def baseline_crop(page: Image.Image, points: list[tuple[float, float]],
                  baseline: list[tuple[float, float]] | None = None) -> Image.Image | None:
    """Cut a line polygon out of a page (see :func:`polygon_crop`) and turn it so its text reads left to right.

    A vertical baseline (more than 45 degrees from horizontal, direction from its first to its last
    point) turns the crop by a quarter: one running bottom to top is turned 90 degrees clockwise, one
    running top to bottom 90 degrees counter-clockwise. Lines without a baseline, and gently sloped
    ones, are cut as :func:`polygon_crop` cuts them.
    """
    crop = polygon_crop(page, points)
    turns = quarter_turns(baseline)
    if crop is None or turns == 0:
        return crop
    return crop.transpose(Image.Transpose.ROTATE_90 if turns == 1 else Image.Transpose.ROTATE_270)
