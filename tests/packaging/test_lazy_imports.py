"""Importing the core or an adapter loads no torch, no model library and no provider SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "torch", "transformers", "sentence_transformers", "onnxruntime", "flashrank", "bm25s",
    "cohere", "voyageai", "mixedbread", "httpx", "faiss", "sklearn", "ir_measures",
    "fastapi", "uvicorn", "prometheus_client", "ray",
]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import rag_rerankers",
        "import langchain_rerankers",
        "import llamaindex_rerankers",
        "from rag_rerankers import init_reranker, list_backends; list_backends()",
        "import rag_rerankers.serve, rag_rerankers.serve.cli",
        "from langchain_rerankers import RerankCompressor; RerankCompressor(reranker='bm25').reranker",
    ],
)
def test_no_heavy_imports(statement: str) -> None:
    loaded = _modules_after(statement)
    heavy = sorted(m for m in HEAVY if m in loaded)
    assert heavy == [], f"{statement!r} imported {heavy}"


def test_core_imports_no_framework() -> None:
    loaded = _modules_after("import rag_rerankers, rag_rerankers.cli")
    assert not {"langchain_core", "llama_index", "langchain_classic"} & loaded


def test_scoring_imports_the_backend_library_only_then() -> None:
    loaded = _modules_after(
        "from rag_rerankers import init_reranker\n"
        "init_reranker('bm25').rank('a', ['a b', 'c'])"
    )
    assert "bm25s" in loaded and "torch" not in loaded
