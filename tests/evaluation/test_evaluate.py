"""Tests for inkwell.evaluation.evaluate: line scores, corpus metrics, bootstrap, saving and comparison; values computed by hand."""

import json

import jiwer
import numpy as np
import pandas as pd
import pytest

import helpers
from inkwell.evaluation.evaluate import (
    BootstrapResult,
    LineScore,
    SystemMetrics,
    evaluate_systems,
    normalize_text,
    paired_bootstrap,
    read_comparison,
    save_evaluation,
    score_lines,
    system_metrics,
    update_comparison,
)

# ---------------------------------------------------------------------------
# Line scores
# ---------------------------------------------------------------------------

LINE_CASES = [
    # reference, prediction, edits, ref_chars, word_edits, ref_words
    ("abcd", "abed", 1, 4, 1, 1),
    ("abcd", "abcd", 0, 4, 0, 1),
    ("abc", "", 3, 3, 1, 1),  # empty prediction: every char deleted
    ("e\u0301t\u00e9", "\u00e9te\u0301", 0, 3, 0, 1),  # combining vs precomposed
    ("привет", "привот", 1, 6, 1, 1),  # Cyrillic
    ("hello world", "hello word", 1, 11, 1, 2),
    ("ab", "ababab", 4, 2, 1, 1),  # runaway: CER 2.0
    ("abc", "  abc\n", 0, 3, 0, 1),  # outer whitespace ignored
    ("a b", "ab", 1, 3, 2, 2),  # inner space counts as a character
]


@pytest.mark.parametrize("ref,pred,edits,chars,wedits,words", LINE_CASES)
def test_score_lines_table(ref, pred, edits, chars, wedits, words):
    (s,) = score_lines(["x"], [ref], [pred])
    assert (s.edits, s.ref_chars, s.word_edits, s.ref_words) == (edits, chars, wedits, words)
    assert s.cer == pytest.approx(edits / chars)
    assert s.id == "x"


def test_score_lines_none_and_nan_prediction_are_empty():
    scores = score_lines([1, 2], ["ab", "cd"], [None, float("nan")])
    assert [s.cer for s in scores] == [1.0, 1.0]
    assert [s.id for s in scores] == ["1", "2"]


@pytest.mark.parametrize("bad", ["", "   ", None, float("nan")])
def test_empty_reference_raises_naming_id(bad):
    with pytest.raises(ValueError, match=r"line_042.*(fix|drop)|line_042.*drop"):
        score_lines(["ok", "line_042"], ["fine", bad], ["fine", "x"])


def test_score_lines_rejects_mismatch_and_duplicates():
    with pytest.raises(ValueError, match="same length"):
        score_lines(["a"], ["x", "y"], ["x", "y"])
    with pytest.raises(ValueError, match="unique"):
        score_lines(["a", "a"], ["x", "y"], ["x", "y"])


# ---------------------------------------------------------------------------
# Corpus metrics
# ---------------------------------------------------------------------------


def test_corpus_cer_is_total_edits_over_total_chars_not_mean():
    refs = ["abcd", "a"]
    preds = ["abed", "b"]
    m = system_metrics("s", score_lines(["1", "2"], refs, preds))
    assert m.cer == pytest.approx(2 / 5)  # not (0.25 + 1.0) / 2 = 0.625
    assert m.cer == pytest.approx(jiwer.cer(refs, preds))


def test_corpus_wer_is_total_edits_over_total_words():
    refs = ["the cat sat", "a dog"]
    preds = ["the bat sat", "a dog"]
    m = system_metrics("s", score_lines(["1", "2"], refs, preds))
    assert m.wer == pytest.approx(1 / 5)  # not (1/3 + 0) / 2
    assert m.wer == pytest.approx(jiwer.wer(refs, preds))


def test_median_exact_match():
    scores = score_lines(["1", "2", "3"], ["abcd", "abcd", "ab"], ["abcd", "abed", ""])
    m = system_metrics("s", scores)
    assert m.median_cer == pytest.approx(0.25)
    assert m.exact_match == pytest.approx(1 / 3)
    assert m.n_lines == 3
    assert m.cer == pytest.approx(3 / 10)


