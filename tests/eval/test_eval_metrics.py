"""Metrics come from ir-measures; our job is naming them and handing over our exact order."""

from __future__ import annotations

import math

import ir_measures
import pytest

from rag_rerankers.errors import ConfigError
from rag_rerankers.evaluation.metrics import mean, parse_metrics, per_query, to_run

QRELS = {"q": {"a": 2, "b": 0, "c": 1}}


def test_friendly_names_map_to_ir_measures() -> None:
    got = {k: str(v) for k, v in parse_metrics(
        ["nDCG@10", "MRR@10", "Recall@100", "P@5", "MAP", "RR(rel=2)@10"]).items()}
    assert got == {"nDCG@10": "nDCG@10", "MRR@10": "RR@10", "Recall@100": "R@100",
                   "P@5": "P@5", "MAP": "AP", "RR(rel=2)@10": "RR(rel=2)@10"}


def test_rel_threshold_applies_to_binary_measures_only() -> None:
    got = {k: str(v) for k, v in parse_metrics("nDCG@10,MRR@10,MAP,P@10", rel=2).items()}
    assert got == {"nDCG@10": "nDCG@10", "MRR@10": "RR(rel=2)@10", "MAP": "AP(rel=2)",
                   "P@10": "P(rel=2)@10"}


def test_unknown_metric_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'Bogus@3'"):
        parse_metrics(["Bogus@3"])


def test_run_scores_strictly_decrease_with_rank() -> None:
    run = to_run({"q": ["z", "a", "m"]})
    assert run == {"q": {"z": 3.0, "a": 2.0, "m": 1.0}}


def test_values_match_hand_computation() -> None:
    pq = per_query({"q": ["b", "a", "c"]}, QRELS, ["nDCG@10", "MRR@10", "P@2", "Recall@2", "MAP"])
    # trec_eval's nDCG uses the grade itself as gain (not 2**grade - 1).
    ideal = 2 + 1 / math.log2(3)
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    assert pq["q"]["nDCG@10"] == pytest.approx(dcg / ideal)
    assert pq["q"]["MRR@10"] == pytest.approx(0.5)
    assert pq["q"]["P@2"] == pytest.approx(0.5)
    assert pq["q"]["Recall@2"] == pytest.approx(0.5)
    assert pq["q"]["MAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_our_order_is_kept_whatever_the_doc_ids() -> None:
    # trec_eval would break equal scores by doc id; rank-derived scores make that moot.
    best = per_query({"q": ["a", "c", "b"]}, QRELS, ["nDCG@10"])["q"]["nDCG@10"]
    worst = per_query({"q": ["b", "c", "a"]}, QRELS, ["nDCG@10"])["q"]["nDCG@10"]
    assert best == pytest.approx(1.0) and worst < 0.65


def test_matches_ir_measures_aggregate() -> None:
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2, "d": 1}, "q3": {"e": 1}}
    rankings = {"q1": ["b", "a"], "q2": ["d", "c", "x"], "q3": ["y", "e"]}
    names = ["nDCG@10", "P@1", "MAP"]
    measures = parse_metrics(names)
    ours = mean(per_query(rankings, qrels, measures), names)
    ref = ir_measures.calc_aggregate(list(measures.values()), qrels, to_run(rankings))
    assert ours == pytest.approx({n: ref[m] for n, m in measures.items()})


def test_missing_ranking_scores_zero_not_dropped() -> None:
    pq = per_query({"q1": ["a"]}, {"q1": {"a": 1}, "q2": {"b": 1}}, ["nDCG@10"], qids=["q1", "q2"])
    assert pq == {"q1": {"nDCG@10": 1.0}, "q2": {"nDCG@10": 0.0}}
    assert mean(pq, ["nDCG@10"]) == {"nDCG@10": 0.5}
