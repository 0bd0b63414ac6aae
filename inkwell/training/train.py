"""Training: TRL's SFTTrainer on either backend, the adapter and its run record saved as ``adapters/<run>/``.

Stage ``training``: imports lower stages, :mod:`inkwell.models.loading`, :mod:`inkwell.models.prompt`
and :mod:`inkwell.models.runs`. torch, transformers, trl and unsloth are imported inside
the functions that train: they are heavy, and unsloth needs a GPU.

Under ``torchrun`` or ``accelerate launch`` each process trains on its share of every
global batch (DDP, gloo on CPUs) and only the main process writes the run folder
(see :mod:`inkwell.training.distributed`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from types import SimpleNamespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from inkwell.training.distributed import (barrier, broadcast_from_main, is_main_process, start_distributed,
                                 sum_over_processes)
from inkwell.models.loading import LoadedModel, LoraSettings, compute_dtype, place_adapter_weights
from inkwell.training.monitor import ValidationMonitor, validation_callback
from inkwell.core.paths import PARTIAL_SUFFIX, atomic_folder, reserve_folder, write_manifest
from inkwell.core.progress import machine_load, progress_bar, show_note
from inkwell.models.prompt import ImageLimits, LineCollator
from inkwell.models.quantization import layout_of
from inkwell.core.quiet import quiet_known_warnings
from inkwell.models.runs import (DatasetInfo, InterruptedRun, RunInfo, library_versions, now_iso,
                          publish_saved_runs)

__all__ = ["OutOfGpuMemory", "TrainResult", "TrainSettings", "adapter_dtype_kept", "describe_training",
           "out_of_memory_advice", "train_adapter"]


class OutOfGpuMemory(RuntimeError):
    """Training ran out of GPU memory; the message gives the peak, the settings behind it and what to lower."""


@dataclass
class TrainSettings:
    """Optimiser and schedule settings; field names are 02_finetune's parameter names.

    Attributes:
        max_steps: Optimiser steps; 0 or less means train ``num_epochs`` epochs.
        num_epochs: Epochs, used when ``max_steps`` <= 0.
        learning_rate: Peak learning rate.
        batch_size: Lines per device batch.
        grad_accum: Batches accumulated per optimiser step.
        warmup_steps: Linear warm-up steps.
        weight_decay: AdamW weight decay.
        lr_scheduler: Learning-rate schedule name (``"linear"``, ``"cosine"``, ``"constant"``).
        max_image_width: Widest line image fed to the model, in pixels.
        max_image_height: Tallest line image fed to the model, in pixels.
        seed: Seed of data order and dropout.
        logging_steps: Log the loss every this many steps (0: about 50 points per run).
        save_steps: Save a checkpoint (adapter, optimiser, scheduler, random state, data position) every this
            many steps inside the run's ``.partial`` folder, the last two kept (0: none; the run cannot resume).
        eval_steps: Decode the validation lines every this many steps (0: only at the end).
        eval_lines: Validation lines decoded at each evaluation (0: no validation; the last weights are kept).
        early_stopping_patience: Evaluations without a lower validation CER that end the run (0: never).
    """

    max_steps: int = 60
    num_epochs: float = 1.0
    learning_rate: float = 2e-4
    batch_size: int = 2
    grad_accum: int = 4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    lr_scheduler: str = "linear"
    max_image_width: int = 1024
    max_image_height: int = 128
    seed: int = 3407
    logging_steps: int = 0
    save_steps: int = 0
    eval_steps: int = 0
    eval_lines: int = 32
    early_stopping_patience: int = 0

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> TrainSettings:
        """The settings named in a notebook's parameters (others keep their defaults)."""
        return cls(**{f.name: parameters[f.name] for f in dataclasses.fields(cls) if f.name in parameters})

    @property
    def image_limits(self) -> ImageLimits:
        """The image limits of training, which reading must use too."""
        return ImageLimits(self.max_image_width, self.max_image_height)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        run_dir: ``adapters/<run_name>/`` with the adapter and ``run.json``.
        info: The run record (the content of ``run.json``).
        seconds: Wall time of training.
    """

    run_dir: Path
    info: RunInfo
    seconds: float

    @property
    def log_history(self) -> list[dict[str, Any]]:
        """The trainer's log entries (loss per logging step, ...)."""
        return self.info.log_history


