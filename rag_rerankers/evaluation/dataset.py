"""The evaluation data model: queries, first-stage candidates (in first-stage order) and
judgements.

Every input -- a candidates JSON with TREC qrels, a BEIR folder, an ``ir_datasets`` id, the
bundled sample corpus (readers in :mod:`rag_rerankers.evaluation.readers`) or plain Python
objects (:meth:`EvalDataset.from_memory`) -- becomes one :class:`EvalDataset`, so the runner
and the metrics never care where the data came from.

Example:
    >>> ds = EvalDataset.from_memory(
    ...     queries={"q1": "red apples"},
    ...     candidates={"q1": [("d1", "blue sky"), ("d2", "red apples here")]},
    ...     qrels={"q1": {"d2": 1}},
    ... )
    >>> ds.evaluated_qids, [c.docid for c in ds.candidates["q1"]]
    (['q1'], ['d1', 'd2'])
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Candidate:
    """One first-stage candidate: its document id and the text the reranker sees."""

    docid: str
    text: str


@dataclass
class EvalDataset:
    """Queries, candidate lists (best first, as the first stage returned them) and qrels.

    Attributes:
        name: a short label used in reports.
        queries: query id -> query text.
        candidates: query id -> candidates in first-stage order.
        qrels: query id -> {document id: graded relevance}.
        first_stage: what produced the candidate order (``"bm25"``, a run file name, ...).
    """

    name: str
    queries: dict[str, str]
    candidates: dict[str, list[Candidate]]
    qrels: dict[str, dict[str, int]]
    first_stage: str = "first-stage"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluated_qids(self) -> list[str]:
        """Queries that have a text, candidates and judgements (trec_eval's convention:
        only judged queries count), in the order of :attr:`queries`."""
        return [
            q for q in self.queries if self.candidates.get(q) and q in self.qrels
        ]

    def limit(self, n: int | None) -> EvalDataset:
        """The same dataset restricted to its first ``n`` evaluated queries."""
        if n is None:
            return self
        if n < 1:
            raise InvalidInputError(f"limit must be >= 1, got {n}")
        keep = self.evaluated_qids[:n]
        return EvalDataset(
            name=self.name,
            queries={q: self.queries[q] for q in keep},
            candidates={q: self.candidates[q] for q in keep},
            qrels={q: self.qrels[q] for q in keep},
            first_stage=self.first_stage,
            info=dict(self.info, limit=n),
        )

    def query_key(self, qid: str) -> str:
        """A short hash of one query's text and candidate ids (in order): a resumed run reuses
        a stored result only when this still matches."""
        h = hashlib.sha1(self.queries[qid].encode())
        for c in self.candidates.get(qid, []):
            h.update(b"\x00" + c.docid.encode())
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """A short hash of every evaluated query's id and :meth:`query_key`."""
        h = hashlib.sha1()
        for q in self.evaluated_qids:
            h.update(f"{q}\x00{self.query_key(q)}\x01".encode())
        return h.hexdigest()[:16]

    def stats(self) -> dict[str, Any]:
        qids = self.evaluated_qids
        n_docs = sum(len(self.candidates[q]) for q in qids)
        return {
            "name": self.name,
            "first_stage": self.first_stage,
            "queries": len(qids),
            "candidates": n_docs,
            "fingerprint": self.fingerprint(),
            **self.info,
        }

    @classmethod
    def from_memory(
        cls,
        queries: Mapping[str, str],
        candidates: Mapping[str, Sequence[Any]],
        qrels: Mapping[str, Mapping[str, int]],
        *,
        name: str = "memory",
        first_stage: str = "given order",
    ) -> EvalDataset:
        """Build a dataset from Python objects.

        ``candidates[qid]`` is a list, best first, of ``(docid, text)`` pairs, ``{"docid"|"id",
        "text"|"content"}`` dicts, :class:`Candidate` objects or plain strings (then the docid
        is the position as a string: ``"0"``, ``"1"``, ...).
        """
        cands = {str(q): to_candidates(items, str(q)) for q, items in candidates.items()}
        return cls(
            name=name,
            queries={str(q): str(t) for q, t in queries.items()},
            candidates=cands,
            qrels={str(q): {str(d): int(g) for d, g in j.items()} for q, j in qrels.items()},
            first_stage=first_stage,
        )


def to_candidates(items: Sequence[Any], qid: str) -> list[Candidate]:
    """Candidates of query ``qid`` from ``(docid, text)`` pairs, dicts, :class:`Candidate`
    objects or plain strings (see :meth:`EvalDataset.from_memory`); a repeated docid is an
    :class:`~rag_rerankers.errors.InvalidInputError`."""
    out: list[Candidate] = []
    for i, item in enumerate(items):
        if isinstance(item, Candidate):
            out.append(item)
        elif isinstance(item, str):
            out.append(Candidate(str(i), item))
        elif isinstance(item, Mapping):
            docid = item.get("docid", item.get("id"))
            text = item.get("text", item.get("content"))
            if docid is None or text is None:
                raise InvalidInputError(
                    f"candidate {i} of query {qid!r} needs 'docid' (or 'id') and 'text' "
                    f"(or 'content') keys, got {sorted(item)}"
                )
            out.append(Candidate(str(docid), str(text)))
        elif isinstance(item, Sequence) and len(item) == 2:
            out.append(Candidate(str(item[0]), str(item[1])))
        else:
            raise InvalidInputError(
                f"candidate {i} of query {qid!r} must be (docid, text), a dict or a str, "
                f"got {type(item).__name__}"
            )
    seen: set[str] = set()
    for c in out:
        if c.docid in seen:
            raise InvalidInputError(f"document {c.docid!r} appears twice for query {qid!r}")
        seen.add(c.docid)
    return out
