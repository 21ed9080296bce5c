"""Your own retriever as the first stage of an evaluation: a LangChain retriever, a
LlamaIndex retriever or index, or any callable ``query -> documents``.

The candidates are what the retriever returns, in its order; so the numbers of
:func:`~rag_rerankers.evaluation.compare` reflect your pipeline, not a first stage of ours.
Frameworks are recognised by duck typing and never imported here.

A candidate's document id is, in this order: a metadata value under one of ``id_keys``
(``id``, ``doc_id``, ``_id``, ``chunk_id``: put your corpus ids there so that qrels match),
the framework's own id (LangChain ``Document.id``, LlamaIndex ``node_id``), else a hash of
the text.

Example:
    >>> def my_retriever(query):
    ...     return [{"id": "d2", "text": "red apples"}, {"id": "d1", "text": "blue sky"}]
    >>> ds = dataset_from_retriever(my_retriever, {"q1": "apples"}, {"q1": {"d2": 1}})
    >>> [c.docid for c in ds.candidates["q1"]], ds.first_stage
    (['d2', 'd1'], 'my_retriever')
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rag_rerankers.errors import ConfigError
from rag_rerankers.evaluation.dataset import Candidate, EvalDataset

ID_KEYS: tuple[str, ...] = ("id", "doc_id", "_id", "chunk_id")


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def as_search(retriever: Any, depth: int | None = None) -> tuple[Callable[[str], list[Any]], str]:
    """A function ``query -> raw results`` for any supported retriever, and a label for it.

    A LlamaIndex index (anything with ``as_retriever``) is searched through
    ``index.as_retriever(similarity_top_k=depth)``.
    """
    name = type(retriever).__name__
    if hasattr(retriever, "as_retriever") and _module(retriever).startswith("llama_index"):
        kwargs = {"similarity_top_k": depth} if depth else {}
        inner = retriever.as_retriever(**kwargs)
        return inner.retrieve, f"{name} (llamaindex)"
    if _module(retriever).startswith("llama_index") and hasattr(retriever, "retrieve"):
        return retriever.retrieve, f"{name} (llamaindex)"
    if hasattr(retriever, "invoke") and _module(retriever).startswith("langchain"):
        return retriever.invoke, f"{name} (langchain)"
    if callable(retriever):
        return retriever, getattr(retriever, "__name__", name)
    raise ConfigError(
        f"cannot use a {name} as a first stage: pass a LangChain retriever, a LlamaIndex "
        "retriever or index, or a function query -> documents")


def _text_hash(text: str) -> str:
    return "h" + hashlib.sha1(text.encode()).hexdigest()[:12]


def to_candidate(item: Any, id_keys: Sequence[str] = ID_KEYS) -> Candidate:
    """One retrieved item (LangChain ``Document``, LlamaIndex ``NodeWithScore`` or node, a
    ``{"id", "text"}`` dict, an ``(id, text)`` pair or a string) as a :class:`Candidate`."""
    node = getattr(item, "node", None)  # LlamaIndex NodeWithScore
    if node is not None:
        item = node
    if hasattr(item, "page_content"):  # LangChain Document
        text, meta, own = item.page_content, item.metadata or {}, getattr(item, "id", None)
    elif hasattr(item, "get_content") and hasattr(item, "node_id"):  # LlamaIndex node
        text, meta, own = item.get_content(), item.metadata or {}, item.node_id
    elif isinstance(item, Mapping):
        text = item.get("text", item.get("content", item.get("page_content")))
        if text is None:
            raise ConfigError(f"a retrieved dict needs a 'text' key, got {sorted(item)}")
        meta, own = item.get("metadata") or {}, None
        meta = {**meta, **{k: item[k] for k in id_keys if k in item}}
    elif isinstance(item, str):
        text, meta, own = item, {}, None
    elif isinstance(item, Sequence) and len(item) == 2:
        return Candidate(str(item[0]), str(item[1]))
    else:
        raise ConfigError(f"cannot read a retrieved {type(item).__name__} as a document")
    for key in id_keys:
        if meta.get(key) is not None:
            return Candidate(str(meta[key]), str(text))
    return Candidate(str(own) if own else _text_hash(str(text)), str(text))


def retrieve_candidates(
    retriever: Any,
    queries: Mapping[str, str],
    *,
    depth: int | None = None,
    id_keys: Sequence[str] = ID_KEYS,
) -> tuple[dict[str, list[Candidate]], str]:
    """Each query's candidates from ``retriever`` (its order, cut at ``depth``; a document
    returned twice is kept once), and the retriever's label."""
    search, label = as_search(retriever, depth)
    out: dict[str, list[Candidate]] = {}
    for qid, text in queries.items():
        seen: set[str] = set()
        cands = []
        for item in search(text):
            c = to_candidate(item, id_keys)
            if c.docid not in seen:
                seen.add(c.docid)
                cands.append(c)
        out[qid] = cands[:depth] if depth else cands
    return out, label


def dataset_from_retriever(
    retriever: Any,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    *,
    depth: int | None = None,
    name: str = "retriever",
    id_keys: Sequence[str] = ID_KEYS,
) -> EvalDataset:
    """An :class:`EvalDataset` whose candidates come from your retriever (see the module
    docstring). Without ``qrels`` every query is kept with empty judgements, ready for
    ``compare(..., judge=...)``."""
    candidates, label = retrieve_candidates(retriever, queries, depth=depth, id_keys=id_keys)
    judged = {str(q): {str(d): int(g) for d, g in j.items()} for q, j in (qrels or {}).items()}
    if qrels is None:
        judged = {str(q): {} for q in queries}
    return EvalDataset(
        name=name, queries={str(q): str(t) for q, t in queries.items()},
        candidates={str(q): c for q, c in candidates.items()}, qrels=judged,
        first_stage=label, info={"retriever": label, **({"depth": depth} if depth else {})},
    )
