"""The Unsloth branch, checked on a CPU against Unsloth's own code: stand-ins where CUDA is needed.

Where a check needs Unsloth's real code (its signatures, its vision collator) it runs in a
child process with ``UNSLOTH_ALLOW_CPU=1``; where it needs a GPU, ``torch.cuda`` is patched
and the loaders are stand-ins that record what they were given.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
import torch

import helpers
from inkwell.models import loading as model_module
from inkwell.models.families import FAMILIES, native_families
from inkwell.models.loading import LoadedModel, LoraSettings, add_lora, load_model
from inkwell.models.quantization import UNSLOTH_SKIP_MODULES, four_bit_config
from inkwell.models.runs import RunInfo, base_model_of
from inkwell.training.train import TrainSettings, train_adapter

ROOT = Path(helpers.PROJECT_ROOT)
_REAL_IS_AVAILABLE = torch.cuda.is_available  # the stand-ins load on the CPU, where CUDA is not faked


def _source(package: str, relative: str) -> ast.Module:
    """The parsed source of a file of an installed package (read, never imported)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin, f"{package} is not installed"
    return ast.parse((Path(spec.origin).parent / relative).read_text(encoding="utf-8"))


def _unsloth_four_bit() -> dict[str, Any]:
    """The keywords of the BitsAndBytesConfig Unsloth builds for a 4-bit load, read from its source."""
    skip = next(ast.literal_eval(node.value) for node in ast.walk(_source("unsloth_zoo", "peft_utils.py"))
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SKIP_QUANTIZATION_MODULES")
    for node in ast.walk(_source("unsloth", "models/vision.py")):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BitsAndBytesConfig":
            words = {k.arg: k.value for k in node.keywords}
            if isinstance(words.get("load_in_4bit"), ast.Constant) and words["load_in_4bit"].value is True:
                out = {k: v.value for k, v in words.items() if isinstance(v, ast.Constant)}
                out["compute_dtype_from"] = ast.unparse(words["bnb_4bit_compute_dtype"])
                out["skip_from"] = ast.unparse(words["llm_int8_skip_modules"])
                return {**out, "skip": skip}
    raise AssertionError("no 4-bit BitsAndBytesConfig in unsloth/models/vision.py")


def test_transformers_backend_quantizes_as_unsloth_does() -> None:
    """Finding 2: the same NF4 double-quant config and skip list on both backends (read from Unsloth's source)."""
    theirs = _unsloth_four_bit()
    assert theirs["skip_from"] == "_skip_modules" and theirs["compute_dtype_from"] == "bnb_compute_dtype"
    ours = four_bit_config("bfloat16").to_dict()
    assert tuple(theirs["skip"]) == UNSLOTH_SKIP_MODULES
    assert ours["llm_int8_skip_modules"] == list(theirs["skip"])
    for key in ("load_in_4bit", "bnb_4bit_use_double_quant", "bnb_4bit_quant_type"):
        assert ours[key] == theirs[key], key
    assert ours["bnb_4bit_compute_dtype"] == "bfloat16"


@pytest.fixture()
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch sees a bfloat16 CUDA GPU (nothing runs on it: the loaders are stand-ins)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "stand-in GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.fixture()
def recorded_loads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The transformers Auto classes' ``from_pretrained`` records its keywords and loads on the CPU.

    A quantization config is honoured (bitsandbytes 4-bit loads on a CPU), so the layout
    the model records is the one the config gives.
    """
    import transformers

    calls: list[dict[str, Any]] = []
    for name in {f.auto_class for f in FAMILIES.values()}:
        auto = getattr(transformers, name)
        real = auto.from_pretrained

        def stand_in(source: str, *, _real: Any = real, **kwargs: Any) -> Any:
            calls.append(kwargs)
            keep = {k: kwargs[k] for k in ("quantization_config", "trust_remote_code") if k in kwargs}
            with monkeypatch.context() as cpu:
                cpu.setattr(torch.cuda, "is_available", _REAL_IS_AVAILABLE)
                return _real(source, dtype=torch.float32, **keep)

        monkeypatch.setattr(auto, "from_pretrained", stand_in)
    return calls


def test_family_16bit_rule_holds_on_the_transformers_backend(
        tiny_model: Path, fake_cuda: None, recorded_loads: list[dict[str, Any]]) -> None:
    """Finding 3: a family that trains 16-bit LoRA gets no quantization on CUDA with backend "transformers"
    either; a 4-bit family gets Unsloth's config, and the layout read from the layers says what is 4-bit."""
    loaded = load_model(str(tiny_model), backend="transformers", load_in_4bit=True)
    [kwargs] = recorded_loads
    family = loaded.family
    assert loaded.backend == "transformers" and loaded.device == "cuda"
    if family.unsloth.load_in_4bit:
        assert kwargs["quantization_config"].to_dict() == four_bit_config("bfloat16").to_dict()
        assert loaded.quantized_4bit and "model.language_model" in loaded.quantization.four_bit
        assert "lm_head" in loaded.quantization.sixteen_bit  # the only one of Unsloth's names that matches here
    else:
        assert "quantization_config" not in kwargs, family.name
        assert not loaded.quantized_4bit and loaded.quantization.method == "none"
        assert "16-bit LoRA, not 4-bit" in loaded.reason


def test_lora_stays_float32_on_a_4bit_base(tiny_qwen25: Path, tmp_path: Path) -> None:
    """Finding 2: TRL casts the trainable weights of a 4-bit model to bfloat16; Inkwell keeps them float32, as
    Unsloth does, and run.json records the adapter's dtype."""
    loaded = add_lora(load_model(str(tiny_qwen25)), LoraSettings(seed=1))
    loaded.model.base_model.model.is_loaded_in_4bit = True  # what TRL reads to decide on its cast
    from transformers import TrainerCallback

    seen: list[str] = []

    class Dtypes(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):  # type: ignore[no-untyped-def]
            seen.extend(sorted({str(p.dtype) for n, p in model.named_parameters() if p.requires_grad}))

    train = _lines(4)
    result = train_adapter(loaded, train, TrainSettings(max_steps=1, batch_size=2, grad_accum=1, warmup_steps=0),
                           tmp_path / "run", callbacks=[Dtypes()])
    assert seen == ["torch.float32"]
    assert result.info.quantization["lora_dtype"] == "float32"
    assert RunInfo.load(result.run_dir).quantization["lora_dtype"] == "float32"


def _lines(n: int) -> Any:
    import datasets
    from PIL import Image

    return datasets.Dataset.from_dict({"image": [Image.new("RGB", (112, 28), "white")] * n,
                                       "text": ["ab", "cd", "ef", "gh"][:n]})


def test_tokenizer_only_checkpoint_is_refused_before_its_weights_load(
        tiny_qwen25: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 4: DeepSeek-OCR v1's repository has no processor; loading it stops with a message naming
    deepseek_ocr2, before any weights load, instead of an AttributeError deep inside the collator."""
    import transformers

    folder = tmp_path / "deepseek-ocr"
    shutil.copytree(tiny_qwen25, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="deepseek_vl_v2", auto_map={"AutoModel": "modeling_deepseekocr.DeepseekOCRForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_qwen25))
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", lambda *a, **k: tokenizer)

    def no_weights(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("weights loaded for a model that cannot be read")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", no_weights)
    with pytest.raises(ValueError) as refused:
        load_model(str(folder), trust_remote_code=True)
    message = str(refused.value)
    assert f"model_name = {str(folder)!r} (deepseek_ocr)" in message and "no image processor" in message
    assert "'deepseek_ocr2'" in message and "deepseek-community/DeepSeek-OCR-2" in message


STAND_IN = '''
"""A stand-in for unsloth: records which of transformers, trl and peft were imported before it."""
import sys

import torch

BEFORE = sorted(m for m in ("transformers", "trl", "peft") if m in sys.modules)
torch.cuda.is_available = torch.cuda.real_is_available  # the order is recorded; the rest runs on the CPU
'''


@pytest.mark.parametrize("first_call", ["check_finetune_parameters", "load_model"])
def test_unsloth_is_imported_before_transformers(tiny_qwen25: Path, tmp_path: Path, first_call: str) -> None:
    """Finding 5: the notebook's first model cell (its parameter check) and load_model import unsloth before
    transformers whenever the Unsloth backend will run (a stand-in unsloth records the order)."""
    (tmp_path / "unsloth").mkdir()
    (tmp_path / "unsloth" / "__init__.py").write_text(STAND_IN)
    call = {"check_finetune_parameters": f"helpers.check_finetune_parameters({{'backend': 'auto', "
                                         f"'model_name': {str(tiny_qwen25)!r}}})",
            "load_model": f"helpers.load_model({str(tiny_qwen25)!r})"}[first_call]
    code = textwrap.dedent(f"""
        import torch
        torch.cuda.real_is_available = torch.cuda.is_available
        torch.cuda.is_available = lambda: True
        torch.cuda.get_device_name = lambda *a: "stand-in GPU"
        torch.cuda.is_bf16_supported = lambda *a, **k: True
        import helpers
        {call}
        import sys, unsloth
        print("BEFORE", unsloth.BEFORE, "transformers" in sys.modules)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "BEFORE [] True"


class _RecordingUnsloth:
    """A stand-in ``FastVisionModel``: records every call's keywords; loads on the CPU; swaps one hub id."""

    def __init__(self, swap_to: str = "") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.swap_to = swap_to
        self.folder = ""  # what a hub id loads from

    def from_pretrained(self, source: str, **kwargs: Any) -> tuple[Any, Any]:
        import transformers

        self.calls.append(("from_pretrained", kwargs))
        kwargs["on_model_resolved"](source if kwargs.get("use_exact_model_name") or not self.swap_to else self.swap_to)
        folder = source if Path(source).is_dir() else self.folder
        model = transformers.AutoModelForImageTextToText.from_pretrained(folder)
        return model, transformers.AutoProcessor.from_pretrained(folder)

    def get_peft_model(self, model: Any, **kwargs: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        self.calls.append(("get_peft_model", kwargs))
        names = set(LoraConfig.__dataclass_fields__) - {"random_state"}
        return get_peft_model(model, LoraConfig(**{k: v for k, v in kwargs.items() if k in names}))

    def for_training(self, model: Any, **kwargs: Any) -> None:
        self.calls.append(("for_training", kwargs))
        model.train()

    def for_inference(self, model: Any) -> None:
        self.calls.append(("for_inference", {}))
        model.eval()

    def keywords(self, call: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == call]


@pytest.fixture()
def stand_in_unsloth(monkeypatch: pytest.MonkeyPatch, fake_cuda: None) -> _RecordingUnsloth:
    fast = _RecordingUnsloth(swap_to="unsloth/tiny-qwen-unsloth-bnb-4bit")
    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastVisionModel=fast))
    return fast


@pytest.mark.parametrize("checkpointing", [False, True])
def test_gradient_checkpointing_and_the_loaded_base_reach_the_run(
        tiny_qwen25: Path, tmp_path: Path, stand_in_unsloth: _RecordingUnsloth, checkpointing: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Findings 6 and 7: load_model's gradient_checkpointing reaches get_peft_model and for_training under
    Unsloth, and the hub id Unsloth really read is recorded beside the one asked for."""
    loaded = load_model(str(tiny_qwen25), backend="unsloth", gradient_checkpointing=checkpointing)
    monkeypatch.setattr(torch.cuda, "is_available", _REAL_IS_AVAILABLE)  # train on the CPU
    assert loaded.backend == "unsloth" and loaded.loaded_name == "unsloth/tiny-qwen-unsloth-bnb-4bit"
    assert "Unsloth loaded unsloth/tiny-qwen-unsloth-bnb-4bit in place of" in loaded.reason
    loaded.device = "cpu"  # the stand-in loaded on the CPU: train there
    add_lora(loaded, LoraSettings(seed=1))
    expected = "unsloth" if checkpointing else False
    assert [k["use_gradient_checkpointing"] for k in stand_in_unsloth.keywords("from_pretrained")] == [expected]
    assert [k["use_gradient_checkpointing"] for k in stand_in_unsloth.keywords("get_peft_model")] == [expected]
    result = train_adapter(loaded, _lines(2), TrainSettings(max_steps=1, batch_size=2, grad_accum=1,
                                                            warmup_steps=0), tmp_path / "run")
    assert [k["use_gradient_checkpointing"] for k in stand_in_unsloth.keywords("for_training")] == [expected]
    info = RunInfo.load(result.run_dir)
    assert (info.base_model, info.loaded_model) == (str(tiny_qwen25), "unsloth/tiny-qwen-unsloth-bnb-4bit")


def test_a_swapped_base_is_the_same_base_for_the_adapter_check(tmp_path: Path) -> None:
    """Finding 7: an adapter trained on Unsloth's copy of a hub id belongs to either name; any other base is
    refused; with no model_name the copy really trained on is loaded."""
    run = tmp_path / "run-a"
    run.mkdir()
    RunInfo(run_name="run-a", base_model="Qwen/Qwen2.5-VL-7B-Instruct", family="qwen2_5_vl", backend="unsloth",
            quantized_4bit=True, loaded_model="unsloth/Qwen2.5-VL-7B-Instruct-unsloth-bnb-4bit", device="cuda",
            parameters={}, metrics={}).save(run)
    assert base_model_of([run]) == "unsloth/Qwen2.5-VL-7B-Instruct-unsloth-bnb-4bit"
    for name in ("Qwen/Qwen2.5-VL-7B-Instruct", "unsloth/Qwen2.5-VL-7B-Instruct-unsloth-bnb-4bit"):
        assert base_model_of([run], name) == name
    with pytest.raises(ValueError, match="only works on the base it was trained on"):
        base_model_of([run], "Qwen/Qwen2.5-VL-3B-Instruct")


def test_offline_a_swap_to_an_uncached_copy_loads_the_id_as_named(
        tiny_qwen25: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 7: offline, with only the id asked for in the cache, Unsloth is told to load it as named."""
    from inkwell.models import unsloth_backend

    fast = _RecordingUnsloth(swap_to="unsloth/Qwen2.5-VL-7B-Instruct-unsloth-bnb-4bit")
    fast.folder = str(tiny_qwen25)
    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastVisionModel=fast))
    monkeypatch.setattr(unsloth_backend, "_in_hub_cache", lambda repo: repo == "Qwen/Qwen2.5-VL-7B-Instruct")
    _, _, loaded_name, note = unsloth_backend.load_with_unsloth(
        "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct", {"load_in_4bit": True}, offline=True)
    assert loaded_name == "" and "was loaded as named" in note
    assert [k.get("use_exact_model_name", False) for k in fast.keywords("from_pretrained")] == [False, True]
    fast.calls.clear()  # online the copy is fetched: it is loaded and recorded
    _, _, loaded_name, note = unsloth_backend.load_with_unsloth(
        "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct", {"load_in_4bit": True}, offline=False)
    assert loaded_name == "unsloth/Qwen2.5-VL-7B-Instruct-unsloth-bnb-4bit" and len(fast.calls) == 1
    fast.folder = str(tiny_qwen25 / "missing")  # neither is readable: the error names the copy Unsloth tried
    with pytest.raises(OSError, match="Unsloth reads its own copy unsloth/Qwen2.5-VL-7B-Instruct-unsloth-bnb-4bit "
                                      "in place of Qwen/Qwen2.5-VL-7B-Instruct"):
        unsloth_backend.load_with_unsloth("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct",
                                          {"load_in_4bit": True}, offline=False)


