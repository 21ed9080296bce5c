"""A core-only install (``pip install rag-rerankers``, no extras): each entry point that needs an
extra says which one, in one line, instead of a ``ModuleNotFoundError`` traceback.

Simulated with ``python -S``: no site-packages, only this checkout and the standard library
(the core has no dependencies).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _core_only(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )


@pytest.mark.parametrize(("module", "extra"), [("langchain_rerankers", "langchain"),
                                               ("llamaindex_rerankers", "llamaindex")])
def test_importing_an_adapter_names_its_extra(module: str, extra: str) -> None:
    out = _core_only(f"import {module}")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("rag_rerankers.errors.MissingDependencyError")
    assert f'pip install "rag-rerankers[{extra}]"' in last


@pytest.mark.parametrize(("argv", "extra"), [
    (["demo"], "demo"),
    (["eval", "--reranker", "first-stage", "--dataset", "sample"], "bm25"),
    (["compare", "first-stage", "--dataset", "sample"], "bm25"),
])
def test_a_command_without_its_extra_prints_one_line_and_exits_1(argv, extra, tmp_path) -> None:
    argv = [*argv, "--out", str(tmp_path)] if argv[0] == "compare" else argv
    out = _core_only(f"from rag_rerankers.cli import main; sys.exit(main({argv!r}))")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, out.stderr
    assert len(lines) == 1 and lines[0].startswith("error: MissingDependencyError"), lines
    assert f'pip install "rag-rerankers[{extra}]"' in lines[0]


def test_the_core_itself_imports_and_ranks_with_nothing_installed() -> None:
    out = _core_only("import rag_rerankers; print(rag_rerankers.list_backends()[0]['name'])")
    assert out.returncode == 0 and out.stdout.strip() == "bm25", out.stderr


def test_eval_with_a_reranker_that_cannot_be_built_exits_1(monkeypatch, capsys) -> None:
    """docs/evaluation.md: exit code 1 when a spec could not be built (here: no key)."""
    from rag_rerankers.cli import main

    for var in ("COHERE_API_KEY", "CO_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert main(["eval", "--reranker", "cohere", "--dataset", "sample", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "COHERE_API_KEY" in err[0]
