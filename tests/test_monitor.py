"""inkwell.monitor through train_adapter: validation CER while training, the best adapter kept, early stopping."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

import helpers
from inkwell.decode import max_new_tokens_for
from inkwell.evaluate import score_lines, system_metrics


def _lines(synthetic: helpers.SyntheticSet, start: int, stop: int) -> datasets.Dataset:
    rows = synthetic.labels.read_text(encoding="utf-8").splitlines()[1:][start:stop]
    files = [str(synthetic.labels.parent / r.split(",")[0]) for r in rows]
    return datasets.Dataset.from_dict(
        {"image": files, "text": [r.split(",")[1] for r in rows], "id": [r.split(",")[0] for r in rows]}
    ).cast_column("image", datasets.Image())


def _settings(**kw: object) -> helpers.TrainSettings:
    base = dict(max_steps=30, learning_rate=3e-3, batch_size=4, grad_accum=1, warmup_steps=0, lr_scheduler="constant",
                max_image_height=32, max_image_width=256, logging_steps=5, seed=0, eval_steps=10, eval_lines=4)
    return helpers.TrainSettings(**{**base, **kw})


def test_validation_history_and_the_best_adapter_is_the_saved_one(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    train, val = _lines(synthetic, 0, 8), _lines(synthetic, 40, 44)
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
    train, val = _lines(synthetic, 0, 8), _lines(synthetic, 40, 44)
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
    result = helpers.train_adapter(loaded, _lines(synthetic, 0, 8), _settings(max_steps=4, eval_lines=0),
                                   tmp_path / "run", validation=_lines(synthetic, 40, 44))
    m = result.info.metrics
    assert result.info.val_history == [] and m["best_step"] is None and m["saved_step"] == 4


def test_two_runs_with_one_name_at_the_same_moment_both_finish(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from trl import SFTConfig, SFTTrainer  # noqa: F401 - imported once here: lazy imports are not thread safe

    def one_run(seed: int) -> Path:
        loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), helpers.LoraSettings(seed=seed))
        settings = _settings(max_steps=2, eval_lines=0, seed=seed)
        return helpers.train_adapter(loaded, _lines(synthetic, 0, 4), settings, tmp_path / "same").run_dir

    with ThreadPoolExecutor(2) as pool:
        dirs = list(pool.map(one_run, [1, 2]))
    assert sorted(d.name for d in dirs) == ["same", "same-2"]
    assert all((d / "adapter_model.safetensors").exists() and (d / "run.json").exists() for d in dirs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same", "same-2"]  # no partial folder left behind


def test_out_of_gpu_memory_names_the_knobs_in_order(
    tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path
) -> None:
    """A GPU out-of-memory error during training becomes advice: the peak, the settings, what to lower first."""
    import torch
    from transformers import TrainerCallback

    from inkwell.train import OutOfGpuMemory

    class Boom(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    lora = helpers.LoraSettings(finetune_vision_layers=True)
    loaded = helpers.add_lora(helpers.load_model(str(tiny_qwen25)), lora)
    settings = _settings(max_steps=2, eval_lines=0, batch_size=4, grad_accum=2, max_image_width=1024)
    with pytest.raises(OutOfGpuMemory) as caught:
        helpers.train_adapter(loaded, _lines(synthetic, 0, 4), settings, tmp_path / "oom", lora=lora, callbacks=[Boom()])
    message = str(caught.value)
    order = [message.index(k) for k in ("max_image_width = 1024 -> 512", "batch_size = 4 -> 2 with grad_accum = 2 -> 4",
                                        "finetune_vision_layers = True -> False", "a smaller model")]
    assert order == sorted(order) and "peak" in message
    assert (tmp_path / "oom.partial").is_dir() and not (tmp_path / "oom").exists()
