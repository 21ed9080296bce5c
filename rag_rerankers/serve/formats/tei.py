"""Hugging Face TEI rerank: ``POST /rerank``
(https://huggingface.github.io/text-embeddings-inference/).

Request ``{query, texts: [str], raw_scores? (false), return_text? (false), truncate?,
truncation_direction?}``; answer ``[{index, score, text?}]``, best first; errors ``{error,
error_type}``. TEI has no model field: the server's first model answers (``model`` in the
body, an extension, picks another). ``score`` is the spec's normalized score (a probability for
cross-encoders, like TEI's sigmoid); ``raw_scores: true`` gives the backend's raw score.

Example:
    >>> call = FORMAT.parse({"query": "q", "texts": ["a"], "raw_scores": True})
    >>> call.documents, call.options["raw_scores"]
    (['a'], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_rerankers.serve.formats import (
    RerankCall,
    WireError,
    WireFormat,
    finite,
    validation_message,
)
from rag_rerankers.types import RankedItem

ERROR_TYPES = {401: "Unauthorized", 404: "Validation", 413: "Validation", 422: "Validation",
               400: "Validation", 429: "Overloaded", 503: "Overloaded", 504: "Backend"}


class TEIRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1)
    texts: list[str] = Field(min_length=1)
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool | None = None
    truncation_direction: str = "Right"
    model: str | None = None


def parse(body: Any) -> RerankCall:
    try:
        req = TEIRerankRequest.model_validate(body)
    except ValidationError as exc:
        raise WireError(422, validation_message(exc)) from None
    return RerankCall(req.query, req.texts, req.model,
                      options={"raw_scores": req.raw_scores, "return_text": req.return_text})


def render(call: RerankCall, items: Sequence[RankedItem], model: str, request_id: str) -> Any:
    raw = call.options.get("raw_scores", False)
    with_text = call.options.get("return_text", False)
    out = []
    for item in items:
        score = item.metadata.get("raw_score") if raw else finite(item.score)
        out.append({"index": item.index, "score": score,
                    **({"text": item.document} if with_text else {})})
    return out


def error_body(status: int, message: str, request_id: str) -> Any:
    return {"error": message, "error_type": ERROR_TYPES.get(status, "Backend")}


FORMAT = WireFormat("tei", "/rerank", parse, render, error_body,
                    bad_json_status=422, invalid_status=422)
