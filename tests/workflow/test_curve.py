"""Learning curves (inkwell.workflow.curve, scripts/learning_curve.py): the verdict, the intervals, and a curve end to end."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

import helpers
from inkwell.workflow.curve import CurvePoint, cer_interval, curve_verdict
from inkwell.evaluation.evaluate import BootstrapResult, score_lines
from inkwell.workflow.validate import share_problem

SCRIPT = helpers.PROJECT_ROOT / "scripts" / "learning_curve.py"


def points(*cers: float) -> list[CurvePoint]:
    return [CurvePoint(f"c-{i}", (i + 1) / len(cers), 100 * (i + 1), 10 * (i + 1), c, c - 0.01, c + 0.01)
            for i, c in enumerate(cers)]


@pytest.mark.parametrize("low, high, opening", [
    (-0.08, -0.02, "Still falling at the full size (CER 20.0% with 100 lines, 15.0% with 200; difference 95% CI "
                   "[-8.0, -2.0] points): more lines would likely help"),
    (-0.03, 0.01, "Flat between the two largest points"),
    (0.01, 0.04, "Higher at the full size"),
])
def test_verdict_reads_the_last_pair(low: float, high: float, opening: str) -> None:
    pair = BootstrapResult("c-0", "c-1", -0.05, low, high, 1000)
    assert curve_verdict(points(0.20, 0.15), pair).startswith(opening)


def test_one_point_is_not_a_curve() -> None:
    assert curve_verdict(points(0.2), None).startswith("One point only")


def test_cer_interval_holds_the_cer() -> None:
    scores = score_lines([str(i) for i in range(40)], ["abcdefghij"] * 40, ["abcdefghij"] * 30 + ["abcdefgXYZ"] * 10)
    low, high = cer_interval(scores, 500)
    assert low < 0.075 < high and 0 <= low and high <= 0.3
    assert cer_interval(scores, 500) == (low, high)  # seeded


@pytest.mark.parametrize("shares, ok", [([0.5, 1.0], True), ([0.25, 0.5, 1], True), ([1.0], False), ([], False),
                                        ([0.5, 0.5], False), ([0, 1.0], False), ([0.5, 1.5], False), ("0.5", False)])
def test_share_problem(shares, ok: bool) -> None:
    assert (share_problem(shares) == "") == ok
    if not ok:
        assert share_problem(shares).startswith(f"learning_curve = {shares!r}: give two or more")


@pytest.mark.slow
def test_script_draws_a_curve_of_ordinary_runs(tiny_qwen25: Path, synthetic: helpers.SyntheticSet, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("INKWELL_HOME", str(home))
    helpers.prepare_dataset(synthetic.labels, None, "curvetest", seed=0)
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    settings = dict(model_name=str(tiny_qwen25), dataset_name="curvetest", max_steps=4, batch_size=4, grad_accum=1,
                    learning_rate=3e-3, warmup_steps=0, eval_lines=0, save_steps=0, max_image_width=256,
                    max_image_height=32, seed=0)
    args = [x for k, v in settings.items() for x in ("-p", k, str(v))]
    assert script.main([*args, "--shares", "0.5", "1.0", "--n-bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    train_lines = len(helpers.load_processed("curvetest")["train"])
    info = {n: json.loads((home / "adapters" / n / "run.json").read_text(encoding="utf-8"))
            for n in ("curve-50pct", "curve-100pct")}
    assert info["curve-100pct"]["train_lines"] == train_lines and info["curve-100pct"]["metrics"]["steps"] == 4
    assert info["curve-50pct"]["train_lines"] == round(train_lines / 2) and info["curve-50pct"]["metrics"]["steps"] == 2
    assert info["curve-50pct"]["parameters"]["learning_curve"].startswith("curve: 0.5 of train")
    with open(home / "adapters" / "evaluations" / "comparison.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["system"] for r in rows} == {"curve-50pct", "curve-100pct"}
    (evaluation,) = (home / "adapters" / "evaluations").glob("curvetest-test-*")
    assert (evaluation / "learning_curve.png").stat().st_size > 0
    assert "curve-100pct" in out and any(v in out for v in ("Still falling", "Flat between", "Higher at"))
    with pytest.raises(ValueError, match=r"--shares = \[1.0\]: give two or more"):
        script.main([*args, "--shares", "1.0"])

    # 03_evaluate's section: points trained like the focus run, from its run.json
    focus = home / "adapters" / "curve-100pct"
    curve = helpers.curve_for_notebook([0.5, 1.0], "curve-100pct", [focus], "test", max_lines=4, n_resamples=50)
    assert [p.run for p in curve.points] == ["curve-100pct-curve-50pct", "curve-100pct-curve-100pct"]
    assert [p.steps for p in curve.points] == [2, 4] and curve.eval_lines == 4
    assert helpers.plot_learning_curve(curve) is not None


def test_notebook_section_says_why_there_is_no_curve(tmp_path: Path) -> None:
    assert helpers.curve_for_notebook([], "", [], "test").text().startswith("No learning curve: set learning_curve = [")
    assert "none was evaluated" in helpers.curve_for_notebook([0.5, 1.0], "", [], "test").text()
    assert helpers.plot_learning_curve(helpers.curve_for_notebook([], "", [], "test")) is None
