"""Validation while training: CER every ``eval_steps``, the best adapter weights kept, early stopping.

Stage ``training``: imports lower stages, :mod:`inkwell.models.decode`, :mod:`inkwell.evaluation.evaluate`,
:mod:`inkwell.models.loading` and :mod:`inkwell.models.prompt`. The lines are decoded with
:func:`~inkwell.models.decode.predict_lines`, the code 03_evaluate uses, and scored with
:mod:`inkwell.evaluation.evaluate`, so a validation CER here means what it means there.

With several processes (``torchrun``) the main process decodes and sends the scores to the
others, which wait meanwhile: every process keeps the same history, best step and best
weights (the weights are equal in all of them), and all stop at the same step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from inkwell.training.distributed import broadcast_from_main, is_main_process
from inkwell.models.decode import max_new_tokens_for, predict_lines
from inkwell.evaluation.evaluate import score_lines, system_metrics
from inkwell.models.loading import LoadedModel
from inkwell.models.prompt import ImageLimits

__all__ = ["ValidationMonitor", "validation_callback"]


@dataclass
class ValidationMonitor:
    """Decodes validation lines during training and remembers the best adapter weights.

    Attributes:
        loaded: The model being trained (its adapter weights are snapshotted).
        lines: The validation lines (``image``, ``text``, ``id`` columns).
        limits: The image limits of training.
        patience: Evaluations without improvement that end the run (0: never).
        history: One ``{"step", "cer", "wer", "seconds"}`` per evaluation.
        best_step: Step of the lowest CER so far (None before the first evaluation).
        best_cer: The lowest CER so far.
        stop_reason: Why training ended early ("" when it ran its course).
    """

    loaded: LoadedModel
    lines: datasets.Dataset
    limits: ImageLimits
    patience: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_step: int | None = None
    best_cer: float | None = None
    stop_reason: str = ""
    _best_weights: dict[str, Any] = field(default_factory=dict, repr=False)
    _since_best: int = 0

    def evaluate(self, step: int) -> bool:
        """Decode and score the lines at ``step``; keep the weights if best. Returns True when training should stop."""
        t0 = time.perf_counter()
        scores = self._score() if is_main_process() else None
        cer, wer = broadcast_from_main(scores)  # the main process's scores, in every process
        self.history.append({"step": step, "cer": round(cer, 6), "wer": round(wer, 6),
                             "seconds": round(time.perf_counter() - t0, 3)})
        if self.best_cer is None or cer < self.best_cer:
            self.best_cer, self.best_step, self._since_best = cer, step, 0
            self._best_weights = {n: p.detach().clone() for n, p in self._trainable()}
            return False
        self._since_best += 1
        if self.patience and self._since_best >= self.patience:
            self.stop_reason = (f"early stop at step {step}: validation CER did not improve on {self.best_cer:.4f} "
                                f"(step {self.best_step}) for {self.patience} evaluation(s) (early_stopping_patience)")
            return True
        return False

    def _score(self) -> tuple[float, float]:
        """Decode the lines with the weights as they are and return their (CER, WER)."""
        refs = list(self.lines["text"])
        preds = predict_lines(self.loaded, list(self.lines["image"]), limits=self.limits, progress=False,
                              max_new_tokens=max_new_tokens_for(self.loaded.processor, refs))
        ids = list(self.lines["id"]) if "id" in self.lines.column_names else list(range(len(refs)))
        metrics = system_metrics("validation", score_lines(ids, refs, [p.text for p in preds]))
        self._back_to_training()
        return metrics.cer, metrics.wer

    def restore_best(self) -> bool:
        """Put the best weights back into the model. Returns True when they differ from the last ones."""
        if not self._best_weights or self.best_step == (self.history[-1]["step"] if self.history else None):
            return False
        import torch  # heavy: loaded on use

        params = dict(self._trainable())
        with torch.no_grad():
            for name, value in self._best_weights.items():
                params[name].copy_(value)
        return True

    def save_state(self, folder: Path) -> None:
        """Write the history and the best weights into a checkpoint folder (a resumed run goes on from them)."""
        from safetensors.torch import save_file  # heavy: imports torch

        state = {"history": self.history, "best_step": self.best_step, "best_cer": self.best_cer,
                 "since_best": self._since_best}
        (folder / _STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        if self._best_weights:
            save_file({n: v.contiguous() for n, v in self._best_weights.items()}, str(folder / _BEST))

    def load_state(self, folder: Path) -> None:
        """Read what :meth:`save_state` wrote (nothing happens when the folder holds none)."""
        if not (folder / _STATE).exists():
            return
        from safetensors.torch import load_file  # heavy: imports torch

        state = json.loads((folder / _STATE).read_text(encoding="utf-8"))
        self.history, self.best_step, self.best_cer = state["history"], state["best_step"], state["best_cer"]
        self._since_best = state["since_best"]
        if (folder / _BEST).exists():
            self._best_weights = load_file(str(folder / _BEST))

    def _trainable(self) -> list[tuple[str, Any]]:
        return [(n, p) for n, p in self.loaded.model.named_parameters() if p.requires_grad]

    def _back_to_training(self) -> None:
        """Decoding switched the model to inference; switch it back."""
        if self.loaded.backend == "unsloth":
            from unsloth import FastVisionModel  # needs a GPU

            FastVisionModel.for_training(self.loaded.model)
        else:
            self.loaded.model.train()


#: Files a checkpoint holds for the validation state: the history so far and the best weights.
_STATE, _BEST = "inkwell_validation.json", "inkwell_best.safetensors"


def validation_callback(monitor: ValidationMonitor, eval_steps: int) -> Any:
    """A transformers ``TrainerCallback`` that runs ``monitor`` every ``eval_steps`` steps and at the end.

    Its state travels with each checkpoint, so a resumed run keeps its history and best weights.
    """
    from transformers import TrainerCallback  # heavy: loaded on use

    class _Validate(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir() and is_main_process():  # the main process writes the run folder
                monitor.save_state(folder)
            return control

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            last = state.global_step >= state.max_steps
            if (eval_steps and state.global_step % eval_steps == 0) or last:
                if monitor.evaluate(state.global_step):
                    control.should_training_stop = True
            return control

    return _Validate()
