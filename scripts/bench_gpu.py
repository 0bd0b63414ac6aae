"""Inkwell on a GPU: its Unsloth path, its transformers + PEFT + bitsandbytes path and a bare Unsloth loop, in one table.

    python scripts/bench_gpu.py                       # Qwen2.5-VL 3B and 7B at real size, all three paths (CUDA GPU)
    python scripts/bench_gpu.py --sizes 7B --steps 30 --json bench.json
    python scripts/bench_gpu.py --smoke               # the same code on the tiny model on a CPU (tested in CI)

For each size a random-weight model with the published dimensions of the real checkpoint (inkwell.models.published: same
layers, widths, vocabulary size and special token ids; a character-level tokenizer) is built once in --models-dir,
without any download. Training data are synthetic lines at the 02_finetune image limit (1024 x 128 px by default).
Each path then runs in a process of its own, so that Unsloth's patches never reach the transformers path and each
peak-memory figure starts from zero:

  unsloth       Inkwell's functions as 02_finetune calls them (load_model, add_lora, train_adapter), backend "unsloth"
  transformers  the same functions with backend "transformers": transformers + PEFT + bitsandbytes 4-bit
  bare-unsloth  a loop written the way Unsloth's own vision notebooks write it (UnslothVisionDataCollator, SFTTrainer),
                to measure what Inkwell's own collation and bookkeeping cost

All three use the same data (the same pixels: every line fitted once by Inkwell's prepare_image, which both collators
then leave as it is), seed, LoRA rank and target modules, batch and schedule. Reported per path: seconds to
load (model + LoRA), training samples per second after the warm-up steps, peak GPU memory during training
(torch.cuda.max_memory_allocated and max_memory_reserved), the loss at every step, and for Inkwell's paths batched
decoding in lines per second at batch 1, 8 and 32, each size warmed up first (random weights never end a line early,
so every line decodes --max-new-tokens tokens). A path that cannot run here is reported as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

PATHS = ("unsloth", "transformers", "bare-unsloth")
SMOKE_FAMILY = "qwen2_5_vl"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3B,7B", help="published sizes of Qwen2.5-VL to build (inkwell.models.published)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"which of {', '.join(PATHS)} to run")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per path")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of samples per second")
    parser.add_argument("--batch-size", type=int, default=2, help="lines per batch (02_finetune default)")
    parser.add_argument("--grad-accum", type=int, default=4, help="batches per optimiser step (02_finetune default)")
    parser.add_argument("--width", type=int, default=1024, help="line image width, px (02_finetune max_image_width)")
    parser.add_argument("--height", type=int, default=128, help="line image height, px (02_finetune max_image_height)")
    parser.add_argument("--decode-batches", default="1,8,32", help="batch sizes of the decoding measurement")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens decoded per line")
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank (02_finetune default)")
    parser.add_argument("--seed", type=int, default=3407, help="seed of data order and LoRA")
    parser.add_argument("--models-dir", default=os.path.join(tempfile.gettempdir(), "inkwell-bench-models"),
                        help="where the random-weight models are built once and reused")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per path")
    parser.add_argument("--json", default="", help="also write every figure (losses included) to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny model, CPU, few steps: proves the script runs")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="", help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.steps, args.warmup, args.grad_accum, args.max_new_tokens = "tiny", 4, 1, 1, 8
    if args.warmup >= args.steps:
        parser.error(f"--warmup ({args.warmup}) must be smaller than --steps ({args.steps})")
    return args


# ---------------------------------------------------------------- data


def bench_lines(n: int, width: int, height: int, seed: int) -> tuple[list[Any], list[str]]:
    """``n`` synthetic handwriting lines, each scaled into a white ``width`` x ``height`` canvas, and their texts."""
    import random

    from PIL import Image

    import helpers

    rng = random.Random(seed)
    images, texts = [], []
    for _ in range(n):
        text = rng.choice(helpers.DEMO_PHRASES)
        line = helpers.render_line(text, rng).convert("RGB")
        scale = min(width / line.width, height / line.height)
        line = line.resize((max(1, int(line.width * scale)), max(1, int(line.height * scale))))
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(line, (0, (height - line.height) // 2))
        images.append(canvas)
        texts.append(text)
    return images, texts


def fed_images(images: list[Any], width: int, height: int) -> list[Any]:
    """The pixels every path is fed: each line fitted by Inkwell's ``prepare_image`` under the run's image limits.

    Both collators then leave them as they are (Inkwell's fits an image that already fits to itself, the bare
    loop's runs with ``resize="max"``), so the vision tower sees the same image tokens on every path. The bare
    loop's ``resize=(width, height)`` would set each canvas to exactly 1024 x 128, which Qwen's ``smart_resize``
    rounds up to 1036 x 140 (185 image tokens) where Inkwell feeds 896 x 112 (128 tokens).
    """
    from inkwell.models.families import FAMILIES
    from inkwell.models.prompt import ImageLimits, prepare_image

    return [prepare_image(im, FAMILIES[SMOKE_FAMILY], ImageLimits(width, height)) for im in images]


def bare_rows(images: list[Any], texts: list[str], instruction: str) -> list[dict[str, Any]]:
    """Training rows in the messages layout of Unsloth's vision notebooks."""
    return [
        {"messages": [
            {"role": "user", "content": [{"type": "image", "image": im}, {"type": "text", "text": instruction}]},
            {"role": "assistant", "content": [{"type": "text", "text": text}]},
        ]}
        for im, text in zip(images, texts)
    ]


def bare_collator(model: Any, processor: Any) -> Any:
    """Unsloth's vision collator as its notebooks build it, leaving the already fitted images as they are."""
    from unsloth.trainer import UnslothVisionDataCollator

    return UnslothVisionDataCollator(model, processor, resize="max")


# ---------------------------------------------------------------- measuring


def decode_rates(decode: Any, lines: list[Any], batches: list[int]) -> dict[str, float]:
    """Lines per second of ``decode(lines, batch_size)`` at each batch size, each warmed up at its own size first.

    Unsloth marks the batch dimension static, so the first call at a new batch size may compile or capture;
    that one-off cost is paid by a warm-up call of one batch at that size, outside the timing.
    """
    rates = {}
    for b in batches:
        decode(lines[:b], b)  # warm-up at this batch size
        t0 = time.perf_counter()
        decode(lines, b)
        rates[str(b)] = len(lines) / (time.perf_counter() - t0)
    return rates


def _step_timer(warmup: int) -> Any:
    """A TrainerCallback that records the time at the end of every optimiser step (after a CUDA sync)."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())

        def samples_per_second(self, lines_per_step: int) -> float:
            timed = self.times[warmup - 1 :]
            return (len(timed) - 1) * lines_per_step / (timed[-1] - timed[0]) if len(timed) > 1 else 0.0

    return StepTimer()


def _reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak() -> dict[str, float]:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"peak_allocated_gib": torch.cuda.max_memory_allocated() / 1024**3,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / 1024**3}


def _losses(history: list[dict[str, Any]]) -> list[list[float]]:
    return [[e["step"], e["loss"]] for e in history if "loss" in e]


def run_inkwell(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    """Train and decode through the functions 02_finetune and 03_evaluate call."""
    import datasets
    import torch

    import helpers

    images, texts = bench_lines(args.steps * args.batch_size * args.grad_accum, args.width, args.height, args.seed)
    images = fed_images(images, args.width, args.height)
    train = datasets.Dataset.from_dict({"image": images, "text": texts})
    lora = helpers.LoraSettings(lora_r=args.lora_r, lora_alpha=args.lora_r, seed=args.seed)
    settings = helpers.TrainSettings(
        max_steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, warmup_steps=args.warmup,
        max_image_width=args.width, max_image_height=args.height, seed=args.seed, logging_steps=1,
    )
    t0 = time.perf_counter()
    loaded = helpers.add_lora(helpers.load_model(args.model, load_in_4bit=True, backend=backend), lora)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    load_seconds = time.perf_counter() - t0
    timer = _step_timer(args.warmup)
    _reset_peak()
    with tempfile.TemporaryDirectory() as tmp:
        result = helpers.train_adapter(loaded, train, settings, Path(tmp) / "run", lora=lora, callbacks=[timer])
    out: dict[str, Any] = {
        "backend": loaded.backend, "device": loaded.device, "quantized_4bit": loaded.quantized_4bit,
        "reason": loaded.reason, "load_seconds": load_seconds, "train_seconds": result.seconds,
        "samples_per_second": timer.samples_per_second(args.batch_size * args.grad_accum),
        "losses": _losses(result.log_history), **_peak(),
    }
    batches = [int(b) for b in args.decode_batches.split(",")]
    lines = [images[i % len(images)] for i in range(max(batches))]  # the training lines, repeated as needed
    limits = settings.image_limits
    kwargs = dict(limits=limits, max_new_tokens=args.max_new_tokens, repetition_guard=False, progress=False)
    out["decode_lines_per_second"] = decode_rates(
        lambda some, b: helpers.predict_lines(loaded, some, batch_size=b, **kwargs), lines, batches)
    return out


def run_bare_unsloth(args: argparse.Namespace) -> dict[str, Any]:
    """The loop of Unsloth's vision notebooks: FastVisionModel, UnslothVisionDataCollator, SFTTrainer."""
    import torch
    from unsloth import FastVisionModel  # noqa: I001  (unsloth first: it patches trl and transformers)
    from trl import SFTConfig, SFTTrainer

    import helpers

    images, texts = bench_lines(args.steps * args.batch_size * args.grad_accum, args.width, args.height, args.seed)
    images = fed_images(images, args.width, args.height)
    t0 = time.perf_counter()
    model, processor = FastVisionModel.from_pretrained(args.model, load_in_4bit=True,
                                                       use_gradient_checkpointing="unsloth")
    family = helpers.FAMILIES[SMOKE_FAMILY]
    lora = helpers.LoraSettings(lora_r=args.lora_r, lora_alpha=args.lora_r, seed=args.seed)
    model = FastVisionModel.get_peft_model(
        model, r=args.lora_r, lora_alpha=args.lora_r, lora_dropout=0, bias="none", random_state=args.seed,
        target_modules=lora.target_regex(family),
    )
    torch.cuda.synchronize()
    load_seconds = time.perf_counter() - t0
    rows = bare_rows(images, texts, family.instruction)
    FastVisionModel.for_training(model)
    timer = _step_timer(args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = SFTTrainer(
            model=model,
            processing_class=processor,
            data_collator=bare_collator(model, processor),
            train_dataset=rows,
            callbacks=[timer],
            args=SFTConfig(
                per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
                warmup_steps=args.warmup, max_steps=args.steps, learning_rate=2e-4, logging_steps=1,
                optim="adamw_8bit", weight_decay=0.0, lr_scheduler_type="linear", seed=args.seed,
                data_seed=args.seed, output_dir=tmp, report_to="none", save_strategy="no",
                bf16=torch.cuda.is_bf16_supported(), fp16=not torch.cuda.is_bf16_supported(),
                remove_unused_columns=False, dataset_text_field="", dataset_kwargs={"skip_prepare_dataset": True},
                max_length=2048,
            ),
        )
        _reset_peak()
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
    return {
        "backend": "unsloth (bare loop)", "device": "cuda", "quantized_4bit": True, "reason": "Unsloth's notebook loop",
        "load_seconds": load_seconds, "train_seconds": seconds,
        "samples_per_second": timer.samples_per_second(args.batch_size * args.grad_accum),
        "losses": _losses(trainer.state.log_history), **_peak(),
    }


def worker(args: argparse.Namespace) -> int:
    """Run one path in this process and write its figures to ``--result``."""
    import torch

    from inkwell.models.runs import library_versions

    try:
        out = run_bare_unsloth(args) if args.worker == "bare-unsloth" else run_inkwell(args, args.worker)
        out["status"] = "ok"
    except Exception as exc:  # report the failure in the table instead of losing the other paths
        out = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
               "traceback": traceback.format_exc()}
    out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    out["versions"] = library_versions()
    Path(args.result).write_text(json.dumps(out, indent=1))
    return 0


# ---------------------------------------------------------------- orchestration


def skip_reason(path: str) -> str:
    """Why a path cannot run on this machine ('' when it can)."""
    import importlib.util

    import torch

    if path in ("unsloth", "bare-unsloth"):
        if not torch.cuda.is_available():
            return "needs a CUDA GPU (import unsloth raises without one)"
        if importlib.util.find_spec("unsloth") is None:
            return "unsloth is not installed"
    if path == "transformers" and torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (4-bit loading needs it)"
    return ""


def build_model(args: argparse.Namespace, size: str) -> Path:
    """The model of one size: the tiny test model in smoke mode, else a random-weight model of published size."""
    import helpers

    folder = Path(args.models_dir) / f"{SMOKE_FAMILY}-{size}"
    if size == "tiny":
        return helpers.build_tiny_model(folder, SMOKE_FAMILY)
    if not (folder / "config.json").exists():  # build in a child process, so its GPU memory is freed
        code = ("import sys, torch; from inkwell.models.tiny import build_published_model; "
                "build_published_model(sys.argv[1], sys.argv[2], device='cuda' if torch.cuda.is_available() else 'cpu')")
        subprocess.run([sys.executable, "-c", code, str(folder), f"{SMOKE_FAMILY}-{size}"], check=True)
    return folder


#: The options a worker process needs, passed on as given.
_WORKER_OPTIONS = ("steps", "warmup", "batch_size", "grad_accum", "width", "height", "decode_batches",
                   "max_new_tokens", "lora_r", "seed")


def run_path(args: argparse.Namespace, path: str, model: Path) -> dict[str, Any]:
    """Run one path in a child process and return its figures."""
    reason = skip_reason(path)
    if reason:
        return {"status": "skipped", "reason": reason}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        options = [x for name in _WORKER_OPTIONS for x in (f"--{name.replace('_', '-')}", str(getattr(args, name)))]
        cmd = [sys.executable, __file__, *options, "--worker", path, "--model", str(model), "--result", str(result)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        try:
            proc = subprocess.run(cmd, env=env, timeout=args.timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"ran past --timeout {args.timeout} s"}
        if not result.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"status": "failed", "reason": f"exit {proc.returncode}: {tail[0][:300]}"}
        return json.loads(result.read_text())


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]], batches: list[str]) -> str:
    """The figures as one aligned text table, with the ratios and the loss agreement under it."""
    head = ["size", "path", "backend", "4-bit", "load s", "samples/s", "peak alloc GiB", "peak resv GiB",
            "loss first", "loss last", *[f"decode b{b} l/s" for b in batches], "status"]
    body = []
    for r in rows:
        losses = r.get("losses") or []
        decode = r.get("decode_lines_per_second", {})
        body.append([
            r["size"], r["path"], r.get("backend", "-"), {True: "yes", False: "no"}.get(r.get("quantized_4bit"), "-"),
            _fmt(r.get("load_seconds"), ".1f"), _fmt(r.get("samples_per_second"), ".2f"),
            _fmt(r.get("peak_allocated_gib"), ".2f"), _fmt(r.get("peak_reserved_gib"), ".2f"),
            _fmt(losses[0][1] if losses else None, ".4f"), _fmt(losses[-1][1] if losses else None, ".4f"),
            *[_fmt(decode.get(b), ".2f") for b in batches],
            r["status"] + (f": {r['reason']}" if r.get("reason") and r["status"] != "ok" else ""),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [""] + comparisons(rows))


def comparisons(rows: list[dict[str, Any]]) -> list[str]:
    """Unsloth / transformers speed and memory, Inkwell / bare-Unsloth overhead, and how far the losses differ."""
    out = []
    for size in dict.fromkeys(r["size"] for r in rows):
        ok = {r["path"]: r for r in rows if r["size"] == size and r["status"] == "ok"}
        un, hf, bare = ok.get("unsloth"), ok.get("transformers"), ok.get("bare-unsloth")
        if un and hf:
            speed = un["samples_per_second"] / hf["samples_per_second"]
            memory = (un.get("peak_allocated_gib") or 0) / (hf.get("peak_allocated_gib") or float("nan"))
            out.append(f"{size}: Unsloth / transformers: speed x{speed:.2f}, peak memory x{memory:.2f}")
            steps = dict(map(tuple, hf["losses"]))
            diffs = [abs(loss - steps[s]) for s, loss in un["losses"] if s in steps]
            if diffs:
                out.append(f"{size}: loss, Unsloth vs transformers at the same steps: largest difference "
                           f"{max(diffs):.4f}, mean {sum(diffs) / len(diffs):.4f} over {len(diffs)} steps")
        if un and bare:
            out.append(f"{size}: Inkwell / bare Unsloth loop: speed x{un['samples_per_second'] / bare['samples_per_second']:.2f}"
                       f", peak memory x{(un.get('peak_allocated_gib') or 0) / (bare.get('peak_allocated_gib') or float('nan')):.2f}")
        for path, r in ok.items():
            out.append(f"{size} {path} loss per step: " + " ".join(f"{loss:.3f}" for _, loss in r["losses"]))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    paths = [p for p in args.paths.split(",") if p]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        raise SystemExit(f"--paths: unknown {unknown}; choose from {', '.join(PATHS)}")
    rows = []
    for size in args.sizes.split(","):
        t0 = time.perf_counter()
        model = build_model(args, size)
        print(f"[bench] {size}: model ready in {time.perf_counter() - t0:.0f} s at {model}", flush=True)
        for path in paths:
            t0 = time.perf_counter()
            row = {"size": size, "path": path, **run_path(args, path, model)}
            print(f"[bench] {size} {path}: {row['status']} in {time.perf_counter() - t0:.0f} s", flush=True)
            rows.append(row)
    gpu = next((r["gpu"] for r in rows if r.get("gpu")), "-")
    versions = next((r["versions"] for r in rows if r.get("versions")), {})
    print(f"\ndevice: {gpu}; steps {args.steps} (warm-up {args.warmup}), batch {args.batch_size} x {args.grad_accum}, "
          f"images {args.width}x{args.height}, LoRA r {args.lora_r}, decoding {args.max_new_tokens} tokens per line")
    if versions:
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(table(rows, args.decode_batches.split(",")))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1, default=str))
    return 0 if all(r["status"] != "failed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
