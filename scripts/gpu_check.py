"""The Unsloth path checked and measured on a lent GPU: every step in order of value, each within its time budget.

Started by scripts/gpu_check.sh (which unpacks the carried kit first); on its own:

    python scripts/gpu_check.py OUT_DIR                       # the whole check (at most --budget seconds, 480)
    python scripts/gpu_check.py OUT_DIR --resume FILE         # skip the steps FILE (an earlier finished.txt) lists
    python scripts/gpu_check.py OUT_DIR --smoke               # the dry run on a CPU: the CUDA-only steps say why not

The steps, most valuable first (a step starts only when its minimum fits in what is left of the budget, and is
stopped at its own budget):

  environment  the GPU, torch, and whether unsloth, trl, datasets, bitsandbytes, jiwer and papermill import
  bench-3B     scripts/bench_gpu.py at the 3B size (15 steps, 4 of them warm-up): Inkwell's Unsloth path, its
               transformers + PEFT + bitsandbytes path and the bare Unsloth loop, decoding at batch 1, 8 and 32
  families     each native family's tiny model trained a few steps through the Unsloth branch: loss and a decode
  notebooks    the quickstart's four notebooks with backend "auto" (Unsloth on the GPU)
  bench-7B     scripts/bench_gpu.py at the 7B size, with what time is left

OUT_DIR receives report.txt (every step: status, seconds, the end of its output), finished.txt (the steps that
finished, one per line: the input of --resume), log.txt (every step's whole output), bench-3B.json, bench-7B.json
and families.json. Both files are rewritten after each step, so a run stopped from outside still leaves them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMOKE_FAMILY = "qwen2_5_vl"
#: Packages the GPU machine lacks and the kit brings (gpu-kit/README.md).
KIT_PACKAGES = ("unsloth", "unsloth_zoo", "trl", "datasets", "bitsandbytes", "jiwer", "papermill", "ipykernel")


@dataclass(frozen=True)
class Step:
    """One step of the check.

    Attributes:
        name: Its name in the report and in finished.txt.
        budget: Seconds it may run (0: all that is left of the whole budget).
        minimum: It is not started with less than this left.
        what: What it runs, in words.
        command: (arguments, step budget) -> the command to run, or the reason it cannot run here.
    """

    name: str
    budget: int
    minimum: int
    what: str
    command: Callable[[argparse.Namespace, int], list[str] | str]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _py(*args: str) -> list[str]:
    return [sys.executable, *args]


def _bench(size: str) -> Callable[[argparse.Namespace, int], list[str] | str]:
    def command(args: argparse.Namespace, budget: int) -> list[str] | str:
        json_file = str(args.out / f"bench-{size}.json")
        if args.smoke:
            if size != "3B":
                return "--smoke runs the tiny size once (as bench-3B)"
            # the paths that need CUDA report themselves skipped; the transformers path's CPU smoke is tests/test_bench_gpu.py
            return _py("scripts/bench_gpu.py", "--smoke", "--paths", "unsloth,bare-unsloth", "--json", json_file)
        # three paths in turn, each in its own process and stopped at its share, so the table survives a hang
        per_path = max(60, (budget - 20) // 3)
        return _py("scripts/bench_gpu.py", "--sizes", size, "--steps", "15", "--warmup", "4", "--json", json_file,
                   "--timeout", str(per_path))

    return command


def _families(args: argparse.Namespace, budget: int) -> list[str] | str:
    return _py(__file__, str(args.out), "--worker", "families", *(["--smoke"] if args.smoke else []))


def _environment(args: argparse.Namespace, budget: int) -> list[str] | str:
    return _py(__file__, str(args.out), "--worker", "environment")


def _notebooks(args: argparse.Namespace, budget: int) -> list[str] | str:
    if not _cuda():
        return "needs a CUDA GPU (backend 'auto' runs Unsloth only there); on a CPU they run in tests/test_notebooks.py"
    # rapidocr is not in the kit: no classic-OCR baseline, and the demo reads line images as lines
    return _py("scripts/quickstart.py", "--steps", "30", "--lines", "64", "--baselines", "", "--demo-mode", "lines")


STEPS = (
    Step("environment", 60, 10, "the GPU, torch and the kit's packages", _environment),
    Step("bench-3B", 300, 150, "bench_gpu.py at 3B: Unsloth, transformers + PEFT, bare Unsloth; decoding at 1/8/32",
         _bench("3B")),
    Step("families", 120, 45, "each native family's tiny model through the Unsloth branch", _families),
    Step("notebooks", 150, 90, "the quickstart's four notebooks, backend auto", _notebooks),
    Step("bench-7B", 0, 150, "bench_gpu.py at 7B with what time is left", _bench("7B")),
)


# ---------------------------------------------------------------- workers (run in a child process each)


def _installed(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_worker() -> int:
    """Print the GPU, torch and each kit package's version and whether it imports; 1 when one is missing on CUDA."""
    import importlib
    import platform

    import torch

    cuda = torch.cuda.is_available()
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"GPU: {torch.cuda.get_device_name(0) if cuda else 'none (no CUDA)'}")
    missing = []
    for name in KIT_PACKAGES:
        version = _installed(name) or "not installed"
        if name in ("unsloth", "unsloth_zoo") and not cuda:
            state = "not imported: needs a CUDA GPU"
        else:
            try:
                importlib.import_module(name)
                state = "imports"
            except Exception as exc:  # report every package, not only the first that fails
                state = f"does not import ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
                missing.append(name)
        print(f"  {name:<13} {version:<14} {state}")
    from inkwell.core.stack import ML_STACK, versus_installed

    installed = {name: found for name in ML_STACK if (found := _installed(name))}
    differ = versus_installed(installed, python=platform.python_version())
    print("the ML stack against requirements.lock: " + ("as locked" if not differ else
          f"{len(differ)} differ, figures are for this stack, not the locked one: " + "; ".join(differ)))
    return 1 if cuda and missing else 0


