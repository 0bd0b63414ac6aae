"""inkwell.training.preflight: the machine check before training, with the machine's facts handed in."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from inkwell.models.loading import LoraSettings, add_lora, load_model
from inkwell.training.preflight import (TORCH_CUDA_INSTALL, SystemFacts, check_system, estimate_memory, footprint_from_config,
                               gather_facts, model_footprint, preflight)
from inkwell.models.prompt import ImageLimits
from inkwell.models.published import PUBLISHED
from inkwell.models.tiny import model_config

GIB = 1024**3

#: The reference user's card with a torch build that predates it.
RTX_5060_TI = SystemFacts(
    os_name="Windows", torch_version="2.6.0+cu126", torch_cuda="12.6", cuda_available=True, nvidia_driver=True,
    cpu_threads=8, gpu_name="NVIDIA GeForce RTX 5060 Ti", compute_capability=(12, 0), gpu_total_bytes=16 * GIB,
    gpu_free_bytes=15 * GIB, torch_arch_list=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"),
    bf16=True, triton="3.2.0", unsloth=True, bitsandbytes=True,
)
#: The same card once torch is built for CUDA 12.8.
READY = dataclasses.replace(RTX_5060_TI, torch_version="2.7.0+cu128", torch_cuda="12.8",
                            torch_arch_list=(*RTX_5060_TI.torch_arch_list, "sm_100", "sm_120"))
CPU = SystemFacts(os_name="Linux", torch_version="2.7.0+cpu", torch_cuda=None, cuda_available=False,
                  nvidia_driver=False, cpu_threads=2)


def published_footprint(key: str, **lora: object):
    entry = PUBLISHED[key]
    config = model_config(entry.family, entry.text, entry.vision, entry.tokens)
    return footprint_from_config(config, LoraSettings(**lora), name=entry.hub_id, source="test")


@pytest.fixture(scope="module")
def seven_b():
    return published_footprint("qwen2_5_vl-7B")


def messages(report) -> str:
    return "\n".join(f.text() for f in report.findings)


def test_new_card_with_old_torch_names_the_reinstall(seven_b) -> None:
    report = check_system(RTX_5060_TI, {"batch_size": 2}, seven_b)
    assert not report.ok
    [problem] = report.problems
    assert "sm_120" in problem.message and "RTX 5060 Ti" in problem.message
    assert problem.fix == TORCH_CUDA_INSTALL and "cu128" in problem.fix
    assert check_system(READY, {"batch_size": 2}, seven_b).ok


def test_cpu_only_torch_on_a_gpu_machine_is_a_problem() -> None:
    facts = dataclasses.replace(CPU, os_name="Windows", nvidia_driver=True)
    report = check_system(facts, {})
    assert [p.fix for p in report.problems] == [TORCH_CUDA_INSTALL]
    assert "CPU-only" in report.problems[0].message
    driver = check_system(dataclasses.replace(facts, torch_cuda="12.8"), {})
    assert "driver" in driver.problems[0].fix and "12.8" in driver.problems[0].fix


def test_cpu_says_what_runs_and_how_slowly(seven_b) -> None:
    report = check_system(CPU, {"batch_size": 2, "grad_accum": 4}, seven_b)
    assert report.ok
    note = messages(report)
    assert "no CUDA GPU" in note and "transformers + PEFT" in note and "2 thread" in note
    assert "per optimiser step (8 lines)" in note and ("min" in note or " h " in note)
    assert not check_system(CPU, {"backend": "unsloth"}).ok


def test_triton_unsloth_and_bitsandbytes_each_name_their_fix(seven_b) -> None:
    no_triton = dataclasses.replace(READY, triton=None, triton_error="ModuleNotFoundError: No module named 'triton'")
    [problem] = check_system(no_triton, {"backend": "auto"}, seven_b).problems
    assert "Triton" in problem.message and problem.fix.startswith("pip install triton-windows")
    linux = check_system(dataclasses.replace(no_triton, os_name="Linux"), {}, seven_b).problems[0]
    assert "triton-windows" not in linux.fix and TORCH_CUDA_INSTALL in linux.fix
    assert check_system(no_triton, {"backend": "transformers"}, seven_b).ok  # plain PEFT needs no Triton
    [unsloth] = check_system(dataclasses.replace(READY, unsloth=False), {}, seven_b).problems
    assert "pip install unsloth" in unsloth.fix and "backend = 'transformers'" in unsloth.fix
    [bnb] = check_system(dataclasses.replace(READY, bitsandbytes=False), {"load_in_4bit": True}, seven_b).problems
    assert "pip install bitsandbytes" in bnb.fix


def test_attention_kernels_are_reported(seven_b) -> None:
    assert "SDPA" in messages(check_system(READY, {}, seven_b))
    broken = dataclasses.replace(READY, flash_attn_error="ImportError: undefined symbol")
    note = messages(check_system(broken, {}, seven_b))
    assert "flash-attn is installed but does not import" in note and "pip uninstall flash-attn" in note
    assert "flash-attention 2.8.3" in messages(check_system(dataclasses.replace(READY, flash_attn="2.8.3"), {}, seven_b))


def test_memory_estimate_decides_the_16_gb_card(seven_b) -> None:
    fits = check_system(READY, {"load_in_4bit": True, "batch_size": 2}, seven_b)
    assert fits.ok and 5 * GIB < fits.estimate.total < 14 * GIB
    full = check_system(READY, {"load_in_4bit": False, "batch_size": 2}, seven_b)
    [problem] = full.problems
    assert "exceeds" in problem.message and "load_in_4bit = True" in problem.fix and "max_image_width" in problem.fix
    assert full.estimate.weights > 2.5 * fits.estimate.weights  # embeddings and head stay 16-bit in 4-bit loading


def test_memory_estimate_grows_with_batch_images_and_vision(seven_b) -> None:
    def total(**kw: object) -> int:
        args = dict(quantized_4bit=True, batch_size=2, limits=ImageLimits(1024, 128))
        return estimate_memory(seven_b, **{**args, **kw}).total

    assert total(batch_size=4) > total()
    assert total(limits=ImageLimits(2048, 256)) > total()
    assert total(train_vision=True) > total()
    three_b = published_footprint("qwen2_5_vl-3B")
    assert estimate_memory(three_b, quantized_4bit=True, batch_size=2, limits=ImageLimits()).total < total()


def test_footprint_counts_the_lora_parameters_peft_adds(tiny_model: Path) -> None:
    """For every family: the footprint from config.json alone counts what loading and LoRA really give."""
    from transformers import AutoConfig

    lora = LoraSettings(lora_r=8, finetune_vision_layers=True)
    fp = footprint_from_config(AutoConfig.from_pretrained(tiny_model), lora, name="tiny", source="test")
    assert fp.vision_hidden_size > 0 and fp.vision_layers > 0
    loaded = add_lora(load_model(str(tiny_model)), lora)
    trainable = sum(p.numel() for p in loaded.model.parameters() if p.requires_grad)
    assert fp.lora_parameters == trainable
    assert fp.parameters == sum(p.numel() for p in loaded.model.parameters()) - trainable


def test_model_footprint_offline_uses_the_published_size(tiny_qwen25: Path) -> None:
    fp = model_footprint("unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit", LoraSettings())
    assert fp.parameters == PUBLISHED["qwen2_5_vl-7B"].parameters and "published size" in fp.source
    unknown = model_footprint("someone/unknown-model", LoraSettings())
    assert isinstance(unknown, str) and "someone/unknown-model" in unknown
    with pytest.raises(FileNotFoundError):
        model_footprint("./no/such/folder", LoraSettings())
    assert "config.json" in model_footprint(str(tiny_qwen25), LoraSettings()).source


def test_preflight_on_this_machine(tiny_qwen25: Path) -> None:
    facts = gather_facts()
    assert facts.torch_version and facts.cpu_threads >= 1
    report = preflight({"model_name": str(tiny_qwen25), "batch_size": 2})
    assert report.text().startswith("Pre-flight:")
    missing = preflight({"model_name": "./no/such/folder"})
    assert not missing.ok and missing.problems[0].fix == "check model_name"
