"""Classic-OCR baselines: readers that are not vision-language models, scored beside them.

Stage ``reading``: imports lower stages and :mod:`inkwell.models.decode` (for
:class:`~inkwell.models.decode.Prediction`, so a baseline's output is handled like any
other system's). ``rapidocr`` (and through it ``onnxruntime``) is imported inside
the function that builds the reader.

``"ppocr"`` is PaddleOCR's PP-OCR text-line recognizer, run by RapidOCR on ONNX
Runtime on the CPU. The inputs are already single cropped lines, so only the
recognition model runs (no text detection, no orientation classifier). Its model
and character set come from the files inside the ``rapidocr`` wheel, named
explicitly, so nothing is downloaded. :func:`ppocr_engine` builds a quiet RapidOCR
engine from such settings; :mod:`inkwell.reading.pages` uses it for text detection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from inkwell.models.decode import Prediction
from inkwell.data.images import to_rgb
from inkwell.core.progress import progress_bar

__all__ = [
    "BASELINES",
    "PPOCR_REC_MODEL",
    "BaselineReader",
    "baseline_names",
    "bgr_array",
    "load_baseline",
    "ppocr_engine",
    "ppocr_model_path",
    "ppocr_reader",
    "ppocr_recognizer",
    "read_baseline",
]

#: A built baseline: line images in, one text per image out, in order.
BaselineReader = Callable[[Sequence[Image.Image]], list[str]]

#: The PP-OCR recognition model shipped inside the rapidocr wheel (multilingual: Latin scripts, English,
#: Chinese, Japanese; the only recognition model in the wheel, so the one used for English and Latin lines).
PPOCR_REC_MODEL = "PP-OCRv6_rec_small.onnx"


def ppocr_model_path(name: str = PPOCR_REC_MODEL) -> Path:
    """A PP-OCR model file bundled in the ``rapidocr`` wheel (by default the recognition model).

    Args:
        name: The file name inside the package's ``models`` folder.

    Returns:
        The ``.onnx`` file inside the installed ``rapidocr`` package.

    Raises:
        FileNotFoundError: The installed ``rapidocr`` does not ship that model
            (it is not downloaded instead).
    """
    import rapidocr  # optional and heavy-ish: loaded on use

    models = Path(rapidocr.__file__).resolve().parent / "models"
    path = models / name
    if not path.is_file():
        shipped = sorted(p.name for p in models.glob("*.onnx")) if models.is_dir() else []
        raise FileNotFoundError(
            f"{path} is missing: this rapidocr ({getattr(rapidocr, '__version__', '?')}) does not ship "
            f"{name} (it ships {shipped or 'no models'}); install rapidocr>=3.10,<4."
        )
    return path


def bgr_array(image: Image.Image) -> np.ndarray:
    """A PIL image as the contiguous 8-bit BGR array PP-OCR reads (alpha composited on white)."""
    return np.ascontiguousarray(np.asarray(to_rgb(image))[:, :, ::-1])


def ppocr_engine(params: dict[str, object]) -> object:
    """A RapidOCR engine with the given settings, quiet and offline.

    RapidOCR's own log messages are limited to errors on its logger; other
    loggers are left alone. Every model the settings switch on must be named by
    its ``*.model_path`` (see :func:`ppocr_model_path`), so nothing is downloaded.

    Args:
        params: RapidOCR settings by dotted name, e.g. ``{"Global.use_det": False}``.

    Returns:
        The ``rapidocr.RapidOCR`` engine.
    """
    from rapidocr import RapidOCR  # optional: loaded on use

    engine = RapidOCR(params={**params, "Global.log_level": "error"})  # RapidOCR sets its logger's level from this
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


def ppocr_recognizer(batch_size: int = 16) -> object:
    """PP-OCR's line recognizer alone (no detection, no direction classifier): a RapidOCR engine whose
    ``recognize_txt(images)`` gives each line's text and score."""
    return ppocr_engine({
        "Global.use_det": False,
        "Global.use_cls": False,
        "Global.use_rec": True,
        "Rec.model_path": str(ppocr_model_path()),  # named explicitly: never routed to a download
        "Rec.lang_type": "en",
        "Rec.rec_batch_num": batch_size,
    })


def ppocr_reader(*, batch_size: int = 16) -> BaselineReader:
    """Build the PP-OCR line recognizer (recognition only, CPU, offline, quiet: see :func:`ppocr_engine`).

    Args:
        batch_size: Lines recognised in one ONNX Runtime call (they are padded to
            the widest of the call, so lines of similar shape should go together).

    Returns:
        A reader: images in, texts out in the same order; ``""`` for an image
        with no readable text or one under 2 pixels on a side.
    """
    engine = ppocr_recognizer(batch_size)

    def read(images: Sequence[Image.Image]) -> list[str]:
        texts = [""] * len(images)
        usable = [i for i, im in enumerate(images) if min(im.size) >= 2]
        if usable:
            out = engine.recognize_txt([bgr_array(images[i]) for i in usable])
            for i, text in zip(usable, out.txts or ()):
                texts[i] = (text or "").strip()
        return texts

    return read


#: Known baselines: name -> function that builds its reader.
BASELINES: dict[str, Callable[..., BaselineReader]] = {"ppocr": ppocr_reader}


def baseline_names() -> list[str]:
    """The names :func:`read_baseline` accepts, sorted."""
    return sorted(BASELINES)


def load_baseline(name: str, **options: object) -> BaselineReader:
    """Build one baseline's reader.

    Args:
        name: A key of :data:`BASELINES`.
        **options: Passed to the reader's builder (e.g. ``batch_size``).

    Returns:
        The reader.

    Raises:
        ValueError: ``name`` is not a known baseline.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known baselines: {', '.join(baseline_names())}")
    return BASELINES[name](**options)


def read_baseline(
    name: str,
    images: Sequence[Image.Image],
    *,
    batch_size: int = 16,
    progress: bool = True,
) -> list[Prediction]:
    """Read line images with a classic-OCR baseline, as predictions like a model's.

    Lines are grouped by aspect ratio into batches (less padding) and put back
    in input order. The flags of every :class:`~inkwell.models.decode.Prediction` are
    false: a baseline has no repetition guard or token limit.

    Args:
        name: The baseline (see :func:`baseline_names`), e.g. ``"ppocr"``.
        images: Line images (PIL, any mode).
        batch_size: Lines read together.
        progress: Show a progress bar.

    Returns:
        One :class:`~inkwell.models.decode.Prediction` per image, in order; text
        ``""`` for a line it cannot read.

    Raises:
        ValueError: ``name`` is not a known baseline, or ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    reader = load_baseline(name, batch_size=batch_size)
    order = sorted(range(len(images)), key=lambda i: images[i].width / max(1, images[i].height))
    texts = [""] * len(images)
    with progress_bar(len(images), desc=f"reading {name}", unit="line", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for i, text in zip(chunk, reader([images[i] for i in chunk])):
                texts[i] = text
            bar.update(len(chunk))
    return [Prediction(text) for text in texts]