def describe_training(result: TrainResult) -> str:
    """A short summary of a finished run."""
    m = result.info.metrics
    last = m["final_logged_loss"]
    text = (
        f"Run {result.run_dir.name}: {m['steps']} steps in {m['train_seconds']:.0f} s on "
        f"{result.info.device} ({result.info.backend}), mean training loss {m['train_loss']:.4f}, "
        f"last logged loss {'n/a' if last is None else f'{last:.4f}'}."
    )
    if m.get("world_size", 1) > 1:
        text += f"\n{m['world_size']} processes, effective batch {m['effective_batch']} lines per step."
    if m.get("best_step") is not None:
        runs = len(result.info.val_history)
        text += (f"\nValidation: {runs} evaluation(s) in {m['validation_seconds']:.0f} s; best CER "
                 f"{m['best_val_cer']:.4f} at step {m['best_step']}; the saved adapter is step {m['saved_step']}.")
    if m.get("stop_reason"):
        text += f"\nStopped early: {m['stop_reason']}."
    return text + f"\nSaved to {result.run_dir}"


def _progress_callback(on_progress: Callable[..., None], monitor: ValidationMonitor | None) -> Any:
    """A callback that hands the loss log and the validation history to ``on_progress`` as they grow."""
    from transformers import TrainerCallback  # heavy: loaded on use

    class _Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                on_progress(list(state.log_history), list(monitor.history) if monitor else [])

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if monitor and monitor.history and monitor.history[-1]["step"] == state.global_step:
                on_progress(list(state.log_history), list(monitor.history))

    return _Progress()


class _NothingLeft(Exception):
    """The checkpoint resumed from is at the run's last step: its weights are the result, nothing is left to train."""


def _checked_resume(checkpoint: Path) -> Any:
    """A callback that, as training resumes, puts the checkpoint's adapter weights in place and checks each one.

    The trainer loads them through PEFT, whose key renaming loses them for some
    families (see :func:`~inkwell.models.loading.place_adapter_weights`).
    """
    from transformers import TrainerCallback  # heavy: loaded on use

    class _Resume(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):  # type: ignore[no-untyped-def]
            place_adapter_weights(model, checkpoint, model.active_adapter)
            if 0 < state.max_steps <= state.global_step:
                raise _NothingLeft
            return control

    return _Resume()


def out_of_memory_advice(peak_bytes: int, settings: TrainSettings, lora: LoraSettings | None, model_name: str) -> str:
    """What ran out, the settings that drove the memory, and the knobs to turn, in the order to try them."""
    vision = bool(lora and lora.finetune_vision_layers)
    knobs = [
        f"max_image_width = {settings.max_image_width} -> {max(256, settings.max_image_width // 2)} (image tokens "
        "grow with the width; lines stay readable at 512-768 px)",
        f"batch_size = {settings.batch_size} -> {max(1, settings.batch_size // 2)} with grad_accum = "
        f"{settings.grad_accum} -> {settings.grad_accum * 2} (same effective batch, less memory)",
    ]
    if vision:
        knobs.append("finetune_vision_layers = True -> False (no gradients through the vision tower)")
    knobs.append(f"a smaller model than {model_name!r} (e.g. the 3B instead of the 7B, or load_in_4bit = True)")
    return (
        f"The GPU ran out of memory while training (peak {peak_bytes / 2**30:.2f} GiB allocated) with batch_size = "
        f"{settings.batch_size}, grad_accum = {settings.grad_accum}, images up to {settings.max_image_width} x "
        f"{settings.max_image_height} px, finetune_vision_layers = {vision}, lora_r = {lora.lora_r if lora else '?'}. "
        "Lower these in 02_finetune's parameters, in this order:\n- " + "\n- ".join(knobs)
        + "\nThe interrupted run's folder (.partial) is kept; nothing else was written."
    )


@contextmanager
def adapter_dtype_kept(model: Any) -> Iterator[None]:
    """Inside the block, the trainable weights keep their dtype: afterwards each is its own tensor again.

    TRL's ``SFTTrainer`` casts every trainable weight of a 4-bit model to bfloat16 as it is
    built; Unsloth removes that cast and trains LoRA in float32. Putting the original
    tensors back (not a copy rounded through bfloat16) gives the transformers backend the
    same LoRA weights as Unsloth's.
    """
    kept = {name: param.data for name, param in model.named_parameters() if param.requires_grad}
    try:
        yield
    finally:
        for name, param in model.named_parameters():
            if name in kept and param.data is not kept[name]:
                param.data = kept[name]


