"""Tests for inkwell.decode: the repetition-loop check and the stopping criterion built on it."""

import pytest
import torch

from inkwell.decode import RepetitionStopper, has_repetition_loop

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
