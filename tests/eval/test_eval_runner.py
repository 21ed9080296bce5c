"""The runner: metrics per run, latency, cost, failures recorded, interrupted runs resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_rerankers.evaluation import FIRST_STAGE, ResultStore, evaluate

from eval.helpers import KeywordReranker, PricedReranker, tiny_dataset

METRICS = ["nDCG@10", "MRR@10", "P@1"]


def test_first_stage_keeps_given_order() -> None:
    res = evaluate(FIRST_STAGE, tiny_dataset(), METRICS)
    assert res.is_first_stage and res.latency is None
    assert res.metrics["MRR@10"] == pytest.approx(1 / 4)  # d3 is 4th everywhere
    assert res.rankings["q0"] == [f"q0-d{j}" for j in range(5)]


def test_reranker_metrics_latency_and_rankings() -> None:
    rr = KeywordReranker()
    res = evaluate(rr, tiny_dataset(), METRICS, progress=False, warmup=False)
    assert res.metrics["MRR@10"] == 1.0 and res.metrics["P@1"] == 1.0
    assert res.rankings["q1"][0] == "q1-d3"
    assert len(rr.seen) == 6 and res.n_docs == 30 and res.n_failed == 0
    lat = res.latency
    assert lat is not None and 0 < lat["p50_ms"] <= lat["p95_ms"]
    assert lat["docs_per_s"] == pytest.approx(30 / lat["total_s"])
    assert res.cost_usd is None  # a local reranker has no price


def test_warmup_call_is_untimed_and_extra() -> None:
    rr = KeywordReranker()
    evaluate(rr, tiny_dataset(2), METRICS, progress=False)
    assert len(rr.seen) == 3  # one warm-up call, then one per query


def test_rel_threshold_changes_binary_metrics() -> None:
    ds = tiny_dataset()
    reverse = KeywordReranker(reverse=True)  # puts d3 last: first relevant is d4 (grade 1)
    lenient = evaluate(reverse, ds, ["MRR@10"], progress=False, warmup=False)
    strict = evaluate(reverse, ds, ["MRR@10"], rel=2, progress=False, warmup=False)
    assert lenient.metrics["MRR@10"] == pytest.approx(1 / 4)
    assert strict.metrics["MRR@10"] == pytest.approx(1 / 5)


def test_failing_query_is_recorded_and_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    rr = KeywordReranker(fail_on=["number 2"])
    res = evaluate(rr, tiny_dataset(), METRICS, results_path=path, progress=False, warmup=False)
    assert len(rr.seen) == 6
    assert res.failures == {"q2": "RuntimeError: provider exploded"}
    assert res.per_query["q2"] == dict.fromkeys(METRICS, 0.0)  # counted as 0, not dropped
    assert res.metrics["MRR@10"] == pytest.approx(5 / 6)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["qid"] for x in lines] == [f"q{i}" for i in range(6)]
    assert lines[2]["error"] == "RuntimeError: provider exploded" and lines[2]["docids"] == []


def test_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    ds = tiny_dataset()
    with pytest.raises(KeyboardInterrupt):
        evaluate(KeywordReranker(interrupt_after=4), ds, METRICS, results_path=path,
                 progress=False, warmup=False, label="kw")
    assert len(path.read_text().splitlines()) == 4
    path.write_text(path.read_text() + '{"run": "kw", "qid": "q4", "docids": [')  # torn line
    rr = KeywordReranker()
    res = evaluate(rr, ds, METRICS, results_path=path, progress=False, warmup=False, label="kw")
    assert rr.seen == [ds.queries["q4"], ds.queries["q5"]]
    fresh = evaluate(KeywordReranker(), ds, METRICS, progress=False, warmup=False)
    assert res.metrics == fresh.metrics and res.rankings == fresh.rankings
    # A third run has nothing left to do and builds nothing.
    again = KeywordReranker()
    evaluate(again, ds, METRICS, results_path=path, progress=False, label="kw")
    assert again.seen == []


def test_resume_retries_failures_and_ignores_other_datasets(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    ds = tiny_dataset()
    evaluate(KeywordReranker(fail_on=["number 1"]), ds, METRICS, results_path=path,
             progress=False, warmup=False, label="kw")
    retry = KeywordReranker()
    res = evaluate(retry, ds, METRICS, results_path=path, progress=False, warmup=False, label="kw")
    assert retry.seen == [ds.queries["q1"]] and res.n_failed == 0
    other = KeywordReranker()
    evaluate(other, tiny_dataset(3).limit(2), METRICS, results_path=path, progress=False,
             warmup=False, label="kw")
    assert len(other.seen) == 0  # same queries and candidates: reused
    changed = tiny_dataset()
    changed.candidates["q0"] = changed.candidates["q0"][:3]
    other = KeywordReranker()
    evaluate(other, changed, METRICS, results_path=path, progress=False, warmup=False, label="kw")
    assert other.seen == [ds.queries["q0"]]  # only the query whose candidates changed
    assert len(ResultStore(path).load("kw")) == 6 + 1  # q1 retried under the same key
    assert not evaluate(FIRST_STAGE, ds, METRICS).failures


def test_fresh_run_ignores_previous_records(tmp_path: Path) -> None:
    path = tmp_path / "per_query.jsonl"
    evaluate(KeywordReranker(), tiny_dataset(), METRICS, results_path=path, progress=False)
    rr = KeywordReranker()
    evaluate(rr, tiny_dataset(), METRICS, results_path=path, progress=False, resume=False,
             warmup=False)
    assert len(rr.seen) == 6


def test_cost_estimate_for_priced_backend_and_no_billed_warmup() -> None:
    rr = PricedReranker()
    res = evaluate(rr, tiny_dataset(), METRICS, progress=False)
    assert len(rr.seen) == 6  # no warm-up call: it would be billed
    assert res.backend == "cohere"
    assert res.cost_usd == pytest.approx(6 * 2.00 / 1000)  # one search unit per query


def test_spec_strings_and_dicts_are_built_by_the_factory() -> None:
    ds = tiny_dataset(2)
    a = evaluate("bm25?k1=1.2", ds, METRICS, progress=False)
    b = evaluate({"backend": "bm25", "k1": 1.2}, ds, METRICS, progress=False)
    assert a.label == b.label == "bm25?k1=1.2" and a.backend == "bm25"
    assert a.metrics == b.metrics


def test_library_calls_print_nothing_unless_progress_is_asked(capfd) -> None:
    from rag_rerankers.evaluation import compare
    from rag_rerankers.evaluation.readers import sample_dataset

    ds = sample_dataset(depth=5).limit(3)
    capfd.readouterr()
    evaluate("bm25", ds)
    compare(["bm25"], ds, plots=False)
    assert capfd.readouterr() == ("", "")
    evaluate("bm25", ds, progress=True)
    assert "3/3" in capfd.readouterr().err
