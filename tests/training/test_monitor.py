"""inkwell.training.monitor through train_adapter: validation CER while training, the best adapter kept, early stopping."""

from __future__ import annotations

from pathlib import Path

import pytest

import helpers
from builders import synthetic_lines
from inkwell.models.decode import max_new_tokens_for
from inkwell.evaluation.evaluate import score_lines, system_metrics


def _settings(**kw: object) -> helpers.TrainSettings:
    base = dict(max_steps=30, learning_rate=3e-3, batch_size=4, grad_accum=1, warmup_steps=0, lr_scheduler="constant",
                max_image_height=32, max_image_width=256, logging_steps=5, seed=0, eval_steps=10, eval_lines=4)
    return helpers.TrainSettings(**{**base, **kw})


def test_validation_history_and_the_best_adapter_is_the_saved_one(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    train, val = synthetic_lines(synthetic, 0, 8), synthetic_lines(synthetic, 40, 44)
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), helpers.LoraSettings(seed=0))
    settings = _settings()
    result = helpers.train_adapter(loaded, train, settings, tmp_path / "run", validation=val)
    history, m = result.info.val_history, result.info.metrics
    assert [e["step"] for e in history] == [10, 20, 30]
    assert all(set(e) == {"step", "cer", "wer", "seconds"} and e["seconds"] > 0 for e in history)
    best = min(history, key=lambda e: e["cer"])  # the first of equal CERs counts
    assert (m["best_step"], m["best_val_cer"], m["saved_step"]) == (best["step"], pytest.approx(best["cer"]), best["step"])
    assert "best CER" in helpers.describe_training(result)

    # the saved adapter, on a fresh base, reads the validation lines with exactly the best CER
    fresh = helpers.load_adapter(helpers.load_model(str(tiny_qwen25)), result.run_dir)
    refs = list(val["text"])
    preds = helpers.predict_lines(fresh, list(val["image"]), limits=settings.image_limits, progress=False,
                                  max_new_tokens=max_new_tokens_for(fresh.processor, refs))
    cer = system_metrics("v", score_lines(list(val["id"]), refs, [p.text for p in preds])).cer
    assert cer == pytest.approx(m["best_val_cer"], abs=1e-6)


def test_early_stopping_ends_the_run_and_says_why(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    train, val = synthetic_lines(synthetic, 0, 8), synthetic_lines(synthetic, 40, 44)
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), helpers.LoraSettings(seed=0))
    # a learning rate too small to change anything: the CER cannot improve after the first evaluation
    settings = _settings(max_steps=100, learning_rate=1e-12, eval_steps=5, early_stopping_patience=2)
    result = helpers.train_adapter(loaded, train, settings, tmp_path / "run", validation=val)
    m = result.info.metrics
    assert m["steps"] == 15 and [e["step"] for e in result.info.val_history] == [5, 10, 15]
    assert "early stop at step 15" in m["stop_reason"] and "early_stopping_patience" in m["stop_reason"]
    assert "Stopped early" in helpers.describe_training(result)


def test_no_validation_keeps_the_last_weights(tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path) -> None:
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), helpers.LoraSettings(seed=0))
    result = helpers.train_adapter(loaded, synthetic_lines(synthetic, 0, 8), _settings(max_steps=4, eval_lines=0),
                                   tmp_path / "run", validation=synthetic_lines(synthetic, 40, 44))
    m = result.info.metrics
    assert result.info.val_history == [] and m["best_step"] is None and m["saved_step"] == 4


