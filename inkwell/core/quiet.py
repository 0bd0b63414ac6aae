"""Known harmless library messages, silenced one by one where Inkwell triggers them.

Stage ``core``: imports no other Inkwell module. Nothing happens at import:
:func:`quiet_known_warnings` (called by the functions that load, size or train
a model) attaches one :class:`logging.Filter` per message to the exact logger
that emits it. Each filter drops only records whose message matches its
pattern; every other record of the same logger, and every other logger, is
left alone. The messages, where they come from and why they are harmless:

- ``torch.utils._pytree``: "<enum 'KernelPreference'> is an Enum subclass and is now
  natively supported by torch.compile ... register_constant() on Enum subclasses is
  deprecated". torchao (imported by transformers' quantizers and by PEFT) registers
  its enums the old way; a deprecation notice for torchao's developers, nothing
  Inkwell or its user can change.
- ``bitsandbytes.backends.cpu.ops``: "Failed to load CPU gemm_4bit_forward from
  kernels-community: No module named 'kernels' ...". bitsandbytes looks for an
  optional fast kernel for 4-bit matrix products on CPUs with AVX512-BF16 when it is
  imported; Inkwell never runs 4-bit weights on a CPU (it loads full precision there).
- ``transformers.trainer_utils``: "The tokenizer has new PAD/BOS/EOS tokens that differ
  from the model config and generation config ...". The Trainer copies the
  processor's special tokens into the model config, which is what Inkwell wants:
  training and decoding pad and stop with the processor's tokens.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

__all__ = ["KNOWN_MESSAGES", "KnownMessage", "quiet_known_warnings"]


@dataclass(frozen=True)
class KnownMessage:
    """One harmless message: the logger that emits it and a pattern its text matches.

    Attributes:
        logger: The emitting logger's exact name.
        pattern: Regular expression searched in the formatted message.
        why: Why it is harmless, in words.
    """

    logger: str
    pattern: str
    why: str


#: The messages :func:`quiet_known_warnings` silences (see the module docstring).
KNOWN_MESSAGES = (
    KnownMessage("torch.utils._pytree",
                 r"is an Enum subclass and is now natively supported by torch\.compile as an opaque value type\. "
                 r"Calling register_constant\(\) on Enum subclasses is deprecated",
                 "torchao registers its enums the deprecated way at import; a notice for torchao's developers"),
    KnownMessage("bitsandbytes.backends.cpu.ops",
                 r"^Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'",
                 "optional fast kernel for 4-bit matrix products on a CPU; Inkwell never runs 4-bit on a CPU"),
    KnownMessage("transformers.trainer_utils",
                 r"^The tokenizer has new PAD/BOS/EOS tokens that differ from the model config and generation config\. "
                 r"The model config and generation config were aligned accordingly",
                 "the Trainer aligns the model config with the processor's special tokens, as Inkwell intends"),
)


class _DropKnown(logging.Filter):
    """Drops the records of one logger whose message matches a pattern."""

    def __init__(self, known: KnownMessage) -> None:
        super().__init__()
        self.known = known
        self.regex = re.compile(known.pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return self.regex.search(text) is None


def quiet_known_warnings() -> None:
    """Silence the messages of :data:`KNOWN_MESSAGES`, each on its own logger; calling it again changes nothing."""
    for known in KNOWN_MESSAGES:
        logger = logging.getLogger(known.logger)
        if not any(isinstance(f, _DropKnown) and f.known == known for f in logger.filters):
            logger.addFilter(_DropKnown(known))