def test_normalized_beside_raw():
    m = system_metrics("s", score_lines(["1"], ["Hello, World!"], ["hello world"]))
    assert m.cer == pytest.approx(4 / 13)  # H->h, -",", W->w, -"!"
    assert m.wer == pytest.approx(1.0)
    assert m.cer_normalized == 0.0
    assert m.wer_normalized == 0.0


def test_normalized_reference_that_vanishes():
    # "..." normalises to "", its predicted chars count as insertions
    m = system_metrics("s", score_lines(["1", "2"], ["...", "abcd"], ["x", "abcd"]))
    assert m.cer_normalized == pytest.approx(1 / 4)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("  Hello,   WORLD! ", "hello world"),
        ("Straße", "strasse"),
        ("don't", "dont"),
        ("«Привет», — сказал", "привет сказал"),
        ("$5.00", "$500"),
        ("e\u0301", "\u00e9"),
        ("a\tb\nc", "a b c"),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_runaway_lines_counted_and_listed():
    scores = score_lines(["r1", "ok", "r2", "edge"], ["ab", "abc", "xy", "ab"], ["ababab", "abc", "xyxyxyxy", "abab"])
    m = system_metrics("s", scores)
    assert m.n_runaway == 2  # "edge" is exactly 100%, not above
    assert m.runaway_ids == ["r1", "r2"]
    assert json.dumps(m.to_dict())  # plain data


def test_system_metrics_empty_raises():
    with pytest.raises(ValueError):
        system_metrics("s", [])


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


def _scores(edits, chars):
    return [LineScore(str(i), "r", "p", e / c, e, c, 0, 1) for i, (e, c) in enumerate(zip(edits, chars))]


def test_bootstrap_identical_systems():
    s = _scores([1, 0, 3, 2], [10, 5, 7, 4])
    r = paired_bootstrap(s, s, n_resamples=500, seed=1, system_a="x", system_b="y")
    assert (r.diff, r.low, r.high) == (0.0, 0.0, 0.0)
    assert not r.significant
    assert "not distinguishable" in r.verdict


def test_bootstrap_b_perfect_a_all_wrong():
    a = _scores([5, 3, 8], [5, 3, 8])  # CER 1 on every line
    b = _scores([0, 0, 0], [5, 3, 8])
    r = paired_bootstrap(a, b, system_a="base", system_b="tuned")
    assert r.diff == pytest.approx(-1.0)
    assert r.low == pytest.approx(-1.0) and r.high == pytest.approx(-1.0)
    assert r.high < 0 and r.significant
    assert r.verdict.startswith("tuned is better than base")
    r2 = paired_bootstrap(b, a, system_a="tuned", system_b="base")
    assert r2.low > 0 and r2.verdict.startswith("base is worse than tuned")


def test_bootstrap_deterministic_and_brackets_diff():
    rng = np.random.default_rng(123)
    chars = rng.integers(10, 60, size=300)
    a = _scores(rng.integers(0, 10, size=300), chars)
    b = _scores(rng.integers(0, 10, size=300), chars)
    r1 = paired_bootstrap(a, b, n_resamples=1000, seed=7)
    r2 = paired_bootstrap(a, b, n_resamples=1000, seed=7)
    r3 = paired_bootstrap(a, b, n_resamples=1000, seed=8)
    assert r1 == r2
    assert (r1.low, r1.high) != (r3.low, r3.high)
    assert r1.low <= r1.diff <= r1.high
    assert r1.n_resamples == 1000


def test_bootstrap_rejects_different_lines():
    with pytest.raises(ValueError):
        paired_bootstrap(_scores([1], [2]), _scores([1, 1], [2, 2]))
    a = _scores([1, 1], [2, 2])
    b = [LineScore("zz", "r", "p", 0.5, 1, 2, 0, 1), a[1]]
    with pytest.raises(ValueError, match="same line ids"):
        paired_bootstrap(a, b)


