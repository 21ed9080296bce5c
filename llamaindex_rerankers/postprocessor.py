"""LlamaIndex adapter: :class:`RerankPostprocessor`, a ``BaseNodePostprocessor`` over any backend.

It only converts: node texts to the core :class:`~rag_rerankers.Reranker`, new
``NodeWithScore`` objects out (``score`` is the rerank score); input nodes are never mutated.
Sends ``ReRankStartEvent``/``ReRankEndEvent`` through LlamaIndex instrumentation.

Example:
    >>> from llama_index.core.schema import NodeWithScore, TextNode
    >>> from llamaindex_rerankers import RerankPostprocessor
    >>> post = RerankPostprocessor(reranker="bm25", top_n=1)
    >>> nodes = [NodeWithScore(node=TextNode(text="baking bread"), score=0.9),
    ...          NodeWithScore(node=TextNode(text="oil the bicycle chain"), score=0.1)]
    >>> post.postprocess_nodes(nodes, query_str="bicycle chain")[0].node.text
    'oil the bicycle chain'
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from llama_index.core.bridge.pydantic import Field, field_serializer
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from rag_rerankers.adapters import RerankerAdapter, adapter_copy_check, listed
from rag_rerankers.base import UNSET, Reranker, _Unset, check_query, describe
from rag_rerankers.errors import InvalidInputError
from rag_rerankers.types import RankedItem

dispatcher = get_dispatcher(__name__)

RETRIEVAL_SCORE_KEY = "retrieval_score"


class RerankPostprocessor(RerankerAdapter, BaseNodePostprocessor):
    """Rerank retrieved nodes with any rag-rerankers backend.

    Args:
        reranker: a config string (``"cohere:rerank-v3.5"``), a dict, or a ``Reranker``.
        top_n: keep the best ``top_n`` (default 3; ``None`` keeps all). When not given and the
            config string sets ``top_n``, that value is used.
        keep_retrieval_score: copy each node's retrieval score into
            ``metadata["retrieval_score"]`` (hidden from the LLM and the embedding).
        metadata_mode: which node text the reranker reads, as LlamaIndex's ``MetadataMode``
            (``"embed"`` by default, like LlamaIndex's own rerankers; ``"none"`` for text only).
        **options: ranking controls (``score_threshold``, ``normalize``, ``fallbacks``, ...)
            and backend options, applied to the reranker exactly as :func:`init_postprocessor`
            applies them; an unknown name is a ``ConfigError`` naming the closest valid one.

    The nodes may be any iterable of ``NodeWithScore`` (a generator too). Assigning ``top_n``
    later is checked (``InvalidInputError``); assigning ``reranker`` builds it. It pickles and
    deep-copies when its reranker does, otherwise raises ``ConfigError`` and stays as it was
    (LlamaIndex's own ``__getstate__`` would delete the reranker from it); ``copy.copy``
    shares the reranker.
    """

    reranker: Reranker = Field(description="The backend: config string, dict or Reranker.")
    top_n: int | None = Field(default=3, description="Nodes to keep; None keeps all.")
    keep_retrieval_score: bool = Field(default=False)
    metadata_mode: MetadataMode = Field(default=MetadataMode.EMBED)

    def __init__(self, reranker: Any = None, **options: Any) -> None:
        super().__init__(reranker, **options)  # RerankerAdapter: options applied as init_* does

    def __getstate__(self) -> dict[Any, Any]:
        adapter_copy_check(type(self).__name__, self.reranker)
        # LlamaIndex's __getstate__ deletes what does not pickle from the state, which is this
        # object's own __dict__: give it a shallow copy, so this object never loses a field.
        return super(RerankPostprocessor, copy.copy(self)).__getstate__()

    @field_serializer("reranker")
    def _describe_reranker(self, reranker: Reranker) -> dict[str, Any]:
        # model_dump/JSON show what the reranker is, never its options (they may hold keys)
        return describe(reranker)

    @classmethod
    def class_name(cls) -> str:
        return "RerankPostprocessor"

    def _postprocess_nodes(
        self, nodes: Iterable[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        listed, call = self._call(nodes, query_bundle)
        return self._finish(listed, self.reranker.rank(**call)) if call else []

    async def _apostprocess_nodes(
        self, nodes: Iterable[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        listed, call = self._call(nodes, query_bundle)
        return self._finish(listed, await self.reranker.arank(**call)) if call else []

    def _call(
        self, nodes: Iterable[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[list[NodeWithScore], dict[str, Any] | None]:
        """The checked nodes and the arguments of ``rank`` (``None``: nothing to rank); sends
        the start event."""
        query = self._query(query_bundle)
        listed = _node_list(nodes)  # checked before the start event, which would reject them
        if not listed:
            return listed, None
        texts = self._texts(listed)
        self._start(listed, query_bundle)
        return listed, {"query": query, "documents": texts, "top_n": self.top_n,
                        "metadata": _metadata(listed)}

    # ------------------------------------------------------------------ conversion only
    @staticmethod
    def _query(query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise InvalidInputError(
                "RerankPostprocessor needs the query: call postprocess_nodes(nodes, "
                "query_str=...) or use it in a query engine's node_postprocessors"
            )
        return check_query(query_bundle.query_str)

    def _texts(self, nodes: list[NodeWithScore]) -> list[str]:
        return [nws.node.get_content(metadata_mode=self.metadata_mode) for nws in nodes]

    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> None:
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n if self.top_n is not None else len(nodes),
                model_name=self.reranker.name,
            )
        )

    def _finish(self, nodes: list[NodeWithScore], items: list[RankedItem]) -> list[NodeWithScore]:
        out = []
        for item in items:
            source = nodes[item.index]
            added = dict(item.metadata)
            if self.keep_retrieval_score:
                added[RETRIEVAL_SCORE_KEY] = source.score
            node = source.node
            if added:
                hidden = [k for k in added]
                node = node.model_copy(
                    update={
                        "metadata": {**node.metadata, **added},
                        "excluded_llm_metadata_keys": _union(node.excluded_llm_metadata_keys, hidden),
                        "excluded_embed_metadata_keys": _union(
                            node.excluded_embed_metadata_keys, hidden
                        ),
                    }
                )
            else:  # a copy with its own metadata dict: editing the output never edits the input
                node = node.model_copy(update={"metadata": dict(node.metadata)})
            out.append(NodeWithScore(node=node, score=float(item.score)))
        dispatcher.event(ReRankEndEvent(nodes=out))
        return out


def _node_list(nodes: Any) -> list[NodeWithScore]:
    """The candidates as a list (any iterable, listed once), each a ``NodeWithScore``."""
    return listed(
        nodes, NodeWithScore,
        not_iterable="nodes must be a sequence (or any iterable) of NodeWithScore, got {type}",
        wrong_item="node {i} is {type}, not NodeWithScore",
    )


def _metadata(nodes: list[NodeWithScore]) -> list[Any]:
    # Read by the reranker's rank_fields control (after _node_list checked the node types).
    return [nws.node.metadata for nws in nodes]


def _union(existing: list[str], extra: list[str]) -> list[str]:
    return list(existing) + [k for k in extra if k not in existing]


def init_postprocessor(
    spec: Any, *, top_n: int | None | _Unset = UNSET, **kwargs: Any
) -> RerankPostprocessor:
    """Build a :class:`RerankPostprocessor` from a config string, dict or ``Reranker``.

    ``keep_retrieval_score`` and ``metadata_mode`` go to the postprocessor; other keyword
    arguments are ranking controls and backend options. The same as
    ``RerankPostprocessor(reranker=spec, top_n=..., **kwargs)``.

    Example:
        >>> from llamaindex_rerankers import init_postprocessor
        >>> init_postprocessor("bm25", top_n=5).top_n
        5
    """
    if top_n is not UNSET:
        kwargs["top_n"] = top_n
    return RerankPostprocessor(reranker=spec, **kwargs)