def _train_lines(n: int, seed: int) -> tuple[list[Any], list[str]]:
    """``n`` synthetic handwriting lines and their texts."""
    import random

    import helpers

    rng = random.Random(seed)
    texts = [rng.choice(helpers.DEMO_PHRASES) for _ in range(n)]
    return [helpers.render_line(t, rng).convert("RGB") for t in texts], texts


def families_worker(out: Path, smoke: bool, steps: int = 5) -> int:
    """Train each native family's tiny model a few steps through the Unsloth branch and decode two lines.

    On a CPU (``--smoke``) one family runs through the transformers backend, so this code runs in CI; the
    others are listed as skipped, with the reason. Exit 0: all ran; 1: one failed; 3: none could run here.
    """
    import datasets
    import torch

    import helpers

    cuda = torch.cuda.is_available()
    rows = []
    models = Path(tempfile.gettempdir()) / "inkwell-gpu-check-models"
    for key in helpers.native_families():
        if not cuda and not (smoke and key == SMOKE_FAMILY):
            why = "needs a CUDA GPU (the Unsloth branch)" + (f"; --smoke trains {SMOKE_FAMILY} alone, through "
                                                              "transformers on the CPU" if smoke else "")
            rows.append({"family": key, "status": "skipped", "reason": why})
            continue
        t0 = time.perf_counter()
        try:
            folder = helpers.build_tiny_model(models / f"tiny-{key}", key)
            loaded = helpers.load_model(str(folder), backend="unsloth" if cuda else "transformers")
            helpers.add_lora(loaded, helpers.LoraSettings(seed=0))
            images, texts = _train_lines(8, 0)
            settings = helpers.TrainSettings(max_steps=1 if smoke else steps, batch_size=2, grad_accum=1,
                                             warmup_steps=0, learning_rate=3e-3, logging_steps=1,
                                             max_image_width=512, max_image_height=64, eval_lines=0)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            with tempfile.TemporaryDirectory() as tmp:
                result = helpers.train_adapter(loaded, datasets.Dataset.from_dict({"image": images, "text": texts}),
                                               settings, Path(tmp) / "run")
            read = helpers.predict_lines(loaded, images[:2], limits=settings.image_limits, max_new_tokens=8,
                                         progress=False)
            rows.append({
                "family": key, "status": "ok", "backend": loaded.backend, "reason": loaded.reason,
                "quantization": loaded.quantization.describe() if loaded.quantization else "",
                "losses": [[e["step"], e["loss"]] for e in result.log_history if "loss" in e],
                "decoded": [p.text for p in read], "seconds": round(time.perf_counter() - t0, 1),
                "peak_allocated_gib": torch.cuda.max_memory_allocated() / 1024**3 if cuda else None,
            })
        except Exception as exc:  # one family's failure is reported; the others still run
            rows.append({"family": key, "status": "failed", "reason": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                         "traceback": traceback.format_exc()[-3000:], "seconds": round(time.perf_counter() - t0, 1)})
    (out / "families.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        losses = r.get("losses") or []
        detail = (f"{r['backend']}, loss {losses[0][1]:.3f} -> {losses[-1][1]:.3f}, decoded {r['decoded']!r}, "
                  f"{r['seconds']} s" if r["status"] == "ok" else r["reason"])
        print(f"  {r['family']:<14} {r['status']:<8} {detail}")
    statuses = {r["status"] for r in rows}
    return 1 if "failed" in statuses else (0 if "ok" in statuses else 3)


# ---------------------------------------------------------------- orchestration


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for report.txt, finished.txt, log.txt and the figures")
    parser.add_argument("--budget", type=int, default=480, help="seconds for the whole check, from --started")
    parser.add_argument("--budgets", default="", help="per-step budgets in seconds, e.g. 'bench-3B=200,families=60'")
    parser.add_argument("--resume", default="", help="an earlier run's finished.txt: its steps are not run again")
    parser.add_argument("--only", default="", help="run only these steps (comma-separated)")
    parser.add_argument("--smoke", action="store_true", help="the dry run on a CPU: tiny sizes, CUDA-only steps skipped")
    parser.add_argument("--kit", default="not said", help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    return args


def _budgets(spec: str) -> dict[str, int]:
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, seconds = item.partition("=")
        if name not in {s.name for s in STEPS} or not seconds.isdigit():
            raise SystemExit(f"--budgets: {item!r} is not STEP=SECONDS with STEP one of {[s.name for s in STEPS]}")
        out[name] = int(seconds)
    return out


def _run(command: list[str], seconds: float, log: Path) -> tuple[str, int | None, str]:
    """Run a step's command for at most ``seconds``; (status, exit code, its output). A step past its budget
    is stopped with every process it started."""
    with tempfile.TemporaryFile("w+") as sink:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        sink.seek(0)
        output = sink.read()
    with log.open("a", encoding="utf-8") as f:
        f.write(f"\n===== {' '.join(command)}\n{output}")
    if code is None:
        return f"stopped at its budget ({seconds:.0f} s)", None, output
    return ("ok" if code == 0 else "skipped" if code == 3 else f"failed (exit {code})"), code, output


def _is_bar(line: str) -> bool:
    """A progress bar's line (kept in log.txt, left out of the report)."""
    return "|" in line and any(unit in line for unit in ("it/s]", "s/it]", "step/s", "?it/s", "?step/s"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        os.chdir(ROOT)
        return environment_worker() if args.worker == "environment" else families_worker(args.out, args.smoke)
    started = args.started or time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    budgets = _budgets(args.budgets)
    only = set(filter(None, args.only.split(",")))
    done_before = set()
    if args.resume:
        done_before = set(Path(args.resume).read_text(encoding="utf-8").split())
    log, report_file, finished_file = args.out / "log.txt", args.out / "report.txt", args.out / "finished.txt"
    log.write_text("", encoding="utf-8")
    header = [f"gpu_check: {'--smoke dry run' if args.smoke else 'full check'}; budget {args.budget} s; {args.kit}"]
    if args.resume:
        header.append(f"resumed: {sorted(done_before) or 'nothing'} finished earlier ({args.resume})")
    blocks: list[str] = []
    finished: list[str] = []

    def write() -> None:
        report_file.write_text("\n".join(header + blocks) + "\n", encoding="utf-8")
        finished_file.write_text("".join(f"{name}\n" for name in finished), encoding="utf-8")

    status_line = []
    for step in STEPS:
        left = args.budget - (time.time() - started)
        if step.name in done_before:
            status, seconds, tail = f"done in the earlier run ({args.resume})", 0.0, ""
            finished.append(step.name)
        elif only and step.name not in only:
            status, seconds, tail = "not asked for (--only)", 0.0, ""
        elif left < min(step.minimum, budgets.get(step.name, step.minimum)):
            status, seconds, tail = f"not started: {left:.0f} s left of the budget, it needs {step.minimum} s", 0.0, ""
        else:
            allowed = min(left, budgets.get(step.name) or step.budget or left)
            command = step.command(args, int(allowed))
            if isinstance(command, str):
                status, seconds, tail = f"skipped: {command}", 0.0, ""
            else:
                t0 = time.time()
                status, _, output = _run(command, allowed, log)
                seconds = time.time() - t0
                tail = "\n".join([line for line in output.rstrip().splitlines() if not _is_bar(line)][-40:])
                if status == "ok":
                    finished.append(step.name)
        blocks.append(f"\n## {step.name}: {status} ({seconds:.0f} s) - {step.what}" + (f"\n{tail}" if tail else ""))
        status_line.append(f"{step.name}: {status}")
        print(f"[gpu_check] {step.name}: {status} ({seconds:.0f} s)", flush=True)
        write()
    blocks.append(f"\ntotal {time.time() - started:.0f} s; finished: {', '.join(finished) or 'none'}")
    write()
    print(report_file.read_text(encoding="utf-8"))
    return 0 if not any(s.split(": ", 1)[1].startswith(("failed", "stopped")) for s in status_line) else 1


if __name__ == "__main__":
    sys.exit(main())
