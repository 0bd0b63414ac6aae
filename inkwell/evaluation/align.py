"""Character alignments of a prediction against its reference: the runs diffs are drawn from, and confusions.

Stage ``evaluation``: imports :mod:`inkwell.evaluation.evaluate` (texts are prepared as for
scoring). Alignments come straight from jiwer's alignment chunks.
"""

from __future__ import annotations

from collections import Counter

import jiwer
import pandas as pd

from inkwell.evaluation.evaluate import Evaluation, prepare_text

__all__ = ["EMPTY_MARK", "SPACE_MARK", "align_chars", "alignment", "confusion_table", "visible"]

# Visible stand-ins for whitespace inside error markers.
SPACE_MARK = "\u2423"  # open box
EMPTY_MARK = "\u2205"  # empty set


def alignment(reference: str, prediction: str) -> list[tuple[str, str, str]]:
    """Align two strings as runs of one operation each, straight from jiwer's alignment chunks.

    Both sides are prepared as for scoring (NFC, outer whitespace stripped).

    Returns:
        A list of ``(op, ref_text, pred_text)`` with op one of "equal",
        "substitute" (texts of equal length), "delete" (``pred_text == ""``) or
        "insert" (``ref_text == ""``).

    Example:
        >>> alignment("the cat", "the cot")
        [('equal', 'the c', 'the c'), ('substitute', 'a', 'o'), ('equal', 't', 't')]
    """
    ref, hyp = prepare_text(reference), prepare_text(prediction)
    if not ref:
        return [("insert", "", hyp)] if hyp else []
    out = jiwer.process_characters(ref, hyp)
    r_tok, h_tok = out.references[0], out.hypotheses[0]
    return [
        (c.type, "".join(r_tok[c.ref_start_idx : c.ref_end_idx]) if c.type != "insert" else "",
         "".join(h_tok[c.hyp_start_idx : c.hyp_end_idx]) if c.type != "delete" else "")
        for c in out.alignments[0]
    ]


def align_chars(reference: str, prediction: str) -> list[tuple[str, str, str]]:
    """Align two strings character by character.

    Both sides are prepared as for scoring (NFC, outer whitespace stripped).

    Args:
        reference: Reference text.
        prediction: Predicted text.

    Returns:
        A list of ``(op, ref_char, pred_char)`` with op one of "equal",
        "substitute", "delete" (``pred_char == ""``) or "insert"
        (``ref_char == ""``).

    Example:
        >>> align_chars("cat", "cot")
        [('equal', 'c', 'c'), ('substitute', 'a', 'o'), ('equal', 't', 't')]
    """
    ops: list[tuple[str, str, str]] = []
    for op, r, h in alignment(reference, prediction):
        if op in ("equal", "substitute"):
            ops.extend((op, a, b) for a, b in zip(r, h))
        elif op == "delete":
            ops.extend(("delete", a, "") for a in r)
        else:
            ops.extend(("insert", "", b) for b in h)
    return ops


def visible(text: str) -> str:
    """Show spaces inside error markers as a visible open box."""
    return text.replace(" ", SPACE_MARK)


def confusion_table(evaluation: Evaluation, system: str, top: int = 20) -> pd.DataFrame:
    """Most frequent character confusions of one system.

    Substitutions are counted as reference -> predicted character, deletions
    as reference -> "∅" and insertions as "∅" -> predicted. A space is shown
    as "␣".

    Args:
        evaluation: Result of :func:`evaluate_systems`.
        system: System name.
        top: Number of rows to return.

    Returns:
        A DataFrame with columns reference, predicted, count; most frequent
        first, ties broken alphabetically.

    Raises:
        KeyError: If ``system`` is not in the evaluation.
    """
    if system not in evaluation.scores:
        raise KeyError(f"Unknown system {system!r}; known: {evaluation.systems}")
    counts: Counter[tuple[str, str]] = Counter()
    for line in evaluation.scores[system]:
        for op, r, h in align_chars(line.reference, line.prediction):
            if op != "equal":
                counts[(visible(r) or EMPTY_MARK, visible(h) or EMPTY_MARK)] += 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, top)]
    return pd.DataFrame(
        [{"reference": r, "predicted": h, "count": c} for (r, h), c in rows],
        columns=["reference", "predicted", "count"],
    )
