"""The Unsloth backend's own concerns: import order, the loading arguments, and the hub id really read.

Stage ``models``: imports lower stages only; :mod:`inkwell.models.loading` calls it. ``import
unsloth`` fails without a GPU, so unsloth is imported inside the functions, and only
once a CUDA GPU is seen. Facts read in unsloth 2026.10.5's sources:

- it patches transformers, TRL and PEFT as it is imported and warns that some patches
  may not apply when any of them was imported first (``unsloth/_gpu_init.py``);
- its loader swaps some hub ids for its own 4-bit copies (``unsloth/models/mapper.py``),
  offline too, and reports the id it settled on to ``on_model_resolved``;
  ``use_exact_model_name=True`` loads the id as given.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from huggingface_hub import try_to_load_from_cache  # light, and already imported with datasets

from inkwell.models.families import FamilySettings

__all__ = ["load_with_unsloth", "unsloth_first", "unsloth_load_kwargs"]


def unsloth_first(backend: str = "auto") -> bool:
    """Import unsloth now if the Unsloth backend will run, before anything imports transformers.

    The first call of every notebook that touches a model (its parameter check), the
    pre-flight and :func:`~inkwell.models.loading.load_model` call this.

    Args:
        backend: The ``backend`` parameter (``"auto"``, ``"unsloth"`` or ``"transformers"``).

    Returns:
        Whether unsloth is imported now.
    """
    if "unsloth" in sys.modules:
        return True
    if backend not in ("auto", "unsloth") or importlib.util.find_spec("unsloth") is None:
        return False
    import torch  # heavy: loaded on use (Unsloth itself imports torch first)

    if not torch.cuda.is_available():
        return False
    import unsloth  # noqa: F401  (imported for its patches, before transformers)

    return True


def unsloth_load_kwargs(family: FamilySettings, use_4bit: bool, gradient_checkpointing: bool, dtype: Any,
                        trust_remote_code: bool) -> dict[str, Any]:
    """The keyword arguments Inkwell passes to ``FastVisionModel.from_pretrained`` (besides the model name).

    A test binds them against Unsloth's real signature, so a renamed argument fails in CI.
    """
    import transformers  # heavy: loaded on use

    extra = dict(family.unsloth.kwargs)
    if isinstance(extra.get("auto_model"), str):  # the table names the class; Unsloth wants the class itself
        extra["auto_model"] = getattr(transformers, extra["auto_model"])
    if trust_remote_code:
        extra["trust_remote_code"] = True
    return {"load_in_4bit": use_4bit, "use_gradient_checkpointing": "unsloth" if gradient_checkpointing else False,
            "dtype": dtype, **extra}


class _SwapNotCached(RuntimeError):
    """Unsloth would read its own copy of a hub id, and offline that copy is not in the cache."""


def _in_hub_cache(repo_id: str) -> bool:
    """Whether a hub id's ``config.json`` is in the local Hugging Face cache."""
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # not a valid repo id
        return False


def load_with_unsloth(source: str, model_name: str, kwargs: dict[str, Any], *,
                      offline: bool) -> tuple[Any, Any, str, str]:
    """Load through ``FastVisionModel.from_pretrained``, recording the hub id Unsloth really reads.

    Offline, when Unsloth's copy is not cached and the id asked for is, the id asked
    for is loaded as named (``use_exact_model_name``), and the note says so.

    Args:
        source: The folder or hub id to load (see :func:`~inkwell.models.loading.model_source`).
        model_name: The name the user gave (for the note).
        kwargs: From :func:`unsloth_load_kwargs`.
        offline: Whether only the local cache can be read.

    Returns:
        The model, its processor, the hub id really read ("" when it is ``source``) and a note
        for the backend's reason ("" when nothing was swapped).

    Raises:
        OSError: The checkpoint cannot be read; when Unsloth swapped the id, the message names its copy.
    """
    from unsloth import FastVisionModel  # needs a GPU

    resolved: list[str] = []
    hub_id = not Path(source).is_dir()

    def on_resolved(name: str) -> None:
        resolved.append(str(name))
        if hub_id and offline and str(name) != source and not _in_hub_cache(str(name)) and _in_hub_cache(source):
            raise _SwapNotCached(str(name))

    note = ""
    try:
        try:
            model, processor = FastVisionModel.from_pretrained(source, on_model_resolved=on_resolved, **kwargs)
        except _SwapNotCached as swap:
            note = (f" Unsloth would read its own copy {swap} in place of {model_name}; offline, that copy is not in "
                    f"the cache and {model_name} is, so {model_name} was loaded as named.")
            resolved.clear()
            model, processor = FastVisionModel.from_pretrained(source, on_model_resolved=resolved.append,
                                                               use_exact_model_name=True, **kwargs)
    except OSError as exc:
        if resolved and resolved[-1] != source:  # the error is about Unsloth's copy, not the id the user gave
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise OSError(f"Unsloth reads its own copy {resolved[-1]} in place of {model_name}, and that copy could "
                          f"not be read: {first}") from exc
        raise
    loaded_name = resolved[-1] if resolved and resolved[-1] != source else ""
    if loaded_name:
        note += (f" Unsloth loaded {loaded_name} in place of {model_name} (its own copy of that model); run.json "
                 "records both names, and the adapter belongs to either.")
    return model, processor, loaded_name, note
