"""The notebooks' face over the ``inkwell`` package: every name a notebook, script or test calls.

``import helpers`` in a notebook gives the whole workflow:

* ``01_data``: read labelled line images, validate, split and save them (:func:`prepare_dataset`).
* ``02_finetune``: load a base model (Unsloth on a CUDA GPU, transformers + PEFT otherwise),
  attach LoRA, train with TRL's SFTTrainer (:func:`load_model`, :func:`train_adapter`).
* ``03_evaluate``: decode a split with the base model and adapters, score with CER/WER,
  show diffs, plots and an inspector (:func:`predict_systems`, :func:`evaluate_systems`);
  a classic-OCR baseline reads the same lines (:func:`read_baseline`).
* ``04_demo``: read line images, pages and PDFs with an adapter (:func:`scan_inputs`, :func:`read_scan`),
  correct the readings and save them as training lines (:func:`make_corrector`).

The logic lives in ``inkwell/``, a subpackage per stage (docs/architecture.md); this file only re-exports.
"""

from inkwell.reading.baselines import read_baseline
from inkwell.workflow.cli import describe_parameters, notebook_parameters, parse_overrides
from inkwell.views.corrector import make_corrector
from inkwell.workflow.curve import curve_for_notebook, learning_curve_like, run_learning_curve
from inkwell.data.dataset import describe_report, load_processed, prepare_dataset
from inkwell.models.decode import predict_lines
from inkwell.training.distributed import is_main_process
from inkwell.reading.demo import Reader, load_reader, read_pages, read_scan
from inkwell.evaluation.evaluate import evaluate_systems, read_predictions, save_evaluation, update_comparison
from inkwell.training.export import ExportResult, ParityResult, export_merged, merge_parity
from inkwell.models.families import FAMILIES, native_families
from inkwell.models.loading import LoraSettings, add_lora, load_adapter, load_model
from inkwell.reading.lines import detect_lines
from inkwell.reading.pages import synthetic_page
from inkwell.core.paths import DEMO_SOURCE, PROJECT_ROOT, project_path
from inkwell.training.preflight import preflight
from inkwell.views.plots import (LiveLossPlot, data_histograms, plot_cer_distribution, plot_cer_vs_confidence,
                           plot_cer_vs_length, plot_char_frequencies, plot_learning_curve, sample_grid)
from inkwell.models.prompt import ImageLimits
from inkwell.views.render import (bootstrap_html, comparison_html, confusion_html, metrics_html, model_view_html,
                            rejected_summary_html, rejected_thumbnails_html, render_page_readings_html,
                            render_samples_html)
from inkwell.models.runs import base_model_of, describe_interrupted, find_interrupted, find_runs, new_run_dir, pick_run
from inkwell.data.sources import SourcePage, scan_inputs
from inkwell.data.synth import DEMO_PHRASES, SyntheticSet, make_synthetic_lines, render_line
from inkwell.models.tiny import build_tiny_model
from inkwell.models.view import model_view, model_views, token_report
from inkwell.workflow.validate import check_demo_parameters, check_evaluate_parameters, check_finetune_parameters
from inkwell.training.train import TrainSettings, describe_training, train_adapter
from inkwell.views.widgets import make_inspector, make_upload_reader
from inkwell.workflow.steps import (confidences_of, dataset_info, ensure_demo_data, evaluation_context,
                              literal_parameters, new_evaluation_dir, predict_systems, quick_validation,
                              take_lines, texts_of)

__all__ = [
    # paths and settings
    "DEMO_SOURCE",
    "FAMILIES",
    "native_families",
    "PROJECT_ROOT",
    "project_path",
    # 01_data
    "data_histograms",
    "plot_char_frequencies",
    "describe_report",
    "ensure_demo_data",
    "load_processed",
    "prepare_dataset",
    "rejected_summary_html",
    "rejected_thumbnails_html",
    "sample_grid",
    "model_view",
    "model_views",
    "model_view_html",
    # synthetic lines and tiny models (tests, scripts, the quickstart)
    "DEMO_PHRASES",
    "SyntheticSet",
    "build_tiny_model",
    "make_synthetic_lines",
    "render_line",
    "synthetic_page",
    # 02_finetune
    "ImageLimits",
    "LiveLossPlot",
    "LoraSettings",
    "TrainSettings",
    "add_lora",
    "check_finetune_parameters",
    "dataset_info",
    "describe_interrupted",
    "describe_training",
    "find_interrupted",
    "literal_parameters",
    "load_model",
    "new_run_dir",
    "preflight",
    "quick_validation",
    "take_lines",
    "token_report",
    "train_adapter",
    # scripts/train.py: 02_finetune headless, in one process or several
    "describe_parameters",
    "is_main_process",
    "notebook_parameters",
    "parse_overrides",
    # 03_evaluate
    "base_model_of",
    "bootstrap_html",
    "confidences_of",
    "check_evaluate_parameters",
    "confusion_html",
    "comparison_html",
    "metrics_html",
    "evaluate_systems",
    "evaluation_context",
    "find_runs",
    "load_adapter",
    "make_inspector",
    "new_evaluation_dir",
    "plot_cer_distribution",
    "plot_cer_vs_confidence",
    "plot_cer_vs_length",
    "predict_lines",
    "predict_systems",
    "read_baseline",
    "read_predictions",
    "render_samples_html",
    "save_evaluation",
    "texts_of",
    "update_comparison",
    # would more lines help? (03_evaluate's last section, scripts/learning_curve.py)
    "curve_for_notebook",
    "learning_curve_like",
    "plot_learning_curve",
    "run_learning_curve",
    # 04_demo
    "check_demo_parameters",
    "load_reader",
    "pick_run",
    "Reader",
    "SourcePage",
    "detect_lines",
    "make_corrector",
    "make_upload_reader",
    "read_pages",
    "read_scan",
    "render_page_readings_html",
    "scan_inputs",
    # scaling out: a merged model for plain transformers
    "ExportResult",
    "ParityResult",
    "export_merged",
    "merge_parity",
]
