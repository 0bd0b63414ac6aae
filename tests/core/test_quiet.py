"""Tests for inkwell.core.quiet: the known harmless messages are gone, everything else from the same loggers still shows."""

from __future__ import annotations

import logging
import subprocess
import sys

import helpers
from inkwell.core.quiet import KNOWN_MESSAGES, quiet_known_warnings

#: Run in a fresh interpreter: imports PEFT (which imports torchao and bitsandbytes, whose import logs two of the
#: known messages), lets the Trainer's token alignment log the third, then logs an unrelated warning on each logger.
SCRIPT = """
import sys
from types import SimpleNamespace
if sys.argv[1] == "quiet":
    from inkwell.core.quiet import quiet_known_warnings
    quiet_known_warnings()
import logging
import peft
from transformers.trainer_utils import align_special_tokens
tokenizer = SimpleNamespace(eos_token_id=2, bos_token_id=None, pad_token_id=0)
model = SimpleNamespace(config=SimpleNamespace(eos_token_id=5, bos_token_id=None, pad_token_id=None),
                        generation_config=None)
align_special_tokens(model, tokenizer)
for name in ("torch.utils._pytree", "bitsandbytes.backends.cpu.ops", "transformers.trainer_utils"):
    logging.getLogger(name).warning("unrelated warning from %s", name)
"""

FRAGMENTS = {
    "torch.utils._pytree": "is an Enum subclass and is now natively supported by torch.compile",
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community",
    "transformers.trainer_utils": "The tokenizer has new PAD/BOS/EOS tokens that differ from the model config",
}

#: The messages as the libraries word them (transformers 5.17, bitsandbytes 0.50, torch 2.14).
WORDED = {
    "torch.utils._pytree": "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by "
    "torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be "
    "an error in a future release.",
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community: No module named "
    "'kernels'. Please make sure you already `pip install kernels` and the kernels >= 0.11.1",
    "transformers.trainer_utils": "The tokenizer has new PAD/BOS/EOS tokens that differ from the model config and "
    "generation config. The model config and generation config were aligned accordingly, being updated with the "
    "tokenizer's values. Updated tokens: {'eos_token_id': 2, 'pad_token_id': 0}.",
}


def stderr_of(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=300,
                          cwd=helpers.PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_known_messages_are_gone_and_others_stay() -> None:
    loud, quiet = stderr_of("loud"), stderr_of("quiet")
    # without the filters the library prints them (bitsandbytes only on CPUs with AVX512-BF16)
    assert FRAGMENTS["torch.utils._pytree"] in loud and FRAGMENTS["transformers.trainer_utils"] in loud
    for name, fragment in FRAGMENTS.items():
        assert fragment not in quiet, f"{name}: {fragment!r} still printed"
        assert f"unrelated warning from {name}" in quiet, f"{name}: an unrelated warning was silenced too"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_filters_are_per_message_per_logger_and_idempotent() -> None:
    quiet_known_warnings()
    quiet_known_warnings()
    assert {k.logger for k in KNOWN_MESSAGES} == set(FRAGMENTS)
    for known in KNOWN_MESSAGES:
        logger = logging.getLogger(known.logger)
        assert len(logger.filters) == len({id(f) for f in logger.filters})
        assert sum(type(f).__name__ == "_DropKnown" for f in logger.filters) == 1
        handler = Collect()
        logger.addHandler(handler)
        try:
            logger.warning("%s", WORDED[known.logger])
            logger.warning("a real problem: %s", "something else")
        finally:
            logger.removeHandler(handler)
        assert handler.messages == ["a real problem: something else"]
    # the same text on another logger is not ours to hide
    other = logging.getLogger("inkwell.test.other")
    handler = Collect()
    other.addHandler(handler)
    try:
        other.warning(WORDED["transformers.trainer_utils"])
    finally:
        other.removeHandler(handler)
    assert handler.messages == [WORDED["transformers.trainer_utils"]]
