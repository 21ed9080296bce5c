"""`rag-rerankers eval` and `rag-rerankers compare`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rag_rerankers.cli import main


def test_eval_json_on_sample(capsys) -> None:
    assert main(["eval", "--reranker", "bm25", "--dataset", "sample", "--depth", "10",
                 "--metrics", "nDCG@10,MRR@10", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label"] == "bm25" and data["dataset"]["queries"] == 16
    assert set(data["metrics"]) == {"nDCG@10", "MRR@10"}
    assert data["latency"]["p50_ms"] > 0 and data["n_failed"] == 0


def test_eval_table_and_first_stage(capsys, tmp_path: Path) -> None:
    assert main(["eval", "--reranker", "first-stage", "--dataset", "sample",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "first-stage (bm25)" in out and "nDCG@10" in out and "failed queries" in out
    assert json.loads((tmp_path / "eval.json").read_text())["backend"] is None


def test_compare_prints_table_and_files_then_resumes(capsys, tmp_path: Path) -> None:
    args = ["compare", "bm25", "bm25?k1=0.5", "--dataset", "sample", "--limit", "5",
            "--out", str(tmp_path), "--no-progress", "--rel", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sample: 5 queries" in out and "first-stage (bm25)" in out and "bm25?k1=0.5" in out
    assert f"wrote quality_vs_latency: {tmp_path / 'quality_vs_latency.png'}" in out
    assert "paired t-test" in out
    jsonl = tmp_path / "per_query.jsonl"
    assert len(jsonl.read_text().splitlines()) == 10
    assert main(args) == 0  # everything is already recorded: nothing is rerun
    assert len(jsonl.read_text().splitlines()) == 10
    assert main([*args, "--fresh"]) == 0
    assert len(jsonl.read_text().splitlines()) == 20


def test_compare_exit_code_when_a_spec_fails(capsys, tmp_path: Path) -> None:
    assert main(["compare", "nope", "--dataset", "sample", "--limit", "2", "--no-plots",
                 "--out", str(tmp_path), "--no-progress"]) == 1
    assert "not evaluated: nope" in capsys.readouterr().err


def test_bad_dataset_is_a_clean_error(capsys) -> None:
    assert main(["eval", "--reranker", "bm25", "--dataset", "/no/such.json"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code`` (which prints them)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_subcommands_listed_and_help_stays_light() -> None:
    code = (
        "import sys, json\n"
        "from rag_rerankers.cli import build_parser\n"
        "p = build_parser()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = _modules_after(code)
    assert "rag_rerankers.evaluation.cli" in loaded
    heavy = {"ir_measures", "matplotlib", "scipy", "rich", "tqdm", "torch", "langchain_core",
             "llama_index"}
    assert not heavy & loaded


def test_evaluation_package_is_core_without_frameworks() -> None:
    code = (
        "import sys, json\n"
        "import rag_rerankers.evaluation as ev\n"
        "from rag_rerankers.evaluation import compare, sample_dataset\n"
        "compare(['bm25'], sample_dataset(depth=3).limit(2), progress=False)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    assert not {"langchain_core", "langchain_classic", "llama_index"} & _modules_after(code)
