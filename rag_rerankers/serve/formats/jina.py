"""Jina AI / vLLM / Infinity rerank: ``POST /v1/rerank`` (https://jina.ai/reranker/).

Request ``{model?, query, documents: [str | {text}], top_n?, return_documents? (default
true)}``; answer ``{id, model, usage: {total_tokens}, results: [{index, relevance_score,
document?: {text}}]}``, best first (``total_tokens`` is an estimate: 4 characters a token);
errors FastAPI-style ``{detail}``.

Example:
    >>> call = FORMAT.parse({"query": "q", "documents": [{"text": "a"}, "b"]})
    >>> call.model, call.documents
    (None, ['a', 'b'])
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
    estimate_tokens,
    finite,
    validation_message,
)
from rag_rerankers.types import RankedItem


class TextDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str


class JinaRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    query: str = Field(min_length=1)
    documents: list[str | TextDocument] = Field(min_length=1)
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = True


def parse(body: Any) -> RerankCall:
    try:
        req = JinaRerankRequest.model_validate(body)
    except ValidationError as exc:
        raise WireError(422, validation_message(exc)) from None
    docs = [d if isinstance(d, str) else d.text for d in req.documents]
    return RerankCall(req.query, docs, req.model, UNSET if req.top_n is None else req.top_n,
                      {"return_documents": req.return_documents})


def render(call: RerankCall, items: Sequence[RankedItem], model: str, request_id: str) -> Any:
    with_docs = call.options.get("return_documents", True)
    return {
        "id": request_id,
        "model": model,
        "usage": {"total_tokens": estimate_tokens([call.query] * len(call.documents))
                  + estimate_tokens(call.documents)},
        "results": [
            {"index": i.index, "relevance_score": finite(i.score),
             **({"document": {"text": i.document}} if with_docs else {})}
            for i in items
        ],
    }


def error_body(status: int, message: str, request_id: str) -> Any:
    return {"detail": message}


FORMAT = WireFormat("jina", "/v1/rerank", parse, render, error_body,
                    bad_json_status=422, invalid_status=422)
