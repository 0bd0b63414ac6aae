"""Pre-flight check before training: is this machine ready for the chosen model and settings?

Stage ``training``: imports lower stages, :mod:`inkwell.models.loading`, :mod:`inkwell.models.prompt`,
:mod:`inkwell.models.tiny` (a published size's config) and :mod:`inkwell.training.train`. :func:`gather_facts` reads the machine (torch and its
CUDA build, the GPU, Triton, attention kernels, installed libraries);
:func:`check_system` turns those facts and the notebook's parameters into
findings, each problem naming its fix, plus an estimate of the GPU memory the
run needs. The check itself reads nothing from the machine, so tests hand it
facts instead of depending on the machine they run on.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import platform
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from inkwell.models.families import FamilySettings, family_for_model_type
from inkwell.models.loading import LoraSettings, model_source, unsloth_first
from inkwell.models.prompt import ImageLimits
from inkwell.models.published import published_for_name
from inkwell.core.quiet import quiet_known_warnings
from inkwell.models.tiny import model_config
from inkwell.training.train import TrainSettings

__all__ = [
    "Finding",
    "MemoryEstimate",
    "ModelFootprint",
    "PreflightReport",
    "SystemFacts",
    "TORCH_CUDA_INSTALL",
    "check_system",
    "estimate_memory",
    "footprint_from_config",
    "gather_facts",
    "model_footprint",
    "preflight",
]

_GIB = 1024**3

#: The reinstall command for a torch build with CUDA kernels up to the newest cards (sm_120, RTX 50xx).
TORCH_CUDA_INSTALL = (
    "pip install --force-reinstall torch torchvision --index-url https://download.pytorch.org/whl/cu128"
)

#: Assumed float32 rate of one CPU thread in training, FLOP/s (a rough figure, said as such).
_CPU_FLOPS_PER_THREAD = 25e9
#: Prompt text tokens around the image, and a typical answer, per line (for the estimates).
_PROMPT_TOKENS, _ANSWER_TOKENS = 40, 64


@dataclass(frozen=True)
class SystemFacts:
    """What the check needs to know about the machine (see :func:`gather_facts`).

    Attributes:
        os_name: ``platform.system()``: ``"Windows"``, ``"Linux"`` or ``"Darwin"``.
        torch_version: The installed torch.
        torch_cuda: CUDA version torch was built for; None for a CPU-only build.
        cuda_available: Whether torch sees a CUDA GPU.
        nvidia_driver: Whether ``nvidia-smi`` is on the PATH (an NVIDIA driver is installed).
        cpu_threads: Threads torch uses on the CPU.
        gpu_name: Name of GPU 0.
        compute_capability: (major, minor) of GPU 0.
        gpu_total_bytes: Memory of GPU 0.
        gpu_free_bytes: Memory of GPU 0 not held by any process.
        torch_arch_list: GPU architectures the torch build has kernels for (``sm_90``, ...).
        bf16: Whether GPU 0 supports bfloat16.
        triton: Triton's version; None when it does not import.
        triton_error: Why Triton did not import.
        flash_attn: flash-attention's version; None when absent or broken.
        flash_attn_error: Why an installed flash-attention did not import.
        sdpa: Whether torch has fused scaled-dot-product attention.
        unsloth: Whether unsloth is installed (it is never imported here).
        bitsandbytes: Whether bitsandbytes is installed.
    """

    os_name: str
    torch_version: str
    torch_cuda: str | None
    cuda_available: bool
    nvidia_driver: bool
    cpu_threads: int
    gpu_name: str = ""
    compute_capability: tuple[int, int] | None = None
    gpu_total_bytes: int = 0
    gpu_free_bytes: int = 0
    torch_arch_list: tuple[str, ...] = ()
    bf16: bool = False
    triton: str | None = None
    triton_error: str = ""
    flash_attn: str | None = None
    flash_attn_error: str = ""
    sdpa: bool = True
    unsloth: bool = False
    bitsandbytes: bool = False


def _version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _imports(module: str) -> tuple[bool, str]:
    """Whether ``module`` is installed and imports, and the error when it does not."""
    if importlib.util.find_spec(module) is None:
        return False, ""
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken build raises anything from ImportError to OSError
        return False, f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return True, ""


def gather_facts() -> SystemFacts:
    """Read the facts of this machine (torch, its CUDA build, GPU 0, Triton, attention kernels, libraries)."""
    import torch  # heavy: loaded on use

    cuda = torch.cuda.is_available()
    gpu: dict[str, Any] = {}
    if cuda:
        free, total = torch.cuda.mem_get_info(0)
        gpu = dict(
            gpu_name=torch.cuda.get_device_name(0),
            compute_capability=tuple(torch.cuda.get_device_capability(0)),
            gpu_total_bytes=int(total),
            gpu_free_bytes=int(free),
            torch_arch_list=tuple(torch.cuda.get_arch_list()),
            bf16=bool(torch.cuda.is_bf16_supported()),
        )
    triton_ok, triton_error = _imports("triton")
    flash_ok, flash_error = _imports("flash_attn") if cuda else (False, "")
    return SystemFacts(
        os_name=platform.system(),
        torch_version=torch.__version__,
        torch_cuda=torch.version.cuda,
        cuda_available=cuda,
        nvidia_driver=shutil.which("nvidia-smi") is not None,
        cpu_threads=torch.get_num_threads(),
        triton=_version("triton") or _version("triton-windows") if triton_ok else None,
        triton_error=triton_error or ("" if triton_ok else "not installed"),
        flash_attn=_version("flash-attn") or _version("flash_attn") if flash_ok else None,
        flash_attn_error=flash_error,
        sdpa=hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        unsloth=importlib.util.find_spec("unsloth") is not None,
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        **gpu,
    )


@dataclass(frozen=True)
class ModelFootprint:
    """The sizes of a model that decide its memory, read from its config without loading weights.

    Attributes:
        name: The hub id or folder.
        source: Where the sizes came from, in words.
        family: The model family.
        parameters: All parameters.
        linear_parameters: Parameters in linear layers other than the output head (what 4-bit quantises).
        largest_linear: Parameters of the largest such layer (its de-quantised copy is a temporary buffer).
        lora_parameters: Parameters LoRA adds with the given settings.
        hidden_size: Width of the language model.
        intermediate_size: Width of its MLP.
        layers: Language-model layers.
        vocab_size: Rows of the output head.
        vision_hidden_size: Width of the vision tower.
        vision_layers: Vision-tower blocks.
        prequantized: The checkpoint itself is stored in 4-bit (a ``*-bnb-4bit`` copy).
    """

    name: str
    source: str
    family: FamilySettings = field(repr=False)
    parameters: int
    linear_parameters: int
    largest_linear: int
    lora_parameters: int
    hidden_size: int
    intermediate_size: int
    layers: int
    vocab_size: int
    vision_hidden_size: int
    vision_layers: int
    prequantized: bool = False


def footprint_from_config(config: Any, lora: LoraSettings, *, name: str, source: str) -> ModelFootprint:
    """Count a model's parameters on PyTorch's meta device (no memory, no weights) from its config."""
    quiet_known_warnings()
    import torch  # heavy: loaded on use
    import transformers  # heavy: loaded on use

    family = family_for_model_type(config.model_type)
    prequantized = getattr(config, "quantization_config", None) is not None
    if prequantized:
        config = config.__class__.from_dict({k: v for k, v in config.to_dict().items() if k != "quantization_config"})
    with torch.device("meta"):
        model = getattr(transformers, family.auto_class).from_config(config)
    head = model.get_output_embeddings()
    pattern = re.compile(lora.target_regex(family))
    linear = largest = added = 0
    for module_name, module in model.named_modules():
        targeted = pattern.fullmatch(module_name) is not None
        if isinstance(module, torch.nn.Linear) and module is not head:
            size = module.in_features * module.out_features
            linear += size
            largest = max(largest, size)
            added += lora.lora_r * (module.in_features + module.out_features) if targeted else 0
        elif isinstance(module, torch.nn.modules.conv._ConvNd) and targeted:
            # PEFT adapts a matching convolution too (the vision patch embedding's ``proj``)
            kernel = math.prod(module.kernel_size)
            added += lora.lora_r * (module.in_channels * kernel + module.out_channels)
    text = config.get_text_config()
    vision = config.vision_config
    # DeepSeek-OCR-2 nests its vision encoder's sizes one level down (SAM, then a Qwen2-style encoder)
    vision = getattr(vision, "encoder_config", None) or vision
    return ModelFootprint(
        name=name,
        source=source,
        family=family,
        parameters=sum(p.numel() for p in model.parameters()),
        linear_parameters=linear,
        largest_linear=largest,
        lora_parameters=added,
        hidden_size=text.hidden_size,
        intermediate_size=text.intermediate_size,
        layers=text.num_hidden_layers,
        vocab_size=text.vocab_size,
        vision_hidden_size=vision.hidden_size,
        vision_layers=getattr(vision, "depth", getattr(vision, "num_hidden_layers", 0)),
        prequantized=prequantized,
    )


def model_footprint(model_name: str, lora: LoraSettings) -> ModelFootprint | str:
    """The footprint of a hub id or folder from its ``config.json``; offline, from its published size.

    Returns:
        A :class:`ModelFootprint`, or the reason none could be made (a string).

    Raises:
        FileNotFoundError: ``model_name`` is a folder path that does not exist.
    """
    from transformers import AutoConfig  # heavy: loaded on use

    source = model_source(model_name)
    try:
        config = AutoConfig.from_pretrained(source)
        where = f"config.json of {source}"
    except Exception as exc:  # offline, unknown id, no access: fall back on the published sizes
        entry = published_for_name(model_name)
        if entry is None:
            return f"could not read the config of {model_name!r} ({type(exc).__name__}) and its size is not known"
        config = model_config(entry.family, entry.text, entry.vision, entry.tokens)
        where = f"the published size of {entry.hub_id} (its config.json could not be read here)"
    try:
        return footprint_from_config(config, lora, name=model_name, source=where)
    except ValueError as exc:  # an unsupported family
        return str(exc)


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak GPU memory of a training run, by part, in bytes.

    Attributes:
        weights: The base model's weights (4-bit linear layers, 16-bit rest).
        lora: LoRA weights, their gradients and 8-bit Adam states.
        activations: Activations kept for the backward pass (gradient checkpointing on).
        logits: The output head's logits and their gradient.
        overhead: CUDA context, de-quantisation buffer, allocator slack.
        tokens_per_line: Sequence length assumed per line (image tokens at the size limit + text).
    """

    weights: int
    lora: int
    activations: int
    logits: int
    overhead: int
    tokens_per_line: int

    @property
    def total(self) -> int:
        """All parts together."""
        return self.weights + self.lora + self.activations + self.logits + self.overhead

    def describe(self) -> str:
        """The total and its parts, in GiB."""
        parts = ", ".join(
            f"{name} {getattr(self, name) / _GIB:.1f}" for name in ("weights", "lora", "activations", "logits", "overhead")
        )
        return f"about {self.total / _GIB:.1f} GiB ({parts}; {self.tokens_per_line} tokens per line)"


