"""kraken's baseline segmenter as a line finder: each line's baseline and boundary polygon, in reading order.

Stage ``reading``. kraken (Apache-2.0) is the segmenter under eScriptorium; its default model (``blla.mlmodel``,
5 MB) ships inside the ``kraken`` wheel and is loaded from there, never downloaded. kraken is optional: it cannot be
part of Inkwell's locked stack (kraken 7 pins ``safetensors~=0.7`` and transformers 5.17 needs ``>=0.8``; kraken 6
pins torch 2.9 and numpy 2.0), so ``make setup`` installs it beside the stack without its own pins, on Linux x86-64
(``make kraken``, ``etc/requirements-kraken.txt``). On Windows coremltools, which it imports, has no wheel, and the
finder says so. It runs on the GPU when CUDA is present.
"""

from __future__ import annotations

import functools
import sys
from importlib import resources

from PIL import Image

from inkwell.reading.lines.geometry import LineBox

__all__ = ["KRAKEN_MODEL", "kraken_available", "kraken_lines"]

#: The baseline segmentation model inside the kraken wheel.
KRAKEN_MODEL = "blla.mlmodel"

#: How kraken is installed beside the stack (``make setup`` runs it on Linux x86-64).
_INSTALL = "make kraken (or: pip install --no-deps -r etc/requirements-kraken.txt)"


def kraken_available() -> str | None:
    """Why kraken's segmenter cannot run here (a sentence naming the fix), or None when it can."""
    try:
        from kraken import blla  # noqa: F401
    except Exception as err:  # kraken, or one of its own imports, is missing or broken
        if sys.platform == "win32":
            return (f"line_finder = \"kraken\" cannot run on Windows ({type(err).__name__}: {err}): kraken imports "
                    "coremltools, which has no Windows wheel. Use line_finder = \"ppocr\".")
        return (f"line_finder = \"kraken\" needs the kraken package ({type(err).__name__}: {err}), which "
                f"`make setup` installs on Linux x86-64 beside the locked stack: run `{_INSTALL}` in Inkwell's "
                "folder, or use line_finder = \"ppocr\".")
    return None


@functools.lru_cache(maxsize=2)
def _model(device: str) -> object:
    """kraken's default segmentation model, loaded from the file inside its wheel."""
    from kraken.lib import vgsl

    path = resources.files("kraken") / KRAKEN_MODEL
    with resources.as_file(path) as file:
        model = vgsl.TorchVGSLModel.load_model(str(file))
    return model


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def kraken_lines(page: Image.Image) -> list[LineBox]:
    """The lines kraken's baseline segmenter finds on a page, in its reading order.

    Args:
        page: The page image (any mode).

    Returns:
        One :class:`LineBox` per line: the boundary polygon as its outline, the baseline as its baseline.

    Raises:
        RuntimeError: kraken cannot be imported here (the message says how to install it or which finder to use).
    """
    reason = kraken_available()
    if reason:
        raise RuntimeError(reason)
    from kraken import blla

    device = _device()
    segmentation = blla.segment(page.convert("RGB"), model=_model(device), device=device)
    out = []
    for line in segmentation.lines:
        boundary = [tuple(p) for p in (line.boundary or [])]
        if len(boundary) > 1 and boundary[0] == boundary[-1]:
            boundary = boundary[:-1]
        if len(set(boundary)) < 3:
            continue
        out.append(LineBox(boundary, 1.0, [tuple(p) for p in (line.baseline or [])]))
    return out