def test_bootstrap_fast_on_large_input():
    import time

    a = _scores(np.ones(5000, dtype=int), np.full(5000, 30))
    b = _scores(np.zeros(5000, dtype=int), np.full(5000, 30))
    t = time.perf_counter()
    paired_bootstrap(a, b, n_resamples=1000)
    assert time.perf_counter() - t < 5


# ---------------------------------------------------------------------------
# Evaluation, saving, comparison table
# ---------------------------------------------------------------------------

IDS = ["l1", "l2", "l3"]
REFS = ["abcd", "hello world", "привет"]
PREDS = {
    "base": ["abed", "helo wrld", "пока"],
    "tuned": ["abcd", "hello world", "привот"],
    "other": ["abcd", "hello", "привет"],
}


def test_evaluate_systems_table_and_pairs():
    ev = evaluate_systems(IDS, REFS, PREDS, n_resamples=200)
    assert ev.systems == ["base", "tuned", "other"]
    assert [(b.system_a, b.system_b) for b in ev.bootstrap] == [("base", "tuned"), ("base", "other"), ("tuned", "other")]
    t = ev.table()
    assert list(t["system"]) == ["base", "tuned", "other"]
    for col in ["cer", "wer", "cer_normalized", "wer_normalized", "median_cer", "exact_match", "n_runaway"]:
        assert col in t.columns
    assert t.loc[t.system == "tuned", "cer"].item() == pytest.approx(1 / 21)
    assert t.loc[t.system == "tuned", "exact_match"].item() == pytest.approx(2 / 3)
    pf = ev.predictions_frame()
    assert list(pf.columns) == ["id", "system", "reference", "prediction", "cer", "confidence"]
    assert len(pf) == 9
    assert isinstance(ev.metrics["base"], SystemMetrics)
    assert isinstance(ev.bootstrap[0], BootstrapResult)
    assert len(ev.bootstrap_table()) == 3


def test_save_evaluation_writes_and_refuses_overwrite(tmp_path):
    ev = evaluate_systems(IDS, REFS, PREDS, n_resamples=100)
    out = tmp_path / "run1"
    paths = save_evaluation(ev, out, extra={"dataset": "mine", "split": "test", "adapter": tmp_path / "a"})
    pf = pd.read_csv(paths["predictions"])
    assert list(pf.columns) == ["id", "system", "reference", "prediction", "cer", "confidence"]
    assert "привет" in set(pf["reference"])
    meta = json.loads(paths["metrics"].read_text(encoding="utf-8"))
    assert set(meta["systems"]) == {"base", "tuned", "other"}
    assert meta["systems"]["tuned"]["cer"] == pytest.approx(1 / 21)
    assert len(meta["bootstrap"]) == 3 and "verdict" in meta["bootstrap"][0]
    assert meta["extra"]["dataset"] == "mine"
    with pytest.raises(FileExistsError, match="predictions.csv"):
        save_evaluation(ev, out)


def test_update_comparison_appends_and_replaces_only_its_own_evaluation(tmp_path):
    table = tmp_path / "sub" / "comparison.csv"
    ev = evaluate_systems(IDS, REFS, {k: PREDS[k] for k in ["base", "tuned"]}, n_resamples=50)
    t1 = update_comparison(ev, table, "mine", "test", base_model="org/base", evaluation_name="mine-test-1")
    assert len(t1) == 2
    assert list(t1.columns[:5]) == ["dataset", "split", "system", "base_model", "n_lines"]
    assert list(t1.columns[-2:]) == ["evaluation", "created"] and set(t1["base_model"]) == {"org/base"}
    t2 = update_comparison(ev, table, "mine", "val", base_model="org/base", evaluation_name="mine-val-1")
    assert len(t2) == 4
    better = evaluate_systems(IDS, REFS, {"tuned": REFS}, n_resamples=50)
    # same dataset, split and system from another evaluation: appended, the earlier row is kept
    t3 = update_comparison(better, table, "mine", "test", base_model="org/other", evaluation_name="mine-test-2")
    assert len(t3) == 5 and list(t3["evaluation"]) == ["mine-test-1"] * 2 + ["mine-val-1"] * 2 + ["mine-test-2"]
    tuned_test = t3[(t3.system == "tuned") & (t3.split == "test")]
    assert tuned_test["cer"].tolist() == [pytest.approx(1 / 21), 0.0]
    # the same evaluation written again replaces its own row, in place
    t4 = update_comparison(better, table, "mine", "test", base_model="org/base", evaluation_name="mine-test-1")
    assert len(t4) == 5 and list(t4["system"]) == ["base", "tuned", "base", "tuned", "tuned"]
    assert t4["cer"].iloc[1] == 0.0 and t4["base_model"].iloc[1] == "org/base"
    reread = read_comparison(table)
    assert len(reread) == 5 and {"dataset", "split", "system", "cer", "wer", "evaluation", "created"} <= set(reread.columns)
    assert reread["created"].str.match(r"\d{4}-\d\d-\d\dT").all()
    with pytest.raises(ValueError, match="evaluation_name = ''"):
        update_comparison(ev, table, "mine", "test", base_model="org/base", evaluation_name="")