def _tokens_per_line(family: FamilySettings, limits: ImageLimits) -> int:
    """Sequence length of one line at the widest image the limits allow: image tokens plus prompt and answer."""
    m = family.patch_multiple
    return max(1, limits.max_width // m) * max(1, limits.max_height // m) + _PROMPT_TOKENS + _ANSWER_TOKENS


def estimate_memory(
    footprint: ModelFootprint,
    *,
    quantized_4bit: bool,
    batch_size: int,
    limits: ImageLimits,
    train_vision: bool = False,
) -> MemoryEstimate:
    """Estimate the peak GPU memory of LoRA training at the widest images the limits allow.

    A model, not a measurement: 4-bit weights take about 0.53 byte per parameter
    with their quantisation constants, 16-bit ones 2 bytes; activations assume
    gradient checkpointing (one stored hidden state per layer plus one layer
    recomputed). ``scripts/bench_gpu.py`` measures the real peak.
    """
    fp = footprint
    tokens = _tokens_per_line(fp.family, limits)
    patches = (tokens - _PROMPT_TOKENS - _ANSWER_TOKENS) * fp.family.merge_size**2
    if quantized_4bit or fp.prequantized:
        weights = int(fp.linear_parameters * 0.53 + (fp.parameters - fp.linear_parameters) * 2)
    else:
        weights = fp.parameters * 2
    lora = fp.lora_parameters * 12  # float32 weight and gradient, two 8-bit Adam states
    stored = batch_size * tokens * fp.hidden_size * 2 * fp.layers
    live = batch_size * tokens * (6 * fp.hidden_size + 3 * fp.intermediate_size) * 2 * 2
    vision_live = batch_size * patches * fp.vision_hidden_size * 8 * 2
    vision_stored = batch_size * patches * fp.vision_hidden_size * 2 * fp.vision_layers if train_vision else 0
    logits = batch_size * tokens * fp.vocab_size * 10  # bf16 logits, float32 copy and its gradient
    subtotal = weights + lora + stored + live + vision_live + vision_stored + logits
    overhead = int(0.6 * _GIB + fp.largest_linear * 2 + 0.1 * subtotal)
    return MemoryEstimate(weights, lora, stored + live + vision_live + vision_stored, logits, overhead, tokens)


@dataclass(frozen=True)
class Finding:
    """One line of the pre-flight report.

    Attributes:
        level: ``"ok"``, ``"note"`` (works, worth knowing) or ``"problem"`` (will fail or not fit).
        message: What was found.
        fix: What to do about it (problems always have one).
    """

    level: str
    message: str
    fix: str = ""

    def text(self) -> str:
        """The finding as one line, its fix after an arrow."""
        mark = {"ok": "ok     ", "note": "note   ", "problem": "PROBLEM"}[self.level]
        return f"{mark} {self.message}" + (f" -> {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class PreflightReport:
    """The result of :func:`check_system`.

    Attributes:
        facts: The machine as read.
        findings: One per topic, in reading order.
        footprint: The model's sizes, or why they are unknown.
        estimate: Estimated peak GPU memory, when a footprint was made.
    """

    facts: SystemFacts
    findings: list[Finding]
    footprint: ModelFootprint | str | None = None
    estimate: MemoryEstimate | None = None

    @property
    def problems(self) -> list[Finding]:
        """The findings that will make the run fail or not fit."""
        return [f for f in self.findings if f.level == "problem"]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def text(self) -> str:
        """The report as lines of text, a verdict first."""
        head = "Pre-flight: ready." if self.ok else f"Pre-flight: {len(self.problems)} problem(s) to fix first."
        return "\n".join([head, *(f.text() for f in self.findings)])

    def __str__(self) -> str:
        return self.text()


def _gib(n: float) -> str:
    return f"{n / _GIB:.1f} GiB"


def _cpu_findings(
    facts: SystemFacts, backend: str, fp: ModelFootprint | str | None, settings: TrainSettings
) -> list[Finding]:
    """What runs without a GPU, and how slowly."""
    out: list[Finding] = []
    if facts.torch_cuda is None and facts.nvidia_driver:
        out.append(Finding(
            "problem",
            f"torch {facts.torch_version} is a CPU-only build, but this machine has an NVIDIA driver (nvidia-smi)",
            TORCH_CUDA_INSTALL,
        ))
    elif facts.nvidia_driver:
        out.append(Finding(
            "problem",
            f"torch {facts.torch_version} is built for CUDA {facts.torch_cuda} but sees no GPU",
            f"update the NVIDIA driver to one that supports CUDA {facts.torch_cuda} (nvidia-smi shows what it "
            "supports), then restart the kernel",
        ))
    if backend == "unsloth":
        out.append(Finding("problem", "backend = 'unsloth' needs a CUDA GPU and none is visible",
                           "set backend = 'auto' (transformers + PEFT on the CPU)"))
    speed = ""
    if isinstance(fp, ModelFootprint):
        lines_per_step = settings.batch_size * settings.grad_accum
        flop = 4 * fp.parameters * _tokens_per_line(fp.family, settings.image_limits) * lines_per_step
        seconds = flop / (_CPU_FLOPS_PER_THREAD * max(1, facts.cpu_threads))
        speed = (f"; for {fp.parameters / 1e9:.2f} B parameters expect roughly {_duration(seconds)} per optimiser "
                 f"step ({lines_per_step} lines) here")
    out.append(Finding(
        "note",
        f"no CUDA GPU: training runs on the CPU with transformers + PEFT in float32 on {facts.cpu_threads} "
        f"thread(s), no 4-bit, no Unsloth{speed}. Fine for the tiny test model; real checkpoints need a CUDA GPU",
    ))
    return out


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0.01):.2g} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _gpu_findings(facts: SystemFacts, backend: str, load_in_4bit: bool) -> list[Finding]:
    """The GPU, its torch build, and the libraries the chosen backend needs."""
    out: list[Finding] = []
    major, minor = facts.compute_capability or (0, 0)
    out.append(Finding(
        "ok",
        f"GPU {facts.gpu_name}: {_gib(facts.gpu_total_bytes)}, {_gib(facts.gpu_free_bytes)} free, compute capability "
        f"{major}.{minor}; torch {facts.torch_version} built for CUDA {facts.torch_cuda}",
    ))
    arch = f"sm_{major}{minor}"
    built = [int(a[3:]) for a in facts.torch_arch_list if a.startswith("sm_") and a[3:].isdigit()]
    if built and arch not in facts.torch_arch_list and major * 10 + minor > max(built):
        out.append(Finding(
            "problem",
            f"torch {facts.torch_version} (CUDA {facts.torch_cuda}) has no kernels for {arch} ({facts.gpu_name}); "
            f"it stops at sm_{max(built)}",
            TORCH_CUDA_INSTALL,
        ))
    if facts.gpu_total_bytes and facts.gpu_free_bytes < 0.85 * facts.gpu_total_bytes:
        out.append(Finding(
            "note",
            f"other programs hold {_gib(facts.gpu_total_bytes - facts.gpu_free_bytes)} of GPU memory",
            "close other notebooks' kernels (Kernel > Shut Down) to free it",
        ))
    if not facts.bf16:
        out.append(Finding("note", f"no bfloat16 on compute capability {major}.{minor}: training runs in float16 "
                                   "(float32 for a bfloat16-only family such as qwen3_5)"))
    wants_unsloth = backend in ("auto", "unsloth")
    if wants_unsloth and not facts.unsloth:
        out.append(Finding("problem", "unsloth is not installed", "pip install unsloth, or set backend = 'transformers'"))
    if facts.triton is None:
        fix = ("pip install triton-windows (Triton for Windows)" if facts.os_name == "Windows"
               else "reinstall torch, whose CUDA build brings the matching Triton: " + TORCH_CUDA_INSTALL)
        level = "problem" if wants_unsloth else "note"
        out.append(Finding(level, f"Triton does not import ({facts.triton_error}); Unsloth's kernels need it", fix))
    else:
        out.append(Finding("ok", f"Triton {facts.triton}"))
    if load_in_4bit and not facts.bitsandbytes:
        out.append(Finding("problem", "bitsandbytes is not installed; 4-bit loading needs it",
                           "pip install bitsandbytes, or set load_in_4bit = False (about 4x the weight memory)"))
    out.append(_attention_finding(facts))
    return out


