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


def _candidates_with_qrels_beside(folder: Path) -> tuple[Path, Path]:
    """Four queries whose first stage ranks the relevant passage first, while BM25 prefers the
    passages that repeat the query's words: reranking by bm25 makes things worse."""
    entries, qrels = [], []
    for i, topic in enumerate(["bicycle chain", "bread oven", "garden soil", "river boat"]):
        qid = f"q{i}"
        hits = [
            {"qid": qid, "docid": f"{qid}-good", "content": "the answer you were looking for",
             "rank": 1},
            *({"qid": qid, "docid": f"{qid}-bad{j}", "content": f"{topic} {topic} {topic} {j}",
               "rank": j + 2} for j in range(3)),
        ]
        entries.append({"query": topic, "hits": hits})
        qrels.append(f"{qid} 0 {qid}-good 1")
    cands = folder / "cands.json"
    cands.write_text(json.dumps(entries))
    qrels_path = folder / "qrels.txt"
    qrels_path.write_text("\n".join(qrels) + "\n")
    return cands, qrels_path


def test_eval_names_the_qrels_file_it_found_beside_the_candidates(capsys, tmp_path: Path) -> None:
    cands, qrels = _candidates_with_qrels_beside(tmp_path)
    assert main(["eval", "--reranker", "bm25", "--dataset", str(cands), "--json",
                 "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dataset"]["source"] == str(cands) and data["dataset"]["qrels"] == str(qrels)
    assert main(["eval", "--reranker", "bm25", "--dataset", str(cands), "--no-progress"]) == 0
    assert f"qrels: {qrels} (found beside the candidates" in capsys.readouterr().out
    assert main(["eval", "--reranker", "bm25", "--dataset", str(cands), "--qrels", str(qrels),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"qrels: {qrels}\n" in out and "found beside" not in out


def test_resumed_compare_says_how_many_results_it_reused(capsys, tmp_path: Path) -> None:
    args = ["compare", "bm25", "bm25?k1=0.5", "--dataset", "sample", "--no-progress",
            "--no-plots", "--out", str(tmp_path)]
    assert main([*args, "--limit", "3"]) == 0
    assert "reused" not in capsys.readouterr().out  # a fresh folder: nothing to reuse
    assert main([*args, "--limit", "5"]) == 0
    out = capsys.readouterr().out
    jsonl = tmp_path / "per_query.jsonl"
    for label in ("bm25", "bm25?k1=0.5"):
        assert f"resumed {label}: reused 3 of 5 query results from {jsonl}" in out
    assert main([*args, "--limit", "5", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["reused"] for r in results[1:]] == [5, 5]


def test_compare_shows_a_significant_drop_as_a_negative_difference(capsys, tmp_path: Path) -> None:
    cands, _ = _candidates_with_qrels_beside(tmp_path)
    out_dir = tmp_path / "out"
    assert main(["compare", "bm25", "--dataset", str(cands), "--no-progress", "--no-plots",
                 "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "nDCG@10 diff (p)" in out and "negative: worse" in out
    row = next(line for line in out.splitlines() if line.lstrip("│| ").startswith("bm25"))
    assert "-0." in row and "(p=" in row, row
    with open(out_dir / "compare.csv", encoding="utf-8") as f:
        import csv

        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert float(rows["bm25"]["mean_diff"]) < 0


def test_following_the_evaluation_guide_leaves_no_untracked_files() -> None:
    """Every folder docs/evaluation.md writes to (``--out``, ``out_dir=``, compare's default)
    is git-ignored, so trying the guide in a checkout leaves ``git status`` clean."""
    import re
    import shutil

    import pytest

    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True
    ).returncode != 0:
        pytest.skip("not a git checkout")
    page = (root / "docs" / "evaluation.md").read_text("utf-8")
    folders = set(re.findall(r"--out (\S+)", page)) | set(re.findall(r'out_dir="([^"]+)"', page))
    import argparse

    from rag_rerankers.evaluation.cli import _setup_compare

    parser = argparse.ArgumentParser()
    _setup_compare(parser)
    folders.add(parser.get_default("out"))
    assert len(folders) >= 3, folders
    for folder in sorted(folders):
        probe = f"{folder}/compare.json"
        ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=root).returncode == 0
        assert ignored, f"{probe} (written by following docs/evaluation.md) is not git-ignored"


def test_the_cli_keeps_its_run_bars_but_draws_no_model_loading_bars() -> None:
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "rag_rerankers", "eval", "--reranker", "embedding?offline=true",
         "--dataset", "sample", "--limit", "2", "--json"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "2/2" in proc.stderr  # the evaluation's own bar: long CLI work shows progress
    assert "Loading weights" not in proc.stderr, proc.stderr