def _trainer_class() -> type:
    """SFTTrainer that computes the loss from the model's own logits on a CPU.

    TRL's default loss path runs a fused LM-head kernel that needs a GPU; on
    a CPU the loss comes from ``transformers.Trainer.compute_loss`` with the same
    labels (prompt masked), so both backends optimise the same objective.
    """
    from transformers import Trainer  # heavy: loaded on use
    from trl import SFTTrainer  # heavy: loaded on use

    class InkwellSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
            if inputs["input_ids"].device.type == "cpu":
                out = Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)
            else:
                out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if self.accelerator.num_processes > 1 and (num_items_in_batch is None or not self.model_accepts_loss_kwargs):
                out = _token_weighted(out, inputs["labels"], self.accelerator.num_processes)
            return out

    return InkwellSFTTrainer


def _token_weighted(out: Any, labels: Any, processes: int) -> Any:
    """A process's mean loss over its answer tokens, rescaled so that DDP's mean over processes is the mean over all.

    Each process averages over its own tokens and DDP averages the processes, which weighs a
    short batch like a long one; weighting by this process's share of the tokens of the
    global batch gives the loss (and the gradients) one process would get on the whole
    global batch, so training on N processes follows training on one.
    """
    mine = (labels[..., 1:] != -100).sum()  # the tokens the shifted causal-LM loss counts
    total = sum_over_processes(mine).clamp(min=1)
    scale = (mine * processes).to(_dtype_of(out)) / total.to(_dtype_of(out))
    if isinstance(out, tuple):
        return (out[0] * scale, *out[1:])
    return out * scale


def _dtype_of(out: Any) -> Any:
    """The dtype of a loss (or of the first item of ``(loss, outputs)``)."""
    return (out[0] if isinstance(out, tuple) else out).dtype