def _attention_finding(facts: SystemFacts) -> Finding:
    """Which attention kernels exist, and what a broken flash-attention means."""
    if facts.flash_attn:
        return Finding("ok", f"attention kernels: flash-attention {facts.flash_attn}, SDPA, eager")
    if facts.flash_attn_error:
        return Finding(
            "note",
            f"flash-attn is installed but does not import ({facts.flash_attn_error}); SDPA is used instead",
            "pip uninstall flash-attn (nothing is lost: SDPA is nearly as fast)",
        )
    if facts.sdpa:
        return Finding("ok", "attention kernels: SDPA (PyTorch's fused attention) and eager; flash-attention is not "
                             "installed and not needed")
    return Finding("note", "attention kernels: eager only (slowest, most memory)", "install torch 2.x for SDPA")


def _memory_finding(facts: SystemFacts, estimate: MemoryEstimate, settings: TrainSettings, quantized: bool) -> Finding:
    """Whether the estimated peak fits the free GPU memory, and what to lower when it does not."""
    free = facts.gpu_free_bytes
    need = estimate.describe()
    if estimate.total > free:
        fixes = [] if quantized else ["set load_in_4bit = True"]
        fixes += [
            f"lower max_image_width (now {settings.max_image_width}) or batch_size (now {settings.batch_size}; "
            "raise grad_accum to keep the effective batch)",
            "or pick a smaller model (e.g. a 3B checkpoint)",
        ]
        return Finding("problem", f"estimated GPU memory {need} exceeds the {_gib(free)} free", "; ".join(fixes))
    if estimate.total > 0.85 * free:
        return Finding("note", f"estimated GPU memory {need}: tight against {_gib(free)} free",
                       f"if it runs out, lower max_image_width (now {settings.max_image_width}) first")
    return Finding("ok", f"estimated GPU memory {need} of {_gib(free)} free")


