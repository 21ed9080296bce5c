"""Fixtures of the ranking-control tests."""

from __future__ import annotations

import pytest

from rag_rerankers.registry import BackendInfo, register_backend

from controls.helpers import FailingReranker


class RegisteredFailing(FailingReranker):
    """``FailingReranker`` under a registered name and a default model."""

    backend = "test-failing"
    kind = "api"
    default_model = "always-down"


@pytest.fixture(scope="session")
def failing_backend() -> str:
    """Register ``test-failing`` (a ``FailingReranker``) so config strings can name it."""
    register_backend(
        BackendInfo(RegisteredFailing, "Always fails (tests only).", extra="all"), replace=True
    )
    return "test-failing"
