"""Fixtures of the ranking-control tests."""

from __future__ import annotations

import pytest

from rag_rerankers.registry import BackendInfo, register_backend


@pytest.fixture(scope="session")
def failing_backend() -> str:
    """Register ``test-failing`` (a ``FailingReranker``) so config strings can name it."""
    register_backend(
        BackendInfo(
            name="test-failing",
            target="controls.helpers:FailingReranker",
            kind="api",
            extra="all",
            description="Always fails (tests only).",
            score_type="relevance",
            default_model="always-down",
        ),
        replace=True,
    )
    return "test-failing"
