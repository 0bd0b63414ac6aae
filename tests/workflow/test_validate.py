"""inkwell.workflow.validate: 02_finetune's parameters are refused before anything loads, each refusal naming its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkwell.workflow.validate import ParameterError, check_demo_parameters, check_evaluate_parameters, check_finetune_parameters


@pytest.fixture()
def good(tiny_qwen25: Path, home: Path) -> dict:
    processed = home / "data" / "processed" / "ok-set"
    processed.mkdir(parents=True, exist_ok=True)
    (processed / "dataset_dict.json").write_text('{"splits": ["train", "validation", "test"]}')
    return {"model_name": str(tiny_qwen25), "dataset_name": "ok-set", "max_steps": 60, "num_epochs": 1.0,
            "batch_size": 2, "grad_accum": 4, "learning_rate": 2e-4, "lora_r": 16, "lora_alpha": 16,
            "lora_dropout": 0.0, "max_image_width": 1024, "max_image_height": 128, "lr_scheduler": "linear",
            "backend": "auto", "use_dora": False, "seed": 3407, "trust_remote_code": False}


def test_good_parameters_pass_and_name_the_family(good: dict) -> None:
    assert check_finetune_parameters(good) == "qwen2_5_vl"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("batch_size", 0, "batch_size = 0: must be an integer from 1 to 4096"),
        ("batch_size", 2.5, "batch_size = 2.5"),
        ("grad_accum", -1, "grad_accum = -1"),
        ("max_steps", -5, "max_steps = -5: must be an integer >= 0"),
        ("learning_rate", 0.0, "learning_rate = 0.0: must be a number > 0"),
        ("learning_rate", float("nan"), "learning_rate = nan"),
        ("lora_r", 0, "lora_r = 0"),
        ("lora_dropout", 1.0, "lora_dropout = 1.0"),
        ("lr_scheduler", "cosnie", "lr_scheduler = 'cosnie': must be one of 'linear'"),
        ("use_dora", "yes", "use_dora = 'yes': must be True or False"),
        ("max_image_height", 20, "max_image_height = 20: must be at least one vision patch of qwen2_5_vl, 28 px"),
        ("dataset_name", "nope", "dataset_name = 'nope': no processed data set"),
        ("model_name", "data/models/absent", "model_name = 'data/models/absent'"),
    ],
)
def test_each_bad_value_is_named_with_its_range(good: dict, name: str, value: object, words: str, home: Path) -> None:
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    with pytest.raises(ParameterError) as refused:
        check_finetune_parameters({**good, name: value})
    assert words in str(refused.value)
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before  # nothing written


def test_all_problems_are_listed_together(good: dict) -> None:
    with pytest.raises(ParameterError) as refused:
        check_finetune_parameters({**good, "batch_size": 0, "lora_r": -1, "dataset_name": "nope"})
    message = str(refused.value)
    assert message.count("\n- ") == 3 and "ok-set" in message  # the existing data sets are offered


def test_remote_code_model_is_refused_before_loading(good: dict, home: Path) -> None:
    from inkwell.models.tiny import build_tiny_model

    folder = build_tiny_model(home / "models" / "tiny-dots_ocr", "dots_ocr")
    with pytest.raises(ParameterError, match="trust_remote_code = False: .*runs that Python code"):
        check_finetune_parameters({**good, "model_name": str(folder)})
    assert check_finetune_parameters({**good, "model_name": str(folder), "trust_remote_code": True}) == "dots_ocr"


@pytest.fixture()
def evaluate_good(home: Path) -> dict:
    processed = home / "data" / "processed" / "eval-set"
    processed.mkdir(parents=True, exist_ok=True)
    (processed / "dataset_dict.json").write_text('{"splits": ["train", "validation", "test"]}')
    return {"dataset_name": "eval-set", "split": "test", "adapters": "all", "include_base": True, "model_name": "",
            "backend": "auto", "load_in_4bit": True, "batch_size": 8, "max_lines": 0, "n_bootstrap": 1000,
            "show_samples": 12, "baselines": ["ppocr"], "focus": ""}


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("split", "dev", "split = 'dev': the data set 'eval-set' has the splits 'train', 'validation', 'test'"),
        ("max_lines", -1, "max_lines = -1: must be an integer >= 0 (0: all lines of the split)"),
        ("batch_size", 0, "batch_size = 0: must be an integer from 1 to 4096"),
        ("batch_size", 2.5, "batch_size = 2.5: must be an integer from 1 to 4096"),
        ("batch_size", "8", "batch_size = '8': must be an integer"),
        ("n_bootstrap", 0, "n_bootstrap = 0: must be an integer from 1"),
        ("backend", "gpu", "backend = 'gpu': must be one of 'auto', 'unsloth', 'transformers'"),
        ("adapters", ["no-such-run"], "adapters = ['no-such-run']: No finished run 'no-such-run'"),
        ("adapters", 3, 'adapters = 3: must be "all", a run name, or a list of run names'),
        ("dataset_name", "nope", "dataset_name = 'nope': no processed data set"),
        ("baselines", ["tesseract"], "baselines = ['tesseract']: must be a list of classic-OCR systems from ['ppocr']"),
        ("baselines", "ppocr", "baselines = 'ppocr': must be a list"),
        ("focus", 1, "focus = 1: must be a system name"),
    ],
)
def test_evaluate_parameters_name_value_and_range(evaluate_good: dict, name: str, value: object, words: str,
                                                  home: Path) -> None:
    check_evaluate_parameters(evaluate_good)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    with pytest.raises(ParameterError) as refused:
        check_evaluate_parameters({**evaluate_good, name: value})
    assert words in str(refused.value) and str(refused.value).startswith("03_evaluate cannot start")
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before  # nothing written


def test_unknown_adapter_names_the_runs_there_are(evaluate_good: dict, tmp_path: Path) -> None:
    run = tmp_path / "val-run"  # a private adapters folder: the session's own runs stay as they are
    run.mkdir()
    (run / "adapter_config.json").write_text("{}")
    (run / "run.json").write_text("{}")
    check_evaluate_parameters({**evaluate_good, "adapters": ["val-run"]}, adapters_root=str(tmp_path))
    with pytest.raises(ParameterError, match=r"'val-rnu'.*finished runs: val-run\).*\"all\""):
        check_evaluate_parameters({**evaluate_good, "adapters": "val-rnu"}, adapters_root=str(tmp_path))


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("max_files", -2, "max_files = -2: must be an integer >= 0 (0: every file of the folder)"),
        ("max_new_tokens", 0, "max_new_tokens = 0: must be an integer from 1 to 32768"),
        ("mode", "page", "mode = 'page': must be one of 'auto', 'lines', 'pages'"),
        ("pdf_dpi", 10, "pdf_dpi = 10: must be an integer from 50 to 600"),
        ("batch_size", 0, "batch_size = 0: must be an integer from 1 to 4096"),
        ("output_dir", None, "output_dir = None: must be a folder path"),
        ("load_in_4bit", "no", "load_in_4bit = 'no': must be True or False"),
    ],
)
def test_demo_parameters_name_value_and_range(name: str, value: object, words: str) -> None:
    good = {"model_name": "", "adapter": "", "inputs": "data/raw/synthetic/images", "max_files": 8,
            "backend": "auto", "load_in_4bit": True, "max_new_tokens": 128, "mode": "auto", "pdf_dpi": 200,
            "batch_size": 8, "output_dir": ""}
    check_demo_parameters(good)
    with pytest.raises(ParameterError, match="04_demo cannot start") as refused:
        check_demo_parameters({**good, name: value})
    assert words in str(refused.value)
