"""inkwell.model and inkwell.tiny: backend choice, loading by folder, the tiny models, the Unsloth imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkwell.model import choose_backend, load_model


def test_choose_backend_without_gpu_says_why() -> None:
    backend, reason, four_bit = choose_backend("auto", load_in_4bit=True)
    assert backend == "transformers" and four_bit is False
    assert "no CUDA GPU" in reason and "full precision" in reason
    with pytest.raises(RuntimeError, match="CUDA"):
        choose_backend("unsloth")


def test_missing_local_model_is_a_clear_error(home: Path) -> None:
    with pytest.raises(FileNotFoundError, match="quickstart"):
        load_model("data/models/does-not-exist")


def test_tiny_model_round_trips(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] in ("qwen2_5_vl", "qwen3_vl")
    loaded = load_model(str(tiny_model))
    assert loaded.backend == "transformers" and loaded.device == "cpu"
    n = sum(p.numel() for p in loaded.model.parameters())
    assert n < 2_000_000


def test_unsloth_branch_imports(tmp_path: Path) -> None:
    """The pinned stack installs with Unsloth and the GPU branch's imports resolve (CPU import check only)."""
    import os
    import subprocess
    import sys

    code = (
        "from unsloth import FastVisionModel; import unsloth, trl, transformers; "
        "assert hasattr(FastVisionModel, 'get_peft_model') and hasattr(FastVisionModel, 'for_inference'); "
        "print(unsloth.__version__, trl.__version__, transformers.__version__)"
    )
    env = {**os.environ, "UNSLOTH_ALLOW_CPU": "1", "HF_HUB_OFFLINE": "1"}
    # run in a scratch folder: importing Unsloth writes a compiled cache into the working directory
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["2026.10.5", "1.15.0", "5.17.0"]
