"""Bulk OCR on vLLM (CUDA GPU only): read a folder or PDF into readings, or a processed split into an evaluation.

    python scripts/ocr_vllm.py --run RUN --inputs FOLDER_OR_PDF [--mode auto] [--output-dir DIR]
    python scripts/ocr_vllm.py --model EXPORT_DIR --dataset NAME [--split test]

``--run`` reads with the run's base model and its adapter (a vLLM LoRA request); ``--model`` reads
with a model as it is (a merged export, or any supported model). Inputs are read like 04_demo
(pages found with PP-OCR's detector, lines cropped) and written like it: ``readings.csv`` with a
``.txt``, a PAGE-XML ``.xml`` and a ``.png`` per page. A split is scored like 03_evaluate:
``predictions.csv`` and ``metrics.json`` in a new ``adapters/evaluations/`` folder, and a row in
``comparison.csv``. The prompt and image limits are the ones the adapter was trained with
(:mod:`inkwell.reading.bulk`). Prints lines/s and pages/s. Install with ``pip install -e ".[vllm]"``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from inkwell.reading.bulk import engine_settings, load_processor, read_lines, require_vllm, sampling_settings
from inkwell.reading.bulk import tower_lora_supported
from inkwell.data.dataset import load_processed
from inkwell.models.decode import max_new_tokens_for
from inkwell.reading.demo import read_pages_with
from inkwell.evaluation.evaluate import evaluate_systems, save_evaluation, update_comparison
from inkwell.reading.pages import READ_MODES
from inkwell.core.paths import project_path
from inkwell.models.prompt import ImageLimits
from inkwell.reading.readings import readings_folder, save_readings
from inkwell.models.runs import base_model_of, find_runs, trusts_remote_code
from inkwell.data.sources import scan_inputs
from inkwell.workflow.steps import evaluation_context, new_evaluation_dir


def generate(llm: Any, requests: list[dict[str, Any]], sampling: Any, lora: Any) -> tuple[list[str], list[str]]:
    """The one vLLM call: generate every request, return (texts, finish reasons) in request order."""
    outputs = llm.generate(requests, sampling, lora_request=lora, use_tqdm=False)
    return [o.outputs[0].text for o in outputs], [str(o.outputs[0].finish_reason) for o in outputs]


def make_engine(settings: dict[str, Any], sampling_kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Start vLLM: the ``LLM``, its ``SamplingParams`` and the ``LoRARequest`` (None for a merged model)."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    lora = settings["lora"]
    request = LoRARequest(lora["name"], lora["id"], lora["path"]) if lora else None
    return LLM(**settings["llm"]), SamplingParams(**sampling_kwargs), request


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="a finished run under adapters/: its base model with its adapter")
    which.add_argument("--model", help="a merged export's folder, or any supported model (hub id or folder)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--inputs", help="an image, a PDF, or a folder of them (read like 04_demo)")
    what.add_argument("--dataset", help="a processed data set (01_data's dataset_name), scored like 03_evaluate")
    parser.add_argument("--split", default="test", help="the split of --dataset to read (default: test)")
    parser.add_argument("--mode", default="auto", choices=READ_MODES, help="lines, pages or auto (as in 04_demo)")
    parser.add_argument("--batch", type=int, default=256, help="lines per vLLM generate call (default: 256)")
    parser.add_argument("--max-new-tokens", type=int, default=0,
                        help="longest answer per line (default: 128 for inputs, from the references for a split)")
    parser.add_argument("--pdf-dpi", type=int, default=200, help="resolution PDF pages are rendered at")
    parser.add_argument("--max-files", type=int, default=0, help="read at most this many files (0: all)")
    parser.add_argument("--output-dir", default="", help="where readings go (default: adapters/<run>/readings/<time>)")
    parser.add_argument("--max-model-len", type=int, default=4096, help="vLLM's longest sequence")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="share of GPU memory vLLM takes")
    parser.add_argument("--max-image-width", type=int, default=0, help="with --model: the training image width")
    parser.add_argument("--max-image-height", type=int, default=0, help="with --model: the training image height")
    parser.add_argument("--trust-remote-code", action="store_true", help="with --model: let it run its own code")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Read inputs or a split with vLLM; 0 on success, 2 when vLLM or an input is missing."""
    args = parse_args(argv)
    try:
        require_vllm()
    except ImportError as err:
        print(err, file=sys.stderr)
        return 2
    run = find_runs([args.run])[0] if args.run else None
    limits = None
    if args.max_image_width or args.max_image_height:
        default = ImageLimits()
        limits = ImageLimits(args.max_image_width or default.max_width, args.max_image_height or default.max_height)
    scan = scan_inputs(args.inputs, pdf_dpi=args.pdf_dpi, max_files=args.max_files) if args.inputs else None
    lines = load_processed(args.dataset)[args.split] if args.dataset else None
    if scan is not None:
        print(scan.describe())
    refs = list(lines["text"]) if lines is not None else []
    model = base_model_of([run]) if run else args.model
    processor, family = load_processor(model, trust_remote_code=trusts_remote_code([run]) if run
                                       else args.trust_remote_code)
    max_new = args.max_new_tokens or (max_new_tokens_for(processor, refs) if refs else 128)
    settings = engine_settings(run or args.model, merged=run is None, max_new_tokens=max_new, limits=limits,
                               max_model_len=args.max_model_len, trust_remote_code=args.trust_remote_code,
                               gpu_memory_utilization=args.gpu_memory_utilization, tower_lora=tower_lora_supported())
    for warning in settings["warnings"]:
        print("warning:", warning, file=sys.stderr)
    started = time.perf_counter()
    llm, sampling, lora = make_engine(settings, sampling_settings(processor, family, max_new))
    print(f"vLLM ready in {time.perf_counter() - started:.0f} s: {settings['model']}"
          + (f" with adapter {lora_name(settings)}" if settings["lora"] else ""))

    def one_call(requests: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        return generate(llm, requests, sampling, lora)

    def decode(images: list, desc: str) -> list:
        return read_lines(one_call, images, processor=processor, family=family, limits=settings["image_limits"],
                          batch_size=args.batch, desc=desc)

    system = run.name if run else Path(str(args.model)).name
    if scan is not None:
        reading = read_pages_with(decode, scan.pages, mode=args.mode)
        local = project_path(str(args.model or ""))
        beside = run or (local if args.model and local.is_dir() else None)  # a merged export keeps its readings
        out = readings_folder(beside, args.output_dir)
        saved = save_readings(scan.pages, reading.lines, out)
        seconds = reading.detect_seconds + reading.read_seconds
        print(reading.describe())
        print(throughput(len(reading.lines), reading.read_seconds, len(scan.pages), seconds))
        print("wrote", saved.folder)
        return 0
    started = time.perf_counter()
    predictions = decode(list(lines["image"]), f"reading {system}")
    seconds = time.perf_counter() - started
    evaluation = evaluate_systems(list(lines["id"]), refs, {system: [p.text for p in predictions]})
    out_dir = new_evaluation_dir(args.dataset, args.split)
    extra = evaluation_context(args.dataset, args.split, [run] if run else [], settings["model"],
                               {system: predictions})
    extra.update(engine="vllm", read_seconds=round(seconds, 2), lines_per_second=round(len(refs) / seconds, 2))
    saved_paths = save_evaluation(evaluation, out_dir, extra=extra)
    out_dir = saved_paths["metrics"].parent  # -2, -3, ... when another evaluation took the name meanwhile
    update_comparison(evaluation, project_path("adapters/evaluations/comparison.csv"), args.dataset, args.split,
                      base_model=settings["model"], evaluation_name=out_dir.name)
    metrics = evaluation.metrics[system]
    print(f"{system} on {args.dataset}/{args.split}: CER {metrics.cer:.2%}, WER {metrics.wer:.2%}")
    print(throughput(len(refs), seconds, 0, seconds))
    print("wrote", *saved_paths.values(), sep="\n  ")
    return 0


def lora_name(settings: dict[str, Any]) -> str:
    """The adapter's name, for the start-up line."""
    return str(settings["lora"]["name"])


def throughput(n_lines: int, read_seconds: float, n_pages: int, total_seconds: float) -> str:
    """One line: lines per second of reading, and pages per second with line finding (when pages were read)."""
    speed = f"{n_lines} lines in {read_seconds:.1f} s = {n_lines / read_seconds:.1f} lines/s" if read_seconds > 0 \
        else f"{n_lines} lines"
    if n_pages:
        per_page = f"{n_pages / total_seconds:.2f} pages/s" if total_seconds > 0 else f"{n_pages} pages"
        speed += f"; {n_pages} pages in {total_seconds:.1f} s with line finding = {per_page}"
    return speed


if __name__ == "__main__":
    sys.exit(main())
