"""Fixtures of the API backend tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag_rerankers.testing import FakeRerankServer

from api.helpers import KEY


@pytest.fixture
def server() -> Iterator[FakeRerankServer]:
    """The fake provider server (every provider's wire format), accepting ``KEY``."""
    with FakeRerankServer(api_key=KEY) as srv:
        yield srv