def _use_loss_bar(trainer: Any, cpu: bool) -> Any:
    """Replace the trainer's progress output by one bar with the latest loss (a final line stays in a notebook).

    On a CPU, a line above the bar gives the cores, their load and the thread setting, and is rewritten once
    if the machine becomes busy (load above its cores) while training: CPU training then runs several times
    slower. Returns the callback (its ``close()`` ends the bar if training stops on an error).
    """
    import torch  # heavy: loaded on use
    from transformers import PrinterCallback, TrainerCallback  # heavy: loaded on use

    class _LossBar(TrainerCallback):
        bar: Any = None
        note: Any = None  # the machine line's display handle in a notebook
        busy_said = False
        checked = 0.0

        def _check_machine(self) -> None:
            if not cpu or self.busy_said or time.monotonic() - self.checked < 5:
                return
            self.checked = time.monotonic()
            load = machine_load(torch.get_num_threads())
            if load is None:
                return
            if self.bar is None:  # training begins: the line is shown busy or not
                self.note = show_note(load.text())
            elif load.busy:
                self.note = show_note(load.text(), self.note)
            self.busy_said = load.busy

        def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self._check_machine()
            self.bar = progress_bar(state.max_steps, "training", "step", initial=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.bar.update(state.global_step - self.bar.n)
            self._check_machine()

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

        def on_train_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            self.close()

        def close(self) -> None:
            if self.bar is not None:
                self.bar.close()

    trainer.remove_callback(PrinterCallback)
    callback = _LossBar()
    if is_main_process():  # one bar for the run, not one per process
        trainer.add_callback(callback)
    return callback


def train_adapter(
    loaded: LoadedModel,
    train_dataset: datasets.Dataset,
    settings: TrainSettings,
    run_dir: str | os.PathLike[str],
    *,
    lora: LoraSettings | None = None,
    parameters: dict[str, Any] | None = None,
    dataset: DatasetInfo | None = None,
    callbacks: Sequence[Any] = (),
    validation: datasets.Dataset | None = None,
    resume: InterruptedRun | None = None,
    on_progress: Callable[[list[dict[str, Any]], list[dict[str, Any]]], None] | None = None,
) -> TrainResult:
    """Fine-tune LoRA adapters with TRL's SFTTrainer and save them.

    The loss covers the answer tokens only (see :class:`~inkwell.models.prompt.LineCollator`).
    The run is written to ``run_dir + ".partial"`` and renamed to ``run_dir`` when
    complete, so an interrupted run never looks finished and an earlier run is
    never overwritten. The name is claimed atomically when training starts: if
    another run took it meanwhile, this one gets ``-2``, ``-3``, ... (the
    result's ``run_dir`` is the folder written). With ``validation``, the lines
    are decoded every ``settings.eval_steps`` steps and at the end (see
    :mod:`inkwell.training.monitor`) and the adapter saved is the best one.

    Started by ``torchrun`` or ``accelerate launch`` (``WORLD_SIZE`` > 1), every process
    calls this with the same arguments: each trains on ``settings.batch_size`` lines of every
    step (the effective batch is ``batch_size x grad_accum x world_size``, recorded in the
    metrics), the main process alone claims and writes the run folder, and every process
    returns the same result.

    Args:
        loaded: A model from :func:`~inkwell.models.loading.load_model` with LoRA from :func:`~inkwell.models.loading.add_lora`.
        train_dataset: Rows with ``image`` and ``text``.
        settings: Optimiser settings.
        run_dir: Target folder from :func:`~inkwell.models.runs.new_run_dir`.
        lora: The LoRA settings used (recorded in ``run.json``).
        parameters: The notebook's parameters (recorded in ``run.json`` beside the settings).
        dataset: The data set trained on (recorded in ``run.json``).
        callbacks: Extra ``transformers.TrainerCallback`` objects (the GPU benchmark times steps with one).
        validation: Validation rows (``image``, ``text``, ``id``); the first ``settings.eval_lines`` are decoded.
        resume: An interrupted run (:func:`~inkwell.models.runs.find_interrupted`) to continue from its newest
            checkpoint, in its own folder, to the same ``max_steps``; ``run_dir`` is then not used.
        on_progress: Called with (loss log so far, validation history so far) at each logged step and
            evaluation, e.g. a :class:`~inkwell.views.plots.LiveLossPlot` that redraws one figure in place.

    Raises:
        OutOfGpuMemory: The GPU ran out of memory (the message says what to lower).
        ValueError: ``resume`` names a run without a checkpoint.

    Returns:
        A :class:`TrainResult`.
    """
    quiet_known_warnings()
    import torch  # heavy: loaded on use
    from trl import SFTConfig  # heavy: loaded on use

    started = now_iso()
    cuda = loaded.device == "cuda"
    dtype = compute_dtype(loaded.family, torch.cuda.is_bf16_supported()) if cuda else "float32"
    processes = start_distributed(cuda)
    main = is_main_process()
    log_every = settings.logging_steps or (max(1, settings.max_steps // 50) if settings.max_steps > 0 else 10)
    if resume is not None:
        if resume.checkpoint is None:
            raise ValueError(f"resume: {resume.describe()}; it has no checkpoint to continue from.")
        final, staging = resume.path.with_name(resume.name), resume.path
        resume.remove_damaged()  # checkpoints newer than the one resumed from were cut short by the crash
    elif main:
        publish_saved_runs(Path(run_dir).parent)  # a run killed while being moved into place finishes first
        final = reserve_folder(Path(run_dir))  # a name taken meanwhile (another run, same moment) gets -2, -3, ...
        staging = final.with_name(final.name + PARTIAL_SUFFIX)
    else:
        final = staging = Path(run_dir)  # replaced by the main process's choice below
    final, staging = broadcast_from_main((final, staging))  # one folder for the run, chosen by the main process
    folder = atomic_folder(final, staging=staging, keep_on_error=True, reserved=True) if main else nullcontext(staging)
    with folder as partial:
        args = SFTConfig(
            output_dir=str(partial / "checkpoints"),
            per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.grad_accum,
            max_steps=settings.max_steps if settings.max_steps > 0 else -1,
            num_train_epochs=settings.num_epochs,
            learning_rate=settings.learning_rate,
            lr_scheduler_type=settings.lr_scheduler,
            warmup_steps=settings.warmup_steps,
            weight_decay=settings.weight_decay,
            logging_steps=log_every,
            seed=settings.seed,
            data_seed=settings.seed,
            bf16=dtype == "bfloat16",
            fp16=dtype == "float16",
            optim="adamw_8bit" if cuda else "adamw_torch",
            save_strategy="steps" if settings.save_steps > 0 else "no",
            save_steps=settings.save_steps or 500,
            save_total_limit=2,
            report_to="none",
            use_cpu=not cuda,  # on a CPU, several processes are DDP over gloo (accelerate's MULTI_CPU)
            ddp_backend=None if cuda or processes == 1 else "gloo",
            remove_unused_columns=False,
            dataset_kwargs={"skip_prepare_dataset": True},
            max_length=None,
            dataloader_num_workers=0,
            dataloader_pin_memory=cuda,
            disable_tqdm=True,  # one compact bar from _LossBar instead of a table row per logged step
            # Unsloth applies its own checkpointing; transformers on a GPU needs it to fit a 16 GB card
            # (unless switched off at loading); on a CPU it only costs time
            gradient_checkpointing=cuda and loaded.backend != "unsloth" and loaded.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        collator = LineCollator(loaded.processor, loaded.family, settings.image_limits)
        if loaded.backend == "unsloth":
            from unsloth import FastVisionModel  # needs a GPU

            FastVisionModel.for_training(
                loaded.model, use_gradient_checkpointing="unsloth" if loaded.gradient_checkpointing else False)
        else:
            loaded.model.train()
        with adapter_dtype_kept(loaded.model):  # as under Unsloth: no bf16 cast of LoRA on a 4-bit base
            trainer = _trainer_class()(
                model=loaded.model,
                args=args,
                train_dataset=train_dataset,
                data_collator=collator,
                processing_class=loaded.processor,
            )
        loaded.quantization = layout_of(loaded.model)
        loss_bar = _use_loss_bar(trainer, cpu=not cuda)
        monitor = None
        if validation is not None and settings.eval_lines > 0 and len(validation) > 0:
            lines = validation.select(range(min(settings.eval_lines, len(validation))))
            monitor = ValidationMonitor(loaded, lines, settings.image_limits, settings.early_stopping_patience)
            trainer.add_callback(validation_callback(monitor, settings.eval_steps))
            if resume is not None:
                monitor.load_state(resume.checkpoint)
        if resume is not None:
            trainer.add_callback(_checked_resume(resume.checkpoint))
        if on_progress is not None:
            trainer.add_callback(_progress_callback(on_progress, monitor))
        for callback in callbacks:
            trainer.add_callback(callback)
        t0 = time.perf_counter()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        try:
            output = trainer.train(resume_from_checkpoint=str(resume.checkpoint) if resume else None)
        except _NothingLeft:  # resumed from the last step's checkpoint: the trainer would run one step too many
            losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
            output = SimpleNamespace(training_loss=sum(losses) / len(losses) if losses else float("nan"))
        except torch.cuda.OutOfMemoryError as exc:
            peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
            raise OutOfGpuMemory(out_of_memory_advice(peak, settings, lora, loaded.model_name)) from exc
        finally:
            loss_bar.close()  # an error leaves the bar's final line ("stopped at"), not a bar that runs on
        seconds = time.perf_counter() - t0
        barrier()  # every process has written its checkpoint share before the main one moves the folder
        steps = int(trainer.state.global_step)
        if monitor is not None:
            monitor.restore_best()  # the saved adapter is the one with the lowest validation CER
        if main:
            loaded.model.save_pretrained(str(partial))
            write_manifest(partial, ["adapter_config.json", "adapter_model.safetensors"])  # refused if damaged later
        history = [dict(e) for e in trainer.state.log_history]
        info = RunInfo(
            run_name=final.name,
            base_model=loaded.model_name,
            family=loaded.family.name,
            backend=loaded.backend,
            backend_reason=loaded.reason,
            quantized_4bit=loaded.quantized_4bit,
            loaded_model=loaded.loaded_name,
            quantization=loaded.quantization.to_dict() if loaded.quantization else {},
            device=loaded.device,
            threads=torch.get_num_threads(),
            prompt=loaded.family.instruction,
            train_lines=len(train_dataset),
            parameters={**(dataclasses.asdict(lora) if lora else {}), **dataclasses.asdict(settings),
                        **(parameters or {})},
            metrics={
                "train_loss": float(output.training_loss),
                "final_logged_loss": next((e["loss"] for e in reversed(history) if "loss" in e), None),
                "steps": steps,
                "train_seconds": round(seconds, 2),
                "best_step": monitor.best_step if monitor else None,
                "best_val_cer": monitor.best_cer if monitor else None,
                "saved_step": monitor.best_step if monitor and monitor.best_step is not None else steps,
                "stop_reason": monitor.stop_reason if monitor else "",
                "validation_seconds": round(sum(e["seconds"] for e in monitor.history), 2) if monitor else 0.0,
                "peak_gpu_bytes": int(torch.cuda.max_memory_allocated()) if cuda else None,
                "resumed_from_step": resume.last_step if resume else None,
                "world_size": processes,
                "effective_batch": settings.batch_size * settings.grad_accum * processes,
            },
            val_history=list(monitor.history) if monitor else [],
            log_history=history,
            versions=library_versions(),
            started=started,
            finished=now_iso(),
            dataset=dataset,
        )
        if main:
            info.save(partial)
            shutil.rmtree(partial / "checkpoints", ignore_errors=True)  # after run.json: until then it can resume
    return TrainResult(final, info, seconds)
