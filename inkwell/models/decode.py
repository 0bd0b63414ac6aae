"""Reading lines: batched greedy generation with the training prompt, and the repetition guard.

Stage ``models``: imports lower stages, :mod:`inkwell.models.loading` and :mod:`inkwell.models.prompt`.
Decoding uses the prompt and image limits training used (see :mod:`inkwell.models.prompt`);
results do not depend on the batch size. torch, transformers and unsloth are
imported inside the functions that generate (heavy; unsloth needs a GPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from inkwell.models.loading import LoadedModel
from inkwell.core.progress import progress_bar
from inkwell.models.prompt import ImageLimits, prepare_image, prompt_text

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import torch

__all__ = ["AnswerScores", "Prediction", "RepetitionStopper", "has_repetition_loop", "line_confidence",
           "max_new_tokens_for", "predict_lines"]


def max_new_tokens_for(processor: Any, texts: Iterable[str], headroom: float = 1.5, extra: int = 8) -> int:
    """A ``max_new_tokens`` that fits the longest reference with headroom.

    Args:
        processor: The model's processor.
        texts: Reference texts of the lines to decode.
        headroom: Multiplier on the longest reference, in tokens.
        extra: Tokens added on top.
    """
    tok = processor.tokenizer
    longest = max((len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts), default=32)
    return int(math.ceil(longest * headroom)) + extra


@dataclass
class Prediction:
    """One decoded line.

    Attributes:
        text: The decoded text, special tokens removed.
        stopped_by_guard: True when the repetition guard cut decoding short.
        hit_limit: True when decoding reached ``max_new_tokens`` without ending.
        confidence: How sure decoding was of the whole answer, 0 to 1: the geometric mean of the
            probabilities of the tokens it chose, the end token included (:func:`line_confidence`);
            None when the reader gives no scores (a classic-OCR baseline, vLLM).
        lowest: The probability of the least sure token chosen (None likewise): one doubtful
            character in an otherwise sure line shows here, not in ``confidence``.
    """

    text: str
    stopped_by_guard: bool = False
    hit_limit: bool = False
    confidence: float | None = None
    lowest: float | None = None


def line_confidence(log_probs: Sequence[float]) -> tuple[float | None, float | None]:
    """``(confidence, lowest)`` of one answer from the log-probabilities of its chosen tokens.

    ``confidence`` is ``exp(mean(log_probs))``, the geometric mean token probability (a long line is
    not less sure for its length alone); ``lowest`` is ``exp(min(log_probs))``. Both lie in [0, 1];
    an answer without tokens has neither (``(None, None)``).
    """
    if not log_probs:
        return None, None
    mean = sum(log_probs) / len(log_probs)
    return min(1.0, math.exp(mean)), min(1.0, math.exp(min(log_probs)))


class AnswerScores:
    """A logits processor that records, at every decoding step, the log-probability of the token greedy decoding picks.

    Greedy decoding takes the highest of the scores it is given; this processor sits after the
    model's own processors (a repetition penalty from its generation config, for instance), so the
    picked token's log-probability is ``max(scores) - logsumexp(scores)``: a maximum and a
    log-sum-exp over the vocabulary per step, nothing kept but one number per row and step (no
    ``output_scores``, whose full score tensors would take gigabytes on a large vocabulary).
    It returns the scores unchanged.
    """

    def __init__(self) -> None:
        self.steps: list[Any] = []

    def __call__(self, input_ids: "torch.LongTensor", scores: "torch.FloatTensor") -> "torch.FloatTensor":
        """Record this step's picked log-probability per row; return ``scores`` as they are."""
        scores32 = scores.float()
        self.steps.append(scores32.max(dim=-1).values - scores32.logsumexp(dim=-1))
        return scores

    def rows(self) -> list[list[float]]:
        """Per row of the batch, the picked tokens' log-probabilities, one per step."""
        import torch  # heavy: loaded on use

        if not self.steps:
            return []
        return torch.stack(self.steps, dim=1).cpu().tolist()