def test_two_runs_with_one_name_at_the_same_moment_both_finish(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    """Two processes (two notebooks) start a run with one name at the same moment: both finish, in two folders."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import sys, datasets, helpers\n"
        "rows = [l.split(',') for l in open(sys.argv[1], encoding='utf-8').read().splitlines()[1:5]]\n"
        "ds = datasets.Dataset.from_dict({'image': [sys.argv[2] + '/' + r[0] for r in rows],"
        " 'text': [r[1] for r in rows]}).cast_column('image', datasets.Image())\n"
        "loaded = helpers.add_lora(helpers.load_model(sys.argv[3]), helpers.LoraSettings(seed=int(sys.argv[5])))\n"
        "s = helpers.TrainSettings(max_steps=2, batch_size=4, grad_accum=1, max_image_height=32,"
        " max_image_width=256, eval_lines=0, seed=int(sys.argv[5]))\n"
        "print(helpers.train_adapter(loaded, ds, s, sys.argv[4]).run_dir)\n"
    )
    args = [str(synthetic.labels), str(synthetic.labels.parent), str(tiny_qwen25), str(tmp_path / "same")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code, *args, str(seed)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for seed in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    dirs = [Path(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(d.name for d in dirs) == ["same", "same-2"]
    assert all(json.loads((d / "run.json").read_text())["run_name"] == d.name for d in dirs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same", "same-2"]  # no partial folder left behind


def test_out_of_gpu_memory_names_the_knobs_in_order(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    """A GPU out-of-memory error during training becomes advice: the peak, the settings, what to lower first."""
    import torch
    from transformers import TrainerCallback

    from inkwell.training.train import OutOfGpuMemory

    class Boom(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    lora = helpers.LoraSettings(finetune_vision_layers=True)
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), lora)
    settings = _settings(max_steps=2, eval_lines=0, batch_size=4, grad_accum=2, max_image_width=1024)
    with pytest.raises(OutOfGpuMemory) as caught:
        helpers.train_adapter(loaded, synthetic_lines(synthetic, 0, 4), settings, tmp_path / "oom", lora=lora, callbacks=[Boom()])
    message = str(caught.value)
    order = [message.index(k) for k in ("max_image_width = 1024 -> 512", "batch_size = 4 -> 2 with grad_accum = 2 -> 4",
                                        "finetune_vision_layers = True -> False", "a smaller model")]
    assert order == sorted(order) and "peak" in message
    assert (tmp_path / "oom.partial").is_dir() and not (tmp_path / "oom").exists()


def test_killed_run_resumes_to_the_same_adapter(tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path) -> None:
    """Kill a run after its step-5 checkpoint, resume it: the adapter equals an uninterrupted run's (same seed)."""
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from inkwell.models.runs import find_interrupted, interrupted_runs

    train, val = synthetic_lines(synthetic, 0, 8), synthetic_lines(synthetic, 40, 42)
    settings = _settings(max_steps=12, save_steps=5, eval_steps=4, eval_lines=2, learning_rate=1e-3)

    def fresh() -> object:
        return helpers.add_lora(helpers.load_model(str(tiny_qwen25)), helpers.LoraSettings(seed=0))

    whole = helpers.train_adapter(fresh(), train, settings, tmp_path / "whole", validation=val)

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step == 7:
                raise KeyboardInterrupt  # what the notebook's stop button does

    with pytest.raises(KeyboardInterrupt):
        helpers.train_adapter(fresh(), train, settings, tmp_path / "cut", validation=val, callbacks=[Kill()])
    [cut] = interrupted_runs(tmp_path)
    assert (cut.name, cut.last_step) == ("cut", 5) and 'resume = "cut"' in cut.describe()
    assert [p.name for p in helpers.find_runs("all", tmp_path)] == ["whole"]  # never counted as finished

    resumed = helpers.train_adapter(fresh(), train, settings, tmp_path / "ignored", validation=val,
                                    resume=find_interrupted("last", tmp_path))
    assert resumed.run_dir == tmp_path / "cut" and not (tmp_path / "cut.partial").exists()
    assert resumed.info.metrics["resumed_from_step"] == 5 and resumed.info.metrics["steps"] == 12
    assert [e["step"] for e in resumed.info.val_history] == [4, 8, 12]
    assert [e["cer"] for e in resumed.info.val_history] == [e["cer"] for e in whole.info.val_history]
    a = load_file(str(whole.run_dir / "adapter_model.safetensors"))
    b = load_file(str(resumed.run_dir / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert interrupted_runs(tmp_path) == []
    assert whole.info.metrics["saved_step"] == resumed.info.metrics["saved_step"] == 12  # the compared weights are the last
