"""The FastAPI app: :func:`create_app` serves named reranker specs over the Cohere v2, Jina/vLLM
and TEI rerank formats, plus ``/health``, ``/metrics`` and ``/v1/models``.

Every rerank endpoint runs the same steps, answering errors in its own format: key (401),
admission (503 + ``Retry-After``), JSON (400/422), fields (400/422), model (404), sizes (413),
ranking under the request timeout (504), then the answer. Backend failures that the spec's
fallbacks did not absorb are 502; bad input caught by the ranking checks is 400/422.

Example:
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app({"lexical": "bm25"}))
    >>> r = client.post("/v2/rerank", json={"model": "lexical", "query": "red apple",
    ...                                     "documents": ["blue sky", "red apple"]})
    >>> [x["index"] for x in r.json()["results"]]
    [1, 0]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from rag_rerankers.errors import InvalidInputError, RerankerError
from rag_rerankers.serve.engine import ServedModel, build_models, close_models
from rag_rerankers.serve.formats import RerankCall, WireError, WireFormat
from rag_rerankers.serve.formats.cohere import FORMAT as COHERE
from rag_rerankers.serve.formats.jina import FORMAT as JINA
from rag_rerankers.serve.formats.tei import FORMAT as TEI
from rag_rerankers.serve.limits import Admission, check_key, check_size
from rag_rerankers.serve.metrics import ServerMetrics
from rag_rerankers.serve.settings import ServeSettings, settings_from_env

logger = logging.getLogger("rag_rerankers.serve")

FORMATS: tuple[WireFormat, ...] = (COHERE, JINA, TEI)

DEFAULT_ALIAS = "default"
"""The first model also answers to this name (and TEI requests, which name no model)."""


def create_app(
    models: Mapping[str, Any] | str,
    settings: ServeSettings | None = None,
) -> FastAPI:
    """The app serving ``models``: ``{name: spec}`` (config strings, dicts or Rerankers), or a
    single spec (named after its model).

    Models are built here, once (a local model loads now, not on the first request). The first
    model is the default: TEI requests and requests without ``model`` use it, and it also
    answers to ``"default"``.
    """
    settings = settings or ServeSettings()
    specs = {_spec_name(models): models} if isinstance(models, str) else dict(models)
    if not specs:
        from rag_rerankers.errors import ConfigError

        raise ConfigError("serve at least one model: create_app({'name': 'spec'})")
    metrics = ServerMetrics()
    apply_threads(specs, settings)
    served = build_models(specs, settings, on_batch=metrics.on_batch, on_cache=metrics.on_cache)
    admission = Admission(settings.max_pending, settings.retry_after)
    default = next(iter(served.values()))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn has finished the in-flight requests by now (graceful shutdown).
        await close_models(served)
        for model in served.values():
            model.reranker.close()

    app = FastAPI(title="rag-rerankers", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.models = served
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.admission = admission

    def lookup(name: str | None) -> ServedModel:
        if name is None or (name == DEFAULT_ALIAS and DEFAULT_ALIAS not in served):
            return default
        if name in served:
            return served[name]
        raise WireError(404, f"model {name!r} is not served here; served models: "
                        f"{sorted(served)}", kind="unknown_model")

    async def rerank(fmt: WireFormat, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        model_name = "-"
        admitted = False
        try:
            check_key(request.headers.get("authorization"), settings.api_keys)
            admission.enter()
            admitted = True
            metrics.pending.set(admission.pending)
            call = fmt.parse(await _json_body(request, fmt))
            model = lookup(call.model)
            model_name = model.name
            check_size(call, settings)
            metrics.documents.labels(model=model_name).inc(len(call.documents))
            items = await _rank(model, call, settings.request_timeout, fmt)
            body = fmt.render(call, items, model.name, request_id)
            response: Response = JSONResponse(body)
        except WireError as exc:
            metrics.errors.labels(endpoint=fmt.name, kind=exc.kind).inc()
            response = JSONResponse(fmt.error_body(exc.status, exc.message, request_id),
                                    status_code=exc.status, headers=exc.headers)
        except Exception as exc:  # a bug or an unexpected library error: still this format
            logger.exception("rerank request %s failed", request_id)
            metrics.errors.labels(endpoint=fmt.name, kind="internal").inc()
            response = JSONResponse(
                fmt.error_body(500, f"internal error ({type(exc).__name__})", request_id),
                status_code=500)
        finally:
            if admitted:
                admission.leave()
                metrics.pending.set(admission.pending)
        metrics.requests.labels(endpoint=fmt.name, model=model_name,
                                status=str(response.status_code)).inc()
        metrics.latency.labels(endpoint=fmt.name, model=model_name).observe(
            time.perf_counter() - started)
        return response

    for fmt in FORMATS:
        app.add_api_route(fmt.path, _endpoint(rerank, fmt), methods=["POST"],
                          name=f"rerank_{fmt.name}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(served)}

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        try:
            check_key(request.headers.get("authorization"), settings.api_keys)
        except WireError as exc:
            return JSONResponse({"detail": exc.message}, status_code=401, headers=exc.headers)
        return JSONResponse({"object": "list", "data": [m.describe() for m in served.values()]})

    return app


def app_from_env() -> FastAPI:
    """App factory for uvicorn worker processes (``uvicorn --factory``): models and settings
    from :data:`~rag_rerankers.serve.settings.ENV_CONFIG`."""
    models, settings = settings_from_env()
    return create_app(models, settings)


def apply_threads(specs: Mapping[str, Any], settings: ServeSettings) -> None:
    """Size torch's intra-op threads for this worker (``settings.torch_threads()``), when a
    served spec is a local model and torch is installed. Process-wide, set before any model
    loads; a spec's own ``threads`` option still wins for its model."""
    if not any(_is_local(spec) for spec in specs.values()):
        return
    from rag_rerankers.backends._local import set_torch_threads

    set_torch_threads(settings.torch_threads())


def _is_local(spec: Any) -> bool:
    from rag_rerankers.factory import to_spec
    from rag_rerankers.registry import get_backend

    if hasattr(spec, "kind"):
        return spec.kind == "local"
    try:
        info, _ = get_backend(to_spec(spec).backend)
    except RerankerError:
        return False
    return getattr(info.cls, "kind", "") == "local"


def _endpoint(handler: Any, fmt: WireFormat) -> Any:
    async def endpoint(request: Request) -> Response:
        return await handler(fmt, request)

    endpoint.__name__ = f"rerank_{fmt.name}"
    return endpoint


def _spec_name(spec: str) -> str:
    from rag_rerankers.factory import to_spec

    parsed = to_spec(spec.split("|")[0].strip())
    return parsed.model or parsed.backend


async def _json_body(request: Request, fmt: WireFormat) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WireError(fmt.bad_json_status, f"the body is not valid JSON: {exc}",
                        kind="bad_json") from None


async def _rank(model: ServedModel, call: RerankCall, timeout: float | None,
                fmt: WireFormat) -> Any:
    try:
        return await asyncio.wait_for(model.rank(call.query, call.documents, call.top_n), timeout)
    except TimeoutError:
        raise WireError(504, f"the request took longer than the server's {timeout:g} s timeout",
                        kind="timeout") from None
    except InvalidInputError as exc:
        raise WireError(fmt.invalid_status, str(exc)) from None
    except Exception as exc:  # the reranker (and its fallbacks, if any) failed
        logger.warning("rerank with %s failed: %s: %s", model.name, type(exc).__name__, exc)
        raise WireError(502, f"reranking failed: {type(exc).__name__}: {exc}",
                        kind="backend") from None
