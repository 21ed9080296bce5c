"""compare(): same candidates for every run, baseline first, significance, files and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rag_rerankers.evaluation import compare, paired_test
from rag_rerankers.evaluation.report import comparison_table

from eval.helpers import KeywordReranker, tiny_dataset

METRICS = ["nDCG@10", "MRR@10"]


def test_compare_writes_table_json_csv_plots_and_jsonl(tmp_path: Path) -> None:
    ds = tiny_dataset(8)
    cmp = compare([KeywordReranker(), KeywordReranker(reverse=True), "bm25"], ds, METRICS,
                  out_dir=tmp_path, progress=False)
    labels = [r.label for r in cmp.results]
    assert labels == ["first-stage (given order)", "keyword", "keyword #2", "bm25"]
    assert cmp.results[1].metrics["MRR@10"] == 1.0
    assert cmp.results[2].metrics["nDCG@10"] < cmp.baseline.metrics["nDCG@10"]

    sig = cmp.significance
    assert set(sig) == {"keyword", "keyword #2", "bm25"}
    assert sig["keyword"]["test"] == "paired t-test" and sig["keyword"]["n"] == 8
    assert sig["keyword"]["p_value"] < 0.001 and sig["keyword"]["mean_diff"] > 0
    assert sig["keyword #2"]["mean_diff"] < 0

    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["baseline"] == "first-stage (given order)"
    assert data["results"][1]["per_query"]["q0"]["MRR@10"] == 1.0
    assert data["dataset"]["queries"] == 8
    with open(tmp_path / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == labels and float(rows[1]["MRR@10"]) == 1.0
    for name in ("quality_vs_latency.png", "metrics.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = (tmp_path / "per_query.jsonl").read_text().splitlines()
    assert len(records) == 3 * 8
    assert cmp.files["quality_vs_latency"] == str(tmp_path / "quality_vs_latency.png")


def test_plots_leave_the_callers_matplotlib_state_alone(tmp_path: Path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # e.g. a notebook's or an app's own backend
    try:
        compare(["bm25"], tiny_dataset(4), METRICS, out_dir=tmp_path, progress=False)
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == []  # no figure left open in pyplot
        assert (tmp_path / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        matplotlib.use(before)


def test_nDCG10_is_always_compared_and_table_renders() -> None:
    from rich.console import Console

    cmp = compare([KeywordReranker()], tiny_dataset(), ["P@1"], progress=False)
    assert cmp.metrics == ["P@1", "nDCG@10"]
    console = Console(width=200, record=True)
    console.print(comparison_table(cmp))
    text = console.export_text()
    assert "baseline" in text and "keyword" in text and "1.0000" in text and "p50 ms" in text


def test_a_spec_that_cannot_be_built_does_not_stop_the_others() -> None:
    cmp = compare(["no-such-backend", KeywordReranker()], tiny_dataset(), METRICS, progress=False)
    assert [r.label for r in cmp.results][1:] == ["keyword"]
    assert "unknown backend 'no-such-backend'" in cmp.errors["no-such-backend"]


def test_explicit_first_stage_spec_is_not_duplicated() -> None:
    cmp = compare(["first-stage", KeywordReranker()], tiny_dataset(), METRICS, progress=False)
    assert len(cmp.results) == 2


def test_paired_test_identical_runs_and_failed_queries() -> None:
    ds = tiny_dataset()
    same = compare([KeywordReranker(reverse=False), KeywordReranker()], ds, METRICS,
                   progress=False)
    ok = same.results[1].metrics["nDCG@10"]
    assert paired_test(same.results[1], same.results[2])["p_value"] == 1.0
    failing = compare([KeywordReranker(fail_on=["number 0", "number 1"])], ds, METRICS,
                      progress=False)
    res = failing.results[1]
    assert res.n_failed == 2 and res.metrics["nDCG@10"] == pytest.approx(ok * 4 / 6)
    assert failing.rows()[1]["failed"] == 2


def test_api_keys_never_reach_labels_or_files(tmp_path: Path) -> None:
    from rag_rerankers.evaluation.runner import spec_label

    assert spec_label("cohere:rerank-v3.5?api_key=sk-secret&top_n=5") == (
        "cohere:rerank-v3.5?api_key=***&top_n=5")
    assert spec_label({"backend": "voyage", "api_key": "sk-secret"}) == "voyage?api_key=***"
    cmp = compare(["nope?api_key=sk-secret", KeywordReranker()], tiny_dataset(2), METRICS,
                  out_dir=tmp_path, progress=False, plots=False)
    assert list(cmp.errors) == ["nope?api_key=***"]
    for path in tmp_path.iterdir():
        assert "sk-secret" not in path.read_text()