def _bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "scripts" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decoding_is_warmed_up_at_every_batch_size() -> None:
    """Finding 8: the first call at a new batch size (where Unsloth compiles for a static batch) is never timed."""
    import time

    seen: set[int] = set()

    def decode(lines: list[int], batch_size: int) -> None:
        if batch_size not in seen:  # one-off setup at each new batch size
            seen.add(batch_size)
            time.sleep(0.3)

    rates = _bench().decode_rates(decode, list(range(32)), [1, 8, 32])
    assert set(rates) == {"1", "8", "32"}
    assert all(rate > 32 / 0.1 for rate in rates.values()), rates


CHILD = r'''
import inspect, json, sys
import torch
from unsloth import FastVisionModel
from unsloth.models.vision import FastBaseModel
from peft import LoraConfig
sys.path.insert(0, sys.argv[2])
import helpers
from inkwell.models.families import FAMILIES
from inkwell.models.loading import LoraSettings, unsloth_lora_kwargs
from inkwell.models.prompt import LineCollator, ImageLimits
from inkwell.models.unsloth_backend import unsloth_load_kwargs

problems = []

def bind(where, fn, args, kwargs, elsewhere=()):
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        problems.append(f"{where}: {exc}")
        return
    var = next((p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None)
    for name in bound.arguments.get(var, {}) if var else {}:
        if name not in elsewhere:
            problems.append(f"{where}: {name!r} is not a parameter of {fn.__qualname__}")

for key, family in FAMILIES.items():
    for four in (True, False):
        kwargs = unsloth_load_kwargs(family, four, four, torch.bfloat16, family.remote_code)
        bind(f"from_pretrained[{key}]", FastVisionModel.from_pretrained, ("model",),
             {**kwargs, "on_model_resolved": print, "use_exact_model_name": True})
lora = unsloth_lora_kwargs(LoraSettings(), "target", True)
lora_config = set(inspect.signature(LoraConfig).parameters)
for fn in (FastVisionModel.get_peft_model, FastBaseModel.get_peft_model):
    bind("get_peft_model", fn, (object(),), lora, elsewhere=lora_config if fn is FastBaseModel.get_peft_model else lora)
bind("for_training", FastVisionModel.for_training, (object(),), {"use_gradient_checkpointing": "unsloth"})
bind("for_inference", FastVisionModel.for_inference, (object(),), {})

# finding 1: the bare loop's collator and Inkwell's see the same image grid
bench = helpers_bench = None
import importlib.util
spec = importlib.util.spec_from_file_location("bench_gpu", sys.argv[3])
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
from inkwell.models.loading import load_model
loaded = load_model(sys.argv[1])
images, texts = bench.bench_lines(2, 1024, 128, 0)
fed = bench.fed_images(images, 1024, 128)
ours = LineCollator(loaded.processor, loaded.family, ImageLimits(1024, 128))([{"image": i, "text": t} for i, t in zip(fed, texts)])
theirs = bench.bare_collator(loaded.model, loaded.processor)(bench.bare_rows(fed, texts, loaded.family.instruction))
print("RESULT", json.dumps({"problems": problems, "sizes": sorted({im.size for im in fed}),
                            "ours": ours["image_grid_thw"].tolist(), "theirs": theirs["image_grid_thw"].tolist()}))
'''


@pytest.fixture(scope="module")
def unsloth_child(tiny_qwen25: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Unsloth's real code imported on the CPU (``UNSLOTH_ALLOW_CPU=1``) in a child process, once."""
    env = {**os.environ, "UNSLOTH_ALLOW_CPU": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tiny_qwen25), str(ROOT), str(ROOT / "scripts" / "bench_gpu.py")],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path_factory.mktemp("unsloth"))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT ", 1)[1])


def test_every_keyword_passed_to_unsloth_is_in_its_signature(unsloth_child: dict[str, Any]) -> None:
    """The guard: each keyword Inkwell passes to from_pretrained, get_peft_model, for_training and for_inference
    binds to a named parameter of the installed Unsloth (use_dora to peft.LoraConfig), for every family."""
    assert unsloth_child["problems"] == []


def test_bare_unsloth_loop_sees_the_pixels_inkwell_sees(unsloth_child: dict[str, Any]) -> None:
    """Finding 1: the benchmark feeds Inkwell's fitted 896 x 112 lines to both collators, and Unsloth's
    collator hands the model the same image grids as Inkwell's."""
    assert unsloth_child["sizes"] == [[896, 112]]
    assert unsloth_child["theirs"] == unsloth_child["ours"]
