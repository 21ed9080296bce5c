"""30% injected provider faults at CI size (full size: ``benchmarks/reliability_load.py``).

With retries every request ends with the right ranking; with retries off every failure is a
typed ``RerankAPIError``; no call outlives its time bound.
"""

from __future__ import annotations

import pytest

from rag_rerankers.testing.load import faults


@pytest.fixture(scope="module")
def report():
    return faults(requests=120, rate=0.3, concurrency=16, n_docs=8, read_timeout=1.0)


def test_faults_were_really_injected(report) -> None:
    assert report["retries_faults_injected"] >= 20
    assert report["no_retries_faults_injected"] >= 20


def test_with_retries_every_request_gets_the_right_ranking(report) -> None:
    assert report["retries_errors"] == 0, report["retries_error_kinds"]
    assert report["retries_correct"] == report["requests"]
    assert report["retries_server_requests"] > report["requests"]  # failures were retried


def test_without_retries_every_failure_is_typed(report) -> None:
    assert report["no_retries_errors"] == report["no_retries_faults_injected"]
    assert report["no_retries_typed_errors"] == report["no_retries_errors"]
    assert report["no_retries_correct"] == report["no_retries_ok"]
    assert report["no_retries_server_requests"] == report["requests"]


@pytest.mark.parametrize("run", ["retries", "no_retries"])
def test_no_call_outlives_its_bound(report, run) -> None:
    assert report[f"{run}_max_call_s"] <= report[f"{run}_bound_s"]


def test_with_a_fallback_every_request_gets_a_ranking_naming_its_backend(report) -> None:
    assert report["fallback_errors"] == 0 and report["fallback_ok"] == report["requests"]
    by = report["fallback_reranked_by"]
    primary = "jina:jina-reranker-v3"
    assert set(by) == {primary, "bm25"}, by  # every item says who ranked it
    assert by["bm25"] == report["fallback_faults_injected"]  # each failed request fell back
    assert report["fallback_primary_correct"] == by[primary]
    assert report["fallback_max_call_s"] <= report["fallback_bound_s"]