def test_old_comparison_table_still_loads_and_grows(tmp_path):
    table = tmp_path / "comparison.csv"
    table.write_text("dataset,split,system,n_lines,cer,wer\nmine,test,base,3,0.5,0.6\n", encoding="utf-8")
    old = read_comparison(table)
    assert old[["base_model", "evaluation", "created"]].iloc[0].tolist() == ["", "", ""]
    ev = evaluate_systems(IDS, REFS, {"base": PREDS["base"]}, n_resamples=50)
    grown = update_comparison(ev, table, "mine", "test", base_model="org/base", evaluation_name="e2")
    assert len(grown) == 2 and grown["cer"].iloc[0] == 0.5 and grown["evaluation"].tolist() == ["", "e2"]


def test_predictions_and_comparison_never_hold_formulas(tmp_path):
    """Texts that a spreadsheet would run are written with a leading quote and read back exactly."""
    refs = ['=HYPERLINK("http://x")', "+1", "-", "@a", "'=x", "'plain", "-5 degrees"]
    preds = ["=1+1", "\tx", "\rx", "@a", "'=x", "plain", "-5"]
    ids = [f"l{i}" for i in range(len(refs))]
    ev = evaluate_systems(ids, refs, {"=base": preds, "-tuned": refs}, n_resamples=20,
                          confidences={"-tuned": [0.5] * len(refs)})
    paths = save_evaluation(ev, tmp_path / "e")
    raw = paths["predictions"].read_text(encoding="utf-8")
    assert '"\'=HYPERLINK(""http://x"")"' in raw and ",'+1," in raw and ",''plain," in raw and ",'-5 degrees," in raw
    assert ",'=base," in raw and ",'-tuned," in raw
    back = helpers.read_predictions(tmp_path / "e")  # the folder, or its predictions.csv
    assert back["reference"].tolist() == refs * 2
    assert back["prediction"].tolist() == ["=1+1", "x", "x", "@a", "'=x", "plain", "-5", *refs]  # outer spaces stripped when scored
    assert back["system"].tolist() == ["=base"] * 7 + ["-tuned"] * 7 and back["cer"].dtype == float
    assert back["confidence"].isna().tolist() == [True] * 7 + [False] * 7 and set(back["confidence"][7:]) == {0.5}
    table = tmp_path / "comparison.csv"
    update_comparison(ev, table, "=data", "test", base_model="@org/base", evaluation_name="-e")
    assert table.read_text(encoding="utf-8").splitlines()[1].startswith("'=data,test,'=base,'@org/base,7,")
    again = update_comparison(ev, table, "=data", "test", base_model="@org/base", evaluation_name="-e")
    assert again["system"].tolist() == ["=base", "-tuned"] and again["evaluation"].tolist() == ["-e", "-e"]
    assert read_comparison(table)["dataset"].tolist() == ["=data", "=data"]
    assert helpers.read_predictions(paths["predictions"]).equals(back)
    with pytest.raises(FileNotFoundError, match="predictions.csv"):
        helpers.read_predictions(tmp_path / "nowhere")
