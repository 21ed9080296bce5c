"""Cohere v2 rerank: ``POST /v2/rerank`` (https://docs.cohere.com/reference/rerank).

Request ``{model, query, documents: [str], top_n?, max_tokens_per_doc?}``; answer ``{id,
results: [{index, relevance_score}], meta: {api_version, billed_units: {search_units}}}``,
best first; errors ``{id, message}``. ``max_tokens_per_doc`` is accepted and ignored (the
served spec's ``max_length`` / ``long_docs`` decide).

Example:
    >>> call = FORMAT.parse({"model": "m", "query": "q", "documents": ["a", "b"], "top_n": 1})
    >>> call.model, call.top_n, call.documents
    ('m', 1, ['a', 'b'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_rerankers.base import UNSET
from rag_rerankers.serve.formats import (
    RerankCall,
    WireError,
    WireFormat,
    finite,
    validation_message,
)
from rag_rerankers.types import RankedItem


class CohereRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    query: str = Field(min_length=1)
    documents: list[str] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)
    max_tokens_per_doc: int | None = Field(default=None, ge=1)


def parse(body: Any) -> RerankCall:
    try:
        req = CohereRerankRequest.model_validate(body)
    except ValidationError as exc:
        raise WireError(400, validation_message(exc)) from None
    return RerankCall(req.query, req.documents, req.model,
                      UNSET if req.top_n is None else req.top_n)


def render(call: RerankCall, items: Sequence[RankedItem], model: str, request_id: str) -> Any:
    return {
        "id": request_id,
        "results": [{"index": i.index, "relevance_score": finite(i.score)} for i in items],
        "meta": {
            "api_version": {"version": "2"},
            # Cohere bills one search unit per 100 documents.
            "billed_units": {"search_units": max(1, -(-len(call.documents) // 100))},
        },
    }


def error_body(status: int, message: str, request_id: str) -> Any:
    return {"id": request_id, "message": message}


FORMAT = WireFormat("cohere", "/v2/rerank", parse, render, error_body)
