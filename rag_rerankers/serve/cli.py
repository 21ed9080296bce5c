"""``rag-rerankers serve``: the CLI plugin :data:`SERVE` (an entry point of the group
``rag_rerankers.commands``; see :mod:`rag_rerankers.cli`).

Examples::

    rag-rerankers serve "cross-encoder:BAAI/bge-reranker-v2-m3?top_n=10" --port 8080
    rag-rerankers serve --model fast=flashrank --model best="cohere:rerank-v3.5 | bge" \\
        --api-keys-file keys.txt --max-documents 500
    rag-rerankers serve bge --ray --replicas 2

This module imports neither FastAPI nor uvicorn until the command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from rag_rerankers.cli import Command
from rag_rerankers.errors import ConfigError


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?",
                   help="config string of the default model, e.g. 'cross-encoder?top_n=10'")
    p.add_argument("--model", action="append", default=[], metavar="NAME=SPEC",
                   help="serve SPEC under NAME (repeatable); requests pick it with 'model'")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--api-key", action="append", default=[],
                   help="accepted bearer key (repeatable; also $RAG_RERANKERS_API_KEYS, comma-separated)")
    p.add_argument("--api-keys-file", help="file with one accepted key per line")
    p.add_argument("--max-documents", type=int, default=1000, help="documents per request (413 above)")
    p.add_argument("--max-document-chars", type=int, default=100_000,
                   help="characters per document (413 above)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (504 after)")
    p.add_argument("--max-pending", type=int, default=256,
                   help="requests queued or running at once (503 + Retry-After above)")
    p.add_argument("--batching", choices=("on", "off"), default="on",
                   help="cross-request batching of local models (default on)")
    p.add_argument("--max-wait-ms", type=float, default=2.0,
                   help="how long an idle batcher waits for more requests (default 2 ms)")
    p.add_argument("--max-batch-pairs", type=int, default=512,
                   help="most pairs per merged scoring call (default 512)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker (default: usable cores // workers)")
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds to finish in-flight requests on shutdown (default 30)")
    p.add_argument("--ray", action="store_true",
                   help="run as a Ray Serve deployment instead of uvicorn (extra [ray])")
    p.add_argument("--replicas", type=int, default=1, help="Ray Serve replicas (with --ray)")
    p.add_argument("--autoscale", metavar="MIN:MAX", help="Ray Serve autoscaling replicas (with --ray)")


def model_specs(spec: str | None, named: list[str]) -> dict[str, str]:
    """``{name: spec}`` from the positional spec and ``--model name=spec`` options.

    Example:
        >>> model_specs("bm25", ["fast=flashrank"])
        {'bm25': 'bm25', 'fast': 'flashrank'}
    """
    from rag_rerankers.serve.app import _spec_name

    models: dict[str, str] = {}
    if spec:
        models[_spec_name(spec)] = spec
    for item in named:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"--model takes NAME=SPEC, got {item!r}")
        if name.strip() in models:
            raise ConfigError(f"model name {name.strip()!r} is given twice")
        models[name.strip()] = value.strip()
    if not models:
        raise ConfigError("give a spec to serve: rag-rerankers serve 'cross-encoder?top_n=10'")
    return models


def settings_from_args(args: argparse.Namespace) -> Any:
    from rag_rerankers.serve.settings import ServeSettings, read_keys_file

    keys = list(args.api_key)
    env = os.environ.get("RAG_RERANKERS_API_KEYS")
    if env:
        keys += [k.strip() for k in env.split(",") if k.strip()]
    if args.api_keys_file:
        keys += read_keys_file(args.api_keys_file)
    return ServeSettings(
        api_keys=tuple(keys), max_documents=args.max_documents,
        max_document_chars=args.max_document_chars, request_timeout=args.timeout,
        max_pending=args.max_pending, batching=args.batching == "on",
        max_wait_ms=args.max_wait_ms, max_batch_pairs=args.max_batch_pairs,
        threads=args.threads, workers=args.workers,
    )


def _serve(args: argparse.Namespace) -> int:
    from rag_rerankers.serve.settings import apply_server_env

    # Before any model (and torch) loads; worker processes and Ray's local raylet inherit it.
    apply_server_env()
    models = model_specs(args.spec, args.model)
    settings = settings_from_args(args)
    if args.ray:
        from rag_rerankers.serve.ray import run_ray

        return run_ray(models, settings, host=args.host, port=args.port,
                       replicas=args.replicas, autoscale=args.autoscale)
    import uvicorn

    from rag_rerankers.serve.settings import ENV_CONFIG

    common: dict[str, Any] = dict(host=args.host, port=args.port,
                                  timeout_graceful_shutdown=math.ceil(args.graceful_timeout))
    if settings.workers > 1:
        # Worker processes rebuild the app from the environment (each loads its own models).
        os.environ[ENV_CONFIG] = json.dumps({"models": models,
                                             "settings": json.loads(settings.to_json())})
        uvicorn.run("rag_rerankers.serve.app:app_from_env", factory=True,
                    workers=settings.workers, **common)
    else:
        from rag_rerankers.serve.app import create_app

        uvicorn.run(create_app(models, settings), **common)
    return 0


SERVE = Command(
    "serve reranker specs over Cohere v2, Jina/vLLM and TEI rerank endpoints (HTTP)",
    _setup, _serve, extra="serve",
)
