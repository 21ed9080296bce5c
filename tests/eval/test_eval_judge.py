"""``compare(judge=...)`` / ``compare --judge``: pooling, UMBRELA grading through the LLM
plumbing with scripted chat models, the judgement cache, invalid and failed replies, and the
reproduction of qrels-based nDCG@10 on TREC DL19."""

from __future__ import annotations

import json

import pytest

from rag_rerankers.evaluation import EvalDataset, compare, load_dataset
from rag_rerankers.evaluation.judge import (
    FunctionJudge,
    JudgementCache,
    LLMJudge,
    judge_pool,
    make_judge,
    pool,
)
from rag_rerankers.evaluation.metrics import mean, per_query
from rag_rerankers.llm import cut_passage

from eval.helpers import KeywordReranker, tiny_dataset, trec_dl19_dir
from llm.helpers import ScriptedChatModel, ScriptedLlamaLLM


def umbrela_fields(messages: list[tuple[str, str]]) -> tuple[str, str]:
    """The query and passage of UMBRELA's one-passage prompt."""
    text = messages[-1][1]
    query = text.split("\nQuery: ", 1)[1].split("\nPassage: ", 1)[0]
    passage = text.split("\nPassage: ", 1)[1].split("\n\nSplit this problem", 1)[0]
    return query, passage


def qrels_oracle(ds: EvalDataset, qrels: dict, *, max_words: int | None = 300):
    """An UMBRELA answerer whose grades come from ``qrels`` (unjudged pairs: 0)."""
    grades = {}
    for q, cands in ds.candidates.items():
        for c in cands:
            grades[(ds.queries[q], cut_passage(c.text, max_words))] = qrels.get(q, {}).get(c.docid, 0)

    def answer(messages):
        return f"##final score: {grades[umbrela_fields(messages)]}"

    return answer


def test_pool_is_the_union_of_every_runs_top_k() -> None:
    runs = [{"q": ["a", "b", "c"], "r": ["x"]}, {"q": ["d", "a"], "r": ["y", "x"]}]
    assert pool(runs, 2) == {"q": ["a", "b", "d"], "r": ["x", "y"]}
    with pytest.raises(Exception, match="depth"):
        pool(runs, 0)


def test_judged_compare_equals_qrels_restricted_to_the_pool(tmp_path) -> None:
    ds = tiny_dataset()
    model = ScriptedChatModel(answer=qrels_oracle(ds, ds.qrels))
    cmp = compare([KeywordReranker()], ds, ["nDCG@10", "MRR@10"], progress=False,
                  out_dir=tmp_path, plots=False, judge=model, judge_depth=2)
    pooled = pool([r.rankings for r in cmp.results], 2)
    restricted = {q: {d: g for d, g in ds.qrels[q].items() if d in pooled[q]} for q in pooled}
    for r in cmp.results:
        expected = mean(per_query(r.rankings, restricted, ["nDCG@10", "MRR@10"],
                                  qids=ds.evaluated_qids), ["nDCG@10", "MRR@10"])
        assert r.metrics == pytest.approx(expected)
    assert cmp.results[1].metrics["nDCG@10"] > cmp.results[0].metrics["nDCG@10"]
    j = cmp.judging
    # first stage top 2: d0, d1; keyword reranker top 2: d3 then d0 -> 3 pairs per query.
    assert j["pairs"] == 18 and j["judged"] == 18 and j["cached"] == 0 and j["unjudged"] == 0
    assert len(model.recorder.calls) == 18
    assert j["input_tokens"] == model.recorder.input_tokens > 0
    assert j["cost_usd"] is None  # "scripted" has no price: tokens are reported, cost unknown
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["judging"]["pairs"] == 18
    lines = (tmp_path / "judged_qrels.txt").read_text().splitlines()
    assert len(lines) == 18 and "q0 0 q0-d3 2" in lines


def test_cache_makes_reruns_and_new_rerankers_cost_only_new_pairs(tmp_path) -> None:
    ds = tiny_dataset()
    model = ScriptedChatModel(answer=qrels_oracle(ds, ds.qrels))
    judge = LLMJudge(model)
    cache = tmp_path / "judgements.jsonl"
    first = compare([], ds, ["nDCG@10"], progress=False, judge=judge, judge_depth=2,
                    judge_cache=cache)
    assert first.judging["judged"] == 12 and len(model.recorder.calls) == 12
    again = compare([], ds, ["nDCG@10"], progress=False, judge=judge, judge_depth=2,
                    judge_cache=cache)
    assert again.judging["judged"] == 0 and again.judging["cached"] == 12
    assert again.judging["cost_usd"] == 0.0 and len(model.recorder.calls) == 12
    more = compare([KeywordReranker()], ds, ["nDCG@10"], progress=False, judge=judge,
                   judge_depth=2, judge_cache=cache)
    # Only d3 (the keyword reranker's new top document) is new for each of the 6 queries.
    assert more.judging["judged"] == 6 and more.judging["cached"] == 12
    assert len(model.recorder.calls) == 18
    # Another judge model does not reuse these grades.
    other = LLMJudge(ScriptedChatModel(answer=qrels_oracle(ds, ds.qrels), model_name="other"))
    assert compare([], ds, ["nDCG@10"], progress=False, judge=other, judge_depth=2,
                   judge_cache=cache).judging["cached"] == 0


