"""The command line: backends listing and the demo, run as a user would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from rag_rerankers.cli import main


def test_backends_json(capsys) -> None:
    assert main(["backends", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"bm25", "embedding"} <= {b["name"] for b in data}


def test_backends_text(capsys) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert 'pip install "rag-rerankers[embedding]"' in out


def test_config_error_exit_code(capsys) -> None:
    assert main(["demo", "--reranker", "nope"]) == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err


def _run(*args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "rag_rerankers", *args], capture_output=True, text=True, env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _figures(out: str) -> dict[str, tuple[float, float]]:
    rows = re.findall(r"^\s+(nDCG@10|MRR@10|Recall@10)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    return {m: (float(b), float(a)) for m, b, a in rows}


def test_demo_default_reranker_improves_ranking() -> None:
    out = _run("demo")
    assert "before (first stage):" in out and "after (reranked):" in out
    figures = _figures(out)
    assert set(figures) == {"nDCG@10", "MRR@10", "Recall@10"}
    before, after = figures["nDCG@10"]
    assert after > before + 0.1  # the bi-encoder fixes the weak first stage


def test_demo_with_other_reranker() -> None:
    out = _run("demo", "--reranker", "bm25", "--query", "q01", "--show", "2")
    assert "reranker:    bm25" in out
    assert "snake plant" in out
    assert len(_figures(out)) == 3


@pytest.mark.parametrize("module", ["rag_rerankers", "rag_rerankers.cli"])
def test_every_entry_point_has_the_eval_commands(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "compare" in proc.stdout and "eval" in proc.stdout


def test_the_demo_says_its_first_stage_is_weak_and_why_a_bi_encoder(capsys) -> None:
    from rag_rerankers.cli import main

    assert main(["demo", "--k", "5", "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "deliberately weak" in out and "the gain below is over that" in out
    assert "a bi-encoder: the one trained model that installs offline" in out
