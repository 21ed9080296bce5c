"""``rag-rerankers download SPEC [SPEC ...]``: put the models of config strings onto this
machine ahead of time (the CLI plugin :data:`DOWNLOAD`, see :mod:`rag_rerankers.cli`).

Each spec (a fallback chain ``"a | b"`` counts as its members, ``fallbacks=`` too) names a
backend and a model. A local backend fetches exactly the files it opens
(:attr:`~rag_rerankers.backends._local.LocalReranker.hub_files`) into the standard cache:
huggingface_hub's (``HF_HUB_CACHE``), or FlashRank's folder (its ``cache_dir``). API and
lexical backends have nothing to download. ``HF_ENDPOINT`` picks a mirror; ``HF_HUB_OFFLINE=1``
forbids the download; the spec's own ``offline=true`` is for loading and is ignored here.

Every spec is checked before anything is fetched (a bad one exits 2, a missing extra 1); a
model that cannot be fetched is reported and the others are still fetched (exit 1).

Example:
    >>> plan = download_plan(["bm25 | embedding:./no/such/folder?offline=true"])
    >>> [(label, model) for label, info, model, options in plan]
    [('bm25', None), ('embedding:./no/such/folder?offline=true', './no/such/folder')]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from rag_rerankers.cli import Command

Plan = list[tuple[str, Any, "str | None", dict[str, Any]]]


def _segments(specs: Iterable[str]) -> Iterable[str]:
    for spec in specs:
        for part in spec.split("|"):
            if not part.strip():
                from rag_rerankers.errors import ConfigError

                raise ConfigError(f"empty reranker in the fallback chain {spec!r}")
            yield part.strip()


def download_plan(specs: Iterable[str]) -> Plan:
    """``(label, backend info, model, backend options)`` for every member of ``specs``,
    validated (unknown backends and options raise :class:`~rag_rerankers.ConfigError`)."""
    from rag_rerankers.config import redact_spec
    from rag_rerankers.controls.setup import CONTROL_OPTION_NAMES
    from rag_rerankers.factory import to_spec, validate_spec

    plan: Plan = []
    pending = list(_segments(specs))
    while pending:
        segment = pending.pop(0)
        info, model, options = validate_spec(to_spec(segment))
        fallbacks = options.get("fallbacks")
        if isinstance(fallbacks, str):
            pending += [f for f in _segments([fallbacks]) for f in
                        (f.split(",") if "," in f and "?" not in f else [f])]
        elif isinstance(fallbacks, (list, tuple)):
            pending += [str(f) for f in fallbacks]
        own = {k: v for k, v in options.items()
               if k not in CONTROL_OPTION_NAMES and k not in ("top_n", "offline")}
        plan.append((redact_spec(segment), info, model, own))
    return plan


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="config strings, e.g. 'cross-encoder', 'bge', 'mxbai:mixedbread-ai/"
                   "mxbai-rerank-large-v2' or a chain 'cross-encoder | flashrank'")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for the hub's first answer (default: "
                   "$RAG_RERANKERS_HUB_TIMEOUT, else 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _download(args: argparse.Namespace) -> int:
    from rag_rerankers.backends._local import LocalReranker
    from rag_rerankers.errors import ModelNotFoundError

    plan = download_plan(args.specs)  # every spec checked before any download
    for _label, info, _model, _options in plan:
        if issubclass(info.cls, LocalReranker):
            info.check_dependencies()  # a missing extra: exit 1 before anything is fetched
    failed = 0
    done: set[tuple[str, str | None, str]] = set()
    for label, info, model, options in plan:
        if not issubclass(info.cls, LocalReranker):
            print(f"{label}: nothing to download ({info.kind} backend)")
            continue
        key = (info.name, model, repr(sorted(options.items())))
        if key in done:
            continue
        done.add(key)
        print(f"{label}: fetching {model} ...", flush=True)
        try:
            fetched = info.cls.download(model, progress=False if args.no_progress else None,
                                        timeout=args.timeout, **options)
        except ModelNotFoundError as exc:
            failed += 1
            print(f"error: {label}: {exc}", file=sys.stderr)
            continue
        what = f"{len(fetched.files)} files, {_size(fetched.size)}" if fetched.files else "a local folder"
        print(f"{label}: {model} -> {fetched.folder} ({what})")
    return 1 if failed else 0


DOWNLOAD = Command(
    "fetch the models of config strings into the standard caches, for offline use later",
    _setup,
    _download,
)
