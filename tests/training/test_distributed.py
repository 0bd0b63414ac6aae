"""scripts/train.py: 02_finetune's parameters on the command line, and DDP under torchrun on CPUs (gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import helpers
from inkwell.workflow.validate import ParameterError

ROOT = Path(helpers.PROJECT_ROOT)
SCRIPT = ROOT / "scripts" / "train.py"


def test_defaults_are_the_notebooks_parameters_cell() -> None:
    params = helpers.notebook_parameters("02_finetune")
    assert list(params)[:3] == ["model_name", "dataset_name", "run_name"]
    assert params["max_steps"] == 60 and params["learning_rate"] == 2e-4 and params["load_in_4bit"] is True
    assert "lora_r = 16  # LoRA rank" in helpers.describe_parameters("02_finetune")


def test_overrides_are_literals_and_unknown_names_are_refused() -> None:
    defaults = {"max_steps": 60, "run_name": "", "load_in_4bit": True, "learning_rate": 2e-4, "backend": "auto"}
    got = helpers.parse_overrides(["-p", "max_steps", "6", "-p", "run_name", "007", "--parameter", "load_in_4bit",
                                   "False", "-p", "learning_rate", "1e-3", "-p", "backend", "transformers"], defaults)
    assert got == {"max_steps": 6, "run_name": "007", "load_in_4bit": False, "learning_rate": 1e-3,
                   "backend": "transformers"}
    assert list(got) == list(defaults)
    with pytest.raises(ParameterError, match="max_step.*the parameters are max_steps, run_name"):
        helpers.parse_overrides(["-p", "max_step", "6"], defaults)
    with pytest.raises(ParameterError, match="-p NAME VALUE"):
        helpers.parse_overrides(["max_steps", "6"], defaults)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains(
    home: Path, tiny_qwen25: Path, synthetic: helpers.SyntheticSet
) -> None:
    """torchrun, 2 processes x 2 lines per step vs 1 process x 4 lines, same seed: one run folder, the same adapter.

    Both see the same lines at each step: the sampler's order comes from the seed in every
    process, and accelerate hands process k the k-th batch of each group of N, so the 2 x 2
    lines of a step are the 4 lines one process takes. Each process's loss is weighted by its
    share of the step's answer tokens, so the averaged gradient is the one-process gradient;
    what is left is float rounding (sums in another order), measured at ~1e-6 on weights of
    ~0.1 after 4 AdamW steps.
    """
    import torch
    from safetensors.torch import load_file

    helpers.prepare_dataset(synthetic.labels, dataset_name="ddp", progress=False)
    args = ["-p", "model_name", str(tiny_qwen25), "-p", "dataset_name", "ddp", "-p", "max_steps", "4",
            "-p", "warmup_steps", "0", "-p", "grad_accum", "1", "-p", "learning_rate", "1e-3",
            "-p", "lr_scheduler", "constant", "-p", "max_image_width", "256", "-p", "max_image_height", "32",
            "-p", "eval_lines", "2", "-p", "eval_steps", "2", "-p", "save_steps", "2", "-p", "seed", "11"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "INKWELL_HOME": str(home)}
    torchrun = Path(sys.executable).with_name("torchrun")
    runs, seconds = {}, {}
    for name, command in {
        "two": [str(torchrun), "--nproc_per_node", "2", "--master_port", str(_free_port()), str(SCRIPT),
                *args, "-p", "batch_size", "2", "-p", "run_name", "ddp-two"],
        "one": [sys.executable, str(SCRIPT), *args, "-p", "batch_size", "4", "-p", "run_name", "ddp-one"],
    }.items():
        t0 = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        seconds[name] = time.perf_counter() - t0
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = done.stdout
    print(f"torchrun 2 processes: {seconds['two']:.1f} s; 1 process: {seconds['one']:.1f} s")

    adapters = home / "adapters"
    assert sorted(p.name for p in adapters.iterdir() if p.name.startswith(("ddp", ".ddp"))) == ["ddp-one", "ddp-two"]
    assert runs["two"].count("Run ddp-two:") == 1 and "2 processes, effective batch 4" in runs["two"]
    one, two = (json.loads((adapters / f"ddp-{n}" / "run.json").read_text()) for n in ("one", "two"))
    assert (two["metrics"]["world_size"], two["metrics"]["effective_batch"]) == (2, 4)
    assert (one["metrics"]["world_size"], one["metrics"]["effective_batch"]) == (1, 4)
    assert sorted(os.listdir(adapters / "ddp-two")) == sorted(os.listdir(adapters / "ddp-one"))  # no checkpoints left
    assert two["validation"] is not None and len(two["val_history"]) == 2  # rank 0 checked and validated
    same = {k: v for k, v in one["parameters"].items() if k not in ("batch_size", "run_name")}
    assert same == {k: v for k, v in two["parameters"].items() if k not in ("batch_size", "run_name")}

    # the losses logged per step and the saved weights are the one-process ones, up to float rounding
    losses = [[e["loss"] for e in r["log_history"] if "loss" in e] for r in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    a, b = (load_file(str(adapters / f"ddp-{n}" / "adapter_model.safetensors")) for n in ("one", "two"))
    assert a.keys() == b.keys()
    scale = max(t.abs().max().item() for t in a.values())
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"adapter max abs diff {diff:.2e} (largest weight {scale:.3f})")
    assert diff <= 1e-4 * scale  # measured ~1e-6 / 0.13 = 8e-6 relative
    assert all(torch.isfinite(t).all() for t in b.values())
