"""The bundled sample corpus: short passages on everyday topics with graded judgements.

Written for rag-rerankers (CC0). Used by the demo, the tests and the evaluation examples.

Example:
    >>> sample = load_sample()
    >>> len(sample.documents) > 50, len(sample.queries) >= 12
    (True, True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class SampleDocument:
    id: str
    title: str
    text: str

    @property
    def content(self) -> str:
        """Title and text as one passage, as indexed by the demo."""
        return f"{self.title}. {self.text}"


@dataclass(frozen=True)
class SampleQuery:
    id: str
    text: str
    judgements: dict[str, int]  # document id -> grade (2 answers it, 1 partly relevant)


@dataclass(frozen=True)
class SampleCorpus:
    documents: tuple[SampleDocument, ...]
    queries: tuple[SampleQuery, ...]

    def qrels(self) -> dict[str, dict[str, int]]:
        """``{query id: {document id: grade}}``."""
        return {q.id: dict(q.judgements) for q in self.queries}


@lru_cache(maxsize=1)
def load_sample() -> SampleCorpus:
    """Load the bundled sample corpus (cached)."""
    raw = json.loads(
        resources.files("rag_rerankers").joinpath("data/sample_corpus.json").read_text("utf-8")
    )
    return SampleCorpus(
        documents=tuple(SampleDocument(d["id"], d["title"], d["text"]) for d in raw["documents"]),
        queries=tuple(
            SampleQuery(q["id"], q["text"], {k: int(v) for k, v in q["judgements"].items()})
            for q in raw["queries"]
        ),
    )
