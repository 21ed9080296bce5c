"""LLM rerankers in the evaluation: per-query calls and tokens, cost, ``eval``/``compare``."""

from __future__ import annotations

import json

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.cli import main
from rag_rerankers.evaluation import compare, evaluate
from rag_rerankers.evaluation.comparison import Comparison
from rag_rerankers.evaluation.report import comparison_table
from rag_rerankers.llm import chat as chat_module

from eval.helpers import tiny_dataset
from llm.helpers import ScriptedChatModel, oracle, words


def by_answer(_query, text):
    return 1 if "answer" in text else 0


def test_evaluate_reports_calls_and_tokens_per_query(tmp_path):
    model = ScriptedChatModel(answer=oracle(by_answer))
    rr = init_reranker("llm?window=3&step=1&input_price=1.0&output_price=2.0", llm=model)
    res = evaluate(
        rr, tiny_dataset(4), ["nDCG@10"], results_path=tmp_path / "pq.jsonl", progress=False
    )
    assert res.metrics["nDCG@10"] > 0.9
    calls = len(model.recorder.calls)
    assert calls == 4 * 3  # 5 candidates, window 3, step 1: windows (2,5) (1,4) (0,3)
    usage = res.llm_usage
    assert usage["llm_calls"] == calls and usage["llm_calls_per_query"] == 3
    assert usage["input_tokens"] == model.recorder.input_tokens
    assert usage["output_tokens"] == model.recorder.output_tokens
    expected = (model.recorder.input_tokens * 1.0 + model.recorder.output_tokens * 2.0) / 1e6
    assert res.cost_usd == pytest.approx(expected)
    records = [json.loads(line) for line in (tmp_path / "pq.jsonl").read_text().splitlines()]
    assert all(r["llm_calls"] == 3 for r in records)
    assert sum(r["input_tokens"] for r in records) == model.recorder.input_tokens


def test_unpriced_model_has_usage_but_no_cost():
    rr = init_reranker("llm", llm=ScriptedChatModel(answer=oracle(by_answer)))
    res = evaluate(rr, tiny_dataset(2), ["nDCG@10"], progress=False)
    assert res.llm_usage["llm_calls"] == 2 and res.cost_usd is None


def test_non_llm_runs_have_no_llm_columns():
    res = evaluate("bm25", tiny_dataset(2), ["nDCG@10"], progress=False)
    assert res.llm_usage is None
    cmp = Comparison(dataset={}, metrics=["nDCG@10"], results=[res])
    assert "llm_calls_per_query" not in cmp.rows()[0]


def test_compare_table_shows_llm_usage():
    rr = init_reranker("llm?window=3&step=1", llm=ScriptedChatModel(answer=oracle(by_answer)))
    cmp = compare([rr, "bm25"], tiny_dataset(3), ["nDCG@10"], progress=False)
    rows = {r["run"]: r for r in cmp.rows()}
    llm_row = next(r for label, r in rows.items() if label.startswith("llm"))
    assert llm_row["llm_calls_per_query"] == 3
    assert rows["bm25"]["llm_calls_per_query"] is None
    headers = [c.header for c in comparison_table(cmp).columns]
    assert {"LLM calls/q", "tokens in/q", "tokens out/q"} <= set(headers)


@pytest.fixture
def fake_provider(monkeypatch):
    """'provider:model' strings build a scripted model (no provider package, no network)."""
    made = []

    def build(spec, **kwargs):
        model = ScriptedChatModel(answer=oracle(by_answer), model_name=spec)
        made.append(model)
        return model

    monkeypatch.setattr(chat_module, "init_chat_model_from_spec", build)
    return made


def test_cli_compare_prices_a_model_from_the_pricing_table(fake_provider, tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                "llm:openai:gpt-4.1-mini?window=10&step=5",
                "--dataset",
                "sample",
                "--limit",
                "3",
                "--depth",
                "10",
                "--metrics",
                "nDCG@10",
                "--out",
                str(tmp_path),
                "--no-plots",
                "--no-progress",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    run = next(r for r in data["results"] if r["backend"] == "llm")
    [model] = fake_provider
    rec = model.recorder
    assert run["llm_usage"]["llm_calls"] == len(rec.calls) == 3
    assert run["llm_usage"]["input_tokens"] == rec.input_tokens
    # gpt-4.1-mini: $0.40 / $1.60 per million tokens
    assert run["cost_usd"] == pytest.approx(
        (rec.input_tokens * 0.40 + rec.output_tokens * 1.60) / 1e6
    )


def test_cli_eval_table_shows_calls_and_tokens(fake_provider, capsys):
    assert (
        main(
            [
                "eval",
                "--reranker",
                "llm:ollama:qwen3:8b?input_price=0.1&output_price=0.1",
                "--dataset",
                "sample",
                "--limit",
                "2",
                "--depth",
                "5",
                "--metrics",
                "nDCG@10",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "LLM calls (per query)" in out and "input tokens (per query)" in out
    assert "$0.0000" in out or "$0.000" in out


def test_words_helper_counts_whitespace_words():
    assert words(" a  b\nc ") == 3
