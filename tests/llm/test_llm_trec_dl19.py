"""An oracle chat model on TREC DL19's BM25 top-100 lists (43 queries): one listwise pass with
``window=20&step=10`` must bring exactly the ideal top 10 to the top.

The oracle reads the query and the passages from each RankGPT prompt and answers with the
passages sorted by their NIST grade. It finds a passage by its exact shown text (whitespace
collapsed, cut like the prompt): 202 candidate pairs in these lists are one passage being the
start of another, so a substring search would grade some passages wrongly.
"""

from __future__ import annotations

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.backends.llm import sliding_windows
from rag_rerankers.evaluation import load_dataset
from rag_rerankers.evaluation.metrics import mean, per_query
from rag_rerankers.llm import cut_passage

from eval.helpers import trec_dl19_dir
from llm.helpers import ScriptedChatModel, oracle

DL19 = trec_dl19_dir()

pytestmark = [
    pytest.mark.trec,
    pytest.mark.skipif(
        DL19 is None, reason="TREC DL19 oracle test NOT run: ../shared/data/trec-dl19 not found"
    ),
]


@pytest.fixture(scope="module")
def dl19():
    return load_dataset(DL19)


def grade_lookup(dl19):
    """(query text, shown passage text) -> NIST grade (0 when unjudged)."""
    table: dict[tuple[str, str], int] = {}
    for qid in dl19.evaluated_qids:
        query = dl19.queries[qid]
        for cand in dl19.candidates[qid]:
            key = (query, cut_passage(cand.text, 300))
            grade = dl19.qrels[qid].get(cand.docid, 0)
            assert table.get(key, grade) == grade, key  # no shown text with two grades
            table[key] = grade

    def grade(query: str, shown: str) -> int:
        return table[(query, shown)]

    return grade


def rerank_all(dl19, model, spec="llm?window=20&step=10"):
    rr = init_reranker(spec, llm=model)
    rankings = {}
    for qid in dl19.evaluated_qids:
        cands = dl19.candidates[qid]
        items = rr.rank(dl19.queries[qid], [c.text for c in cands], top_n=None)
        assert sorted(i.index for i in items) == list(range(len(cands)))
        rankings[qid] = [cands[i.index].docid for i in items]
    return rankings


def test_oracle_one_pass_gives_the_ideal_top10(dl19):
    model = ScriptedChatModel(answer=oracle(grade_lookup(dl19)))
    rankings = rerank_all(dl19, model)
    assert len(model.recorder.calls) == 43 * len(sliding_windows(100, 20, 10)) == 43 * 9
    ideal = {}
    for qid in dl19.evaluated_qids:
        grades = {c.docid: dl19.qrels[qid].get(c.docid, 0) for c in dl19.candidates[qid]}
        ideal[qid] = sorted(grades, key=lambda d: -grades[d])
        got = [grades[d] for d in rankings[qid][:10]]
        assert got == [grades[d] for d in ideal[qid][:10]], qid
    measures = ["nDCG@10"]
    ours = mean(per_query(rankings, dl19.qrels, measures, qids=dl19.evaluated_qids), measures)
    best = mean(per_query(ideal, dl19.qrels, measures, qids=dl19.evaluated_qids), measures)
    assert ours["nDCG@10"] == pytest.approx(best["nDCG@10"], abs=1e-12)
    print(
        f"\nDL19 oracle, one pass 20/10: nDCG@10 = {ours['nDCG@10']:.4f} "
        f"(ideal reranking of the top 100: {best['nDCG@10']:.4f}); "
        f"{len(model.recorder.calls)} calls"
    )


def test_noisy_oracle_keeps_every_passage(dl19):
    model = ScriptedChatModel(answer=oracle(grade_lookup(dl19), swaps=8, seed=3))
    rankings = rerank_all(dl19, model)
    for qid in dl19.evaluated_qids:
        assert sorted(rankings[qid]) == sorted(c.docid for c in dl19.candidates[qid])
