"""Every notebook, executed headless through papermill at tiny size, in the order a user runs them.

Assertions are on what the notebooks wrote (the contracts in docs/contracts.md), not only on "it ran".
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

import helpers
from inkwell.core.quiet import KNOWN_MESSAGES

NOTEBOOKS = helpers.PROJECT_ROOT / "notebooks"
#: tqdm's text for a bar ("  0%|          | 0/48 [00:00<?, ?img/s]"), what a frozen widget bar shows without a kernel.
TQDM_BAR = re.compile(r"\|\s*\d+/\d+ \[")


def run(name: str, out_dir: Path, **parameters) -> nbformat.NotebookNode:
    out = out_dir / f"{name}.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters, cwd=str(NOTEBOOKS),
        kernel_name="python3", progress_bar=False, execution_timeout=600,
    )
    return nbformat.read(out, as_version=4)


def outputs(nb: nbformat.NotebookNode, mime: str) -> str:
    return "\n".join(
        str(o.get("data", {}).get(mime, "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def assert_reads_without_kernel(nb: nbformat.NotebookNode, *final_lines: str) -> None:
    """Every progress bar left its final line as text (no widget bar frozen at 0/N) and no known harmless noise."""
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                assert not TQDM_BAR.search(str(data.get("text/plain", ""))), f"widget progress bar left: {data}"
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                for known in KNOWN_MESSAGES:
                    assert not re.search(known.pattern.lstrip("^"), o.text), f"{known.logger} noise: {o.text}"
    text = outputs(nb, "text/plain")
    for line in final_lines:
        assert re.search(line, text), f"no final line {line!r} in\n{text}"


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_committed_notebooks_are_clean() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), path
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path}: exactly one cell tagged parameters"
        for line in tagged[0].source.splitlines():
            assert "  # " in line, f"{path}: every parameter has a comment: {line!r}"
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), path


@pytest.mark.slow
def test_workflow_end_to_end(tiny_qwen25: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a workspace of its own: runs other tests leave in the shared one must not join adapters = "all"
    home = tmp_path / "home"
    monkeypatch.setenv("INKWELL_HOME", str(home))
    # 01_data: synthetic lines -> processed set + report + rejected.csv
    nb1 = run("01_data", tmp_path, source=helpers.DEMO_SOURCE, dataset_name="nbtest", synthetic_lines=48, seed=0)
    processed = home / "data" / "processed" / "nbtest"
    report = json.loads((processed / "report.json").read_text(encoding="utf-8"))
    assert report["n_rows"] == 48 and report["n_accepted"] == 48
    assert all(report["split_sizes"][s] > 0 for s in ("train", "validation", "test"))
    assert next(csv.reader(open(processed / "rejected.csv", encoding="utf-8"))) == ["source", "line", "image", "reason", "fix"]
    assert "image/png" in str([o.get("data", {}).keys() for c in nb1.cells for o in c.get("outputs", [])])
    assert_reads_without_kernel(nb1, r"checking images: 48/48 images in [\d.]+ s")

    # raw inputs are read, never written; an existing set is kept unless overwrite=True
    raw = home / "data" / "raw" / "synthetic"
    before = tree_digest(raw)
    with pytest.raises(pm.PapermillExecutionError, match="FileExistsError"):
        run("01_data", tmp_path, source=helpers.DEMO_SOURCE, dataset_name="nbtest", synthetic_lines=48)
    run("01_data", tmp_path, source=helpers.DEMO_SOURCE, dataset_name="nbtest", synthetic_lines=48, overwrite=True)
    assert tree_digest(raw) == before

    # 02_finetune: adapter + run.json; a second run with the same name gets its own folder
    common = dict(model_name=str(tiny_qwen25), dataset_name="nbtest", max_steps=6, batch_size=4, grad_accum=1,
                  max_image_height=32, max_image_width=256, eval_lines=4, learning_rate=1e-3)
    nb2 = run("02_finetune", tmp_path, run_name="nb", eval_steps=3, **common)
    first = home / "adapters" / "nb"
    # one live figure (loss and validation CER), kept as a plain image in the executed notebook
    train_cell = next(c for c in nb2.cells if "LiveLossPlot" in c.source)
    assert sum("image/png" in o.get("data", {}) for o in train_cell.outputs) == 1
    assert_reads_without_kernel(nb2, r"Loading weights: \d+/\d+ in ", r"training: 6/6 steps in .*, loss=\d",
                                r"validation check: 4/4 lines in ")
    assert (first / "adapter_config.json").exists() and (first / "adapter_model.safetensors").exists()
    info = json.loads((first / "run.json").read_text(encoding="utf-8"))
    assert info["base_model"] == str(tiny_qwen25) and info["backend"] == "transformers"
    assert "no CUDA GPU" in info["backend_reason"]
    assert info["parameters"]["max_steps"] == 6 and info["parameters"]["lora_r"] == 16
    assert info["metrics"]["steps"] == 6 and info["metrics"]["train_loss"] > 0
    assert len(info["dataset"]["fingerprint"]) == 16 and info["versions"]["transformers"]
    assert 0 <= info["validation"]["cer"] and info["validation"]["lines"] == 4
    assert [e["step"] for e in info["val_history"]] == [3, 6] and info["metrics"]["best_step"] in (3, 6)
    assert info["started"] <= info["finished"]
    first_files = tree_digest(first)
    run("02_finetune", tmp_path, run_name="nb", **{**common, "learning_rate": 3e-3})
    assert tree_digest(first) == first_files
    second = json.loads((home / "adapters" / "nb-2" / "run.json").read_text(encoding="utf-8"))
    assert second["parameters"]["learning_rate"] == 3e-3

    # 03_evaluate: base + both runs on the test split, files per the contract, diffs and inspector inline
    nb3 = run("03_evaluate", tmp_path, dataset_name="nbtest", split="test", adapters="all", n_bootstrap=200,
              baselines=["ppocr"])
    (eval_dir,) = sorted((home / "adapters" / "evaluations").glob("nbtest-test-*"))
    with open(eval_dir / "predictions.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) >= {"id", "system", "reference", "prediction", "cer"}
    assert {r["system"] for r in rows} == {"base", "ppocr", "nb", "nb-2"}
    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["systems"]) == {"base", "ppocr", "nb", "nb-2"} and len(metrics["bootstrap"]) == 6
    with open(home / "adapters" / "evaluations" / "comparison.csv", encoding="utf-8") as fh:
        compared = {r["system"]: r for r in csv.DictReader(fh)}
    assert set(compared) == {"base", "ppocr", "nb", "nb-2"}  # the classic-OCR baseline writes its row too
    assert 0 <= float(compared["ppocr"]["cer"]) == pytest.approx(metrics["systems"]["ppocr"]["cer"])
    html = outputs(nb3, "text/html")
    assert "data:image/png;base64" in html and ("<del" in html or "<ins" in html or "CER" in html)
    assert "application/vnd.jupyter.widget-view+json" in str([o.get("data", {}).keys() for c in nb3.cells for o in c.get("outputs", [])])
    assert_reads_without_kernel(nb3, r"decoding base: 8/8 lines in ", r"decoding nb: 8/8 lines in ",
                                r"decoding nb-2: 8/8 lines in ", r"reading ppocr: 8/8 lines in ")
    # every view centres on the newest adapter (nb-2): its own worst line opens the inline samples and the
    # inspector's static copy, which the saved notebook holds as plain HTML for reading without a kernel
    focus_cers = {r["id"]: float(r["cer"]) for r in rows if r["system"] == "nb-2"}
    worst = max(focus_cers, key=lambda i: (focus_cers[i], -list(focus_cers).index(i)))
    samples = next(t for t in html.split("\n") if "worst lines of nb-2" in t)
    assert samples.index(f">{worst}<") == min(samples.find(f">{i}<") for i in focus_cers if f">{i}<" in samples)
    static = html[html.index('class="iw-static"'):]
    assert "worst first by nb-2" in static and "data:image/png;base64" in static
    assert static.index(f">{worst}<") == min(static.find(f">{i}<") for i in focus_cers if f">{i}<" in static)
    assert "VBox(" not in outputs(nb3, "text/plain")

    # 04_demo: a folder as people have them (line images, a page, junk): every line read, saved, shown
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for image in sorted((raw / "images").glob("*.png"))[:2]:
        (inbox / image.name).write_bytes(image.read_bytes())
    helpers.synthetic_page(3, size=(900, 600), seed=2).image.save(inbox / "page.png")
    (inbox / "empty.png").write_bytes(b"")
    (inbox / "notes.txt").write_text("not an image", encoding="utf-8")
    nb4 = run("04_demo", tmp_path, adapter="nb", inputs=str(inbox), max_files=0)
    (readings,) = sorted((home / "adapters" / "nb" / "readings").iterdir())
    with open(readings / "readings.csv", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert len(read) == 2 + 3 and {Path(r["file"]).name for r in read} >= {"page.png"}
    assert (readings / "page.xml").exists() and (readings / "page.txt").read_text(encoding="utf-8").count("\n") >= 2
    demo = outputs(nb4, "text/html")
    assert "3 line(s) found" in demo and "empty.png" in demo and "notes.txt" in demo and "Nothing was uploaded" in demo
    assert_reads_without_kernel(nb4, r"reading: 5/5 lines in ")
    assert all(0 <= float(r["confidence"]) <= 1 for r in read) and "0 of 5 lines checked" in demo  # the static copy

    # the corrector on that folder, outside the notebook's kernel: two lines checked, saved, read by 01_data
    corrector = helpers.make_corrector(readings)
    assert len(corrector.lines) == 5 and corrector.lines[0].confidence <= corrector.lines[-1].confidence
    corrector.correct(0, "a corrected line")
    kept = next(k for k in range(1, 5) if corrector.lines[k].read.strip())  # a reading with text, accepted as read
    corrector.accept(kept)
    saved = corrector.save("nb-corrections")
    assert saved == home / "data" / "raw" / "nb-corrections"
    nb1c = run("01_data", tmp_path, source="data/raw/nb-corrections", dataset_name="nb-corrected")
    corrected = helpers.load_processed("nb-corrected")
    assert sorted(r["text"] for split in corrected.values() for r in split) == \
        sorted(["a corrected line", corrector.lines[kept].read.strip()])
    printed = "".join(o.get("text", "") for c in nb1c.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "2 checked line(s)" in printed and "3 line(s) not checked yet" in printed  # 01_data's report says so