def check_system(
    facts: SystemFacts,
    parameters: dict[str, Any],
    footprint: ModelFootprint | str | None = None,
    model_error: str = "",
) -> PreflightReport:
    """Check the machine against the run the parameters describe.

    Args:
        facts: The machine (from :func:`gather_facts`, or made up in tests).
        parameters: 02_finetune's parameters (``model_name``, ``backend``,
            ``load_in_4bit``, ``batch_size``, ``max_image_width``, ...).
        footprint: The model's sizes (:func:`model_footprint`), or why they are unknown.
        model_error: Why ``model_name`` cannot be loaded at all (a folder that does not exist).

    Returns:
        A :class:`PreflightReport`; its ``problems`` each name a fix.
    """
    backend = str(parameters.get("backend", "auto"))
    load_in_4bit = bool(parameters.get("load_in_4bit", True))
    settings = TrainSettings.from_parameters(parameters)
    lora = LoraSettings.from_parameters(parameters)
    findings: list[Finding] = [Finding("problem", model_error, "check model_name")] if model_error else []
    estimate = None
    if not facts.cuda_available:
        findings += _cpu_findings(facts, backend, footprint, settings)
    else:
        findings += _gpu_findings(facts, backend, load_in_4bit)
        if isinstance(footprint, ModelFootprint):
            estimate = estimate_memory(footprint, quantized_4bit=load_in_4bit, batch_size=settings.batch_size,
                                       limits=settings.image_limits, train_vision=lora.finetune_vision_layers)
            findings.append(_memory_finding(facts, estimate, settings, load_in_4bit or footprint.prequantized))
        elif footprint:
            findings.append(Finding("note", f"GPU memory not estimated: {footprint}"))
    return PreflightReport(facts, findings, footprint, estimate)


def preflight(parameters: dict[str, Any]) -> PreflightReport:
    """Check this machine for the run 02_finetune's parameters describe (also usable on its own).

    Example:
        >>> print(preflight({"model_name": "unsloth/Qwen2.5-VL-7B-Instruct-bnb-4bit", "batch_size": 2}).text())
    """
    unsloth_first(str(parameters.get("backend", "auto")))  # before from_config imports transformers
    name = str(parameters.get("model_name", ""))
    footprint: ModelFootprint | str | None = None
    error = ""
    if name:
        try:
            footprint = model_footprint(name, LoraSettings.from_parameters(parameters))
        except FileNotFoundError as exc:
            error = str(exc)
    return check_system(gather_facts(), parameters, footprint, error)