def test_invalid_and_failed_replies_are_counted_never_crash(tmp_path, caplog) -> None:
    ds = tiny_dataset(3)
    replies = {"q0": "I cannot judge this.", "q1": "##final score: 7"}

    def grade(query, passage):
        if "number 2" in query:
            raise TimeoutError("read timed out")
        qid = "q" + query.split("number ")[1].split()[0]
        return replies.get(qid, "##final score: 1")

    judge = FunctionJudge(grade, parse=lambda text: make_parse()(text))
    cmp = compare([], ds, ["nDCG@10"], progress=False, out_dir=tmp_path, plots=False,
                  judge=judge, judge_depth=2)
    j = cmp.judging
    assert j["pairs"] == 6 and j["invalid"] == 4 and j["failed"] == 2 and j["judged"] == 0
    assert j["unjudged"] == 6 and any("timed out" in e for e in j["errors"])
    assert cmp.baseline.metrics["nDCG@10"] == 0.0
    # Nothing invalid was cached: the next run asks again.
    assert JudgementCache(tmp_path / "judgements.jsonl").grades == {}


def make_parse():
    from rag_rerankers.llm import parse_grades

    return lambda text: parse_grades(text, 1)[0]


def test_llm_judge_through_llamaindex_and_garbage_answers() -> None:
    ds = tiny_dataset(2)
    answers = iter(["##final score: 3", "nonsense", "##final score: 2", "[1] 9"])
    llm = ScriptedLlamaLLM(answer=lambda messages: next(answers))
    report = judge_pool(ds, {"q0": ["q0-d0", "q0-d1"], "q1": ["q1-d0", "q1-d1"]},
                        make_judge(llm), progress=False)
    assert report.judged == 2 and report.invalid == 2 and report.failed == 0
    assert sum(len(v) for v in report.qrels.values()) == 2


def test_cli_compare_questions_and_documents_with_the_fake_judge(tmp_path, capsys) -> None:
    from rag_rerankers.cli import main

    from eval.helpers import ROOT

    questions = tmp_path / "questions.txt"
    questions.write_text("How long does charging take?\nWhat does error E04 mean?\n")
    docs = ROOT / "notebooks" / "data" / "kestrel-support"
    out = tmp_path / "out"
    code = main(["compare", "bm25", "--queries", str(questions), "--docs", str(docs),
                 "--judge", "fake", "--depth", "20", "--out", str(out), "--no-progress",
                 "--no-plots"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "judged by fake" in printed and "2 queries" in printed
    assert (out / "judged_qrels.txt").exists() and (out / "judgements.jsonl").exists()
    assert main(["compare", "bm25", "--queries", str(questions), "--docs", str(docs)]) == 2


def test_make_judge_rejects_unknown_strings() -> None:
    with pytest.raises(Exception, match="llm:<provider>:<model>"):
        make_judge("gpt-4.1-mini")


DL19 = trec_dl19_dir()


@pytest.mark.trec
@pytest.mark.skipif(DL19 is None, reason="TREC DL19 judge reproduction NOT run: "
                    "../shared/data/trec-dl19 not found")
def test_dl19_judged_pool_reproduces_qrels_ndcg10(tmp_path) -> None:
    dl19 = load_dataset(DL19)
    model = ScriptedChatModel(answer=qrels_oracle(dl19, dl19.qrels))
    cmp = compare(["bm25"], dl19, ["nDCG@10"], progress=False, out_dir=tmp_path, plots=False,
                  judge=LLMJudge(model, concurrency=4), judge_depth=10)
    pooled = pool([r.rankings for r in cmp.results], 10)
    restricted = {q: {d: g for d, g in dl19.qrels[q].items() if d in pooled.get(q, [])}
                  for q in dl19.evaluated_qids}
    official = compare(["bm25"], dl19, ["nDCG@10"], progress=False, plots=False)
    for judged, full in zip(cmp.results, official.results, strict=True):
        expected = mean(per_query(judged.rankings, restricted, ["nDCG@10"],
                                  qids=dl19.evaluated_qids), ["nDCG@10"])["nDCG@10"]
        assert round(judged.metrics["nDCG@10"], 4) == round(expected, 4)
        print(f"\n{judged.label}: judged-pool nDCG@10={judged.metrics['nDCG@10']:.4f}, "
              f"qrels restricted to the pool {expected:.4f}, official qrels "
              f"{full.metrics['nDCG@10']:.4f}")
    j = cmp.judging
    assert j["unjudged"] == 0 and j["judged"] == j["pairs"] == len(model.recorder.calls)
    print(f"pairs judged: {j['pairs']}")