def predict_lines(
    loaded: LoadedModel,
    images: Sequence[Image.Image],
    *,
    limits: ImageLimits = ImageLimits(),
    batch_size: int = 8,
    max_new_tokens: int = 128,
    repetition_guard: bool = True,
    progress: bool = True,
    desc: str = "decoding",
    confidence: bool = True,
) -> list[Prediction]:
    """Transcribe line images with greedy decoding, in batches.

    The prompt is :func:`~inkwell.models.prompt.prompt_text`, the one the adapter was
    trained on, and images go through :func:`~inkwell.models.prompt.prepare_image` with
    the same limits. Batches are left-padded so every row's answer starts right
    after its prompt. Results do not depend on ``batch_size``.

    Args:
        loaded: Base model, optionally with an adapter attached.
        images: Line images.
        limits: The image limits the adapter was trained with (a run's
            :attr:`~inkwell.models.runs.RunInfo.image_limits`).
        batch_size: Lines decoded together.
        max_new_tokens: Hard limit on answer length (see :func:`max_new_tokens_for`).
        repetition_guard: Stop a line early when it loops on a repeated unit.
        progress: Show a progress bar.
        desc: The bar's name, e.g. ``"decoding base"`` or ``"decoding <run name>"`` when several systems run.
        confidence: Record each line's :attr:`Prediction.confidence` and :attr:`Prediction.lowest`
            (``scripts/bench_generate.py`` measures what it costs); False leaves them None.

    Returns:
        One :class:`Prediction` per image, in order.
    """
    import torch  # heavy: loaded on use

    model, processor, family = loaded.model, loaded.processor, loaded.family
    if loaded.backend == "unsloth":
        from unsloth import FastVisionModel  # needs a GPU

        FastVisionModel.for_inference(model)
    else:
        model.eval()
    tok = processor.tokenizer
    old_side = tok.padding_side
    tok.padding_side = "left"
    prompt = prompt_text(processor, family)
    eos = tok.convert_tokens_to_ids(family.end_of_turn)
    results: list[Prediction] = []
    bar = progress_bar(len(images), desc, "line", disable=not progress)
    try:
        for start in range(0, len(images), batch_size):
            chunk = [prepare_image(im, family, limits) for im in images[start : start + batch_size]]
            enc = processor(text=[prompt] * len(chunk), images=chunk, padding=True, return_tensors="pt")
            enc = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in enc.items()}
            width = enc["input_ids"].shape[1]
            criteria = _repetition_criteria(tok, width) if repetition_guard else None
            scored = AnswerScores() if confidence else None
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=eos,
                    pad_token_id=tok.pad_token_id,
                    stopping_criteria=criteria,
                    logits_processor=_processor_list(scored) if scored else None,
                )
            step_scores = scored.rows() if scored else []
            for k, row in enumerate(out[:, width:].tolist()):
                ended = eos in row
                if ended:
                    row = row[: row.index(eos)]
                while row and row[-1] == tok.pad_token_id:  # a row stopped early waits for its batch, padded
                    row.pop()
                text = tok.decode(row, skip_special_tokens=True)
                looped = (not ended) and repetition_guard and has_repetition_loop(text)
                hit_limit = not ended and len(row) >= max_new_tokens
                answered = len(row) + ended  # the end token counts: ending there is part of the answer
                sure, lowest = line_confidence(step_scores[k][:answered] if step_scores else [])
                results.append(Prediction(text, stopped_by_guard=looped, hit_limit=hit_limit,
                                          confidence=sure, lowest=lowest))
            bar.update(len(chunk))
    finally:
        bar.close()  # an interrupted run leaves "stopped at n/N lines"
        tok.padding_side = old_side
    return results


def has_repetition_loop(text: str, min_repeats: int = 4, max_unit: int = 20) -> bool:
    """Detect a unit repeated back-to-back at the end of the text.

    A unit of 2..``max_unit`` characters must occur at least ``min_repeats``
    times in a row at the end ("abcabcabcabc"). A single repeated character
    must occur at least ``max(2 * min_repeats, 8)`` times, so ordinary text
    such as "Mississippi", "1000000" or "..." does not trigger.

    Args:
        text: Generated text so far.
        min_repeats: Repetitions needed for units of two or more characters.
        max_unit: Longest unit considered.

    Returns:
        True if the text ends in such a loop.

    Raises:
        ValueError: If ``min_repeats < 2`` or ``max_unit < 1``.
    """
    if min_repeats < 2 or max_unit < 1:
        raise ValueError("min_repeats must be >= 2 and max_unit >= 1.")
    n = len(text)
    for unit in range(1, max_unit + 1):
        needed = max(2 * min_repeats, 8) if unit == 1 else min_repeats
        if unit * needed > n:
            if unit > 1:
                break
            continue
        tail = text[n - unit :]
        count, pos = 1, n - unit
        while count < needed and pos >= unit and text[pos - unit : pos] == tail:
            count += 1
            pos -= unit
        if count >= needed:
            return True
    return False


class RepetitionStopper:
    """Stops generation for rows whose new text ends in a repetition loop.

    Example:
        >>> stopper = RepetitionStopper(
        ...     lambda ids: processor.decode(ids, skip_special_tokens=True), prompt_length=inputs["input_ids"].shape[1]
        ... )  # doctest: +SKIP
        >>> model.generate(**inputs, stopping_criteria=transformers.StoppingCriteriaList([stopper]))  # doctest: +SKIP

    Args:
        decode: Turns a list of token ids into text.
        prompt_length: Number of prompt tokens at the start of each row; only
            the tokens after it are checked.
        min_repeats: See :func:`has_repetition_loop`.
        max_unit: See :func:`has_repetition_loop`.
    """

    def __init__(
        self,
        decode: Callable[[list[int]], str],
        prompt_length: int,
        min_repeats: int = 4,
        max_unit: int = 20,
    ) -> None:
        self.decode = decode
        self.prompt_length = int(prompt_length)
        self.min_repeats = min_repeats
        self.max_unit = max_unit

    def __call__(self, input_ids: "torch.LongTensor", scores: Any = None, **kwargs: Any) -> "torch.BoolTensor":
        """Return a bool tensor of shape (batch,): True where a row loops."""
        import torch  # heavy: loaded on use

        flags = [
            has_repetition_loop(self.decode(row[self.prompt_length :].tolist()), self.min_repeats, self.max_unit)
            for row in input_ids
        ]
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)



def _repetition_criteria(tokenizer: Any, prompt_length: int) -> Any:
    """A stopping-criteria list holding the repetition guard for one batch."""
    from transformers import StoppingCriteriaList  # heavy: loaded on use

    stopper = RepetitionStopper(lambda ids: tokenizer.decode(ids, skip_special_tokens=True), prompt_length)
    return StoppingCriteriaList([stopper])


def _processor_list(scored: AnswerScores) -> Any:
    """A logits-processor list holding the answer scores' recorder (after the model's own processors)."""
    from transformers import LogitsProcessorList  # heavy: loaded on use

    return LogitsProcessorList([scored])
