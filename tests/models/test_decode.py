"""Tests for inkwell.models.decode: the repetition-loop check and the stopping criterion built on it, and line confidence."""

import math

import pytest
import torch

from inkwell.models.decode import AnswerScores, RepetitionStopper, has_repetition_loop, line_confidence

# ---------------------------------------------------------------------------
# Generation guard
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("abcabcabcabc", True),
        ("the end abcabcabcabc", True),
        ("abcabcabc", False),  # only 3 repeats
        ("Mississippi", False),
        ("1000000", False),
        ("Hello world.", False),
        ("...", False),
        ("aaaaaaa", False),  # 7 single chars
        ("aaaaaaaa", True),  # 8 single chars
        ("hahaha", False),
        ("the the the the ", True),
        ("abcabcabcabc then normal text", False),  # loop not at the end
        ("", False),
        ("я не знаю я не знаю я не знаю я не знаю ", True),
        ("x" + "0123456789abcdefghij" * 4, True),  # 20-char unit
        ("x" + "0123456789abcdefghijk" * 4, False),  # 21-char unit > max_unit
    ],
)
def test_has_repetition_loop(text, expected):
    assert has_repetition_loop(text) is expected


def test_repetition_stopper_on_fake_decode():
    def decode(ids):
        return "".join(chr(ord("a") + i) for i in ids)

    abc = [0, 1, 2]
    prompt = abc * 4  # a loop in the prompt must not count
    rows = torch.tensor(
        [
            [7, 7, 7] + abc * 4,  # generated "abcabcabcabc"
            [7, 7, 7] + [7, 4, 11, 11, 14, 3, 4, 5, 6, 7, 8, 9],  # normal
            prompt[:3] + [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        ]
    )
    stop = RepetitionStopper(decode, prompt_length=3)
    out = stop(rows, None)
    assert out.dtype == torch.bool
    assert out.tolist() == [True, False, False]
    import transformers

    # generate() combines criteria through a StoppingCriteriaList
    assert transformers.StoppingCriteriaList([stop])(rows, None).tolist() == [True, False, False]
    looped_prompt = torch.tensor([prompt + [4, 5]])
    assert RepetitionStopper(decode, prompt_length=12)(looped_prompt, None).tolist() == [False]


@pytest.mark.parametrize("log_probs, expected", [
    ([], (None, None)),  # no answer tokens: no confidence
    ([0.0, 0.0], (1.0, 1.0)),  # every token certain
    ([math.log(0.5), math.log(0.125)], (pytest.approx(0.25), pytest.approx(0.125))),  # geometric mean 0.25, lowest 0.125
    ([math.log(0.9)] * 9 + [math.log(0.001)], (pytest.approx(0.9 ** 0.9 * 0.001 ** 0.1), pytest.approx(0.001))),
])
def test_line_confidence(log_probs, expected):
    assert line_confidence(log_probs) == expected


def test_answer_scores_record_the_picked_tokens_probability_and_leave_scores_alone():
    recorder = AnswerScores()
    first = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    second = torch.tensor([[0.0, float("-inf"), 0.0], [5.0, 1.0, 1.0]])
    assert recorder(None, first) is first and recorder(None, second) is second
    rows = recorder.rows()
    expected = [[torch.log_softmax(s[r], -1).max().item() for s in (first, second)] for r in range(2)]
    assert [pytest.approx(row, rel=1e-5) for row in expected] == rows  # float32 on both sides
    assert math.exp(rows[1][0]) == pytest.approx(1 / 3) and math.exp(rows[0][1]) == pytest.approx(0.5)
