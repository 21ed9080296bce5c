"""Opt-in result cache: raw scores keyed by backend, model, options, query and document hash.

- ``cache="memory"``: an LRU dict of at most ``cache_size`` entries, per reranker.
- ``cache="disk"``: a :mod:`diskcache` folder (``cache_path``, default
  ``~/.cache/rag-rerankers/scores``), shared by every process that uses the same folder.

Raw scores are stored (before normalization, thresholds and ``top_n``), one per scored text,
so a candidate list that is partly cached sends only the misses to the backend. Backends whose
scores depend on the whole candidate list (``independent_scores = False``, e.g. BM25, whose IDF
comes from the candidates) are cached per whole list instead.

Example:
    >>> cache = MemoryCache(max_entries=2)
    >>> cache.set_many({"a": 1.0, "b": 2.0, "c": 3.0})
    >>> cache.get_many(["a", "b", "c"])
    {'b': 2.0, 'c': 3.0}
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from rag_rerankers.types import Scorer

CACHE_MODES = ("memory", "disk")
_SECRETISH = ("key", "secret", "password", "auth", "header", "credential")
_SIMPLE = (str, int, float, bool, type(None))


@runtime_checkable
class ScoreCache(Protocol):
    """What the pipeline needs from a cache (bring your own: any object with these methods)."""

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...

    def set_many(self, items: Mapping[str, Any]) -> None: ...


class MemoryCache:
    """A thread-safe LRU cache of at most ``max_entries`` entries."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("cache_size must be >= 1")
        self.max_entries = max_entries
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with self._lock:
            for key in keys:
                if key in self._data:
                    self._data.move_to_end(key)
                    found[key] = self._data[key]
        return found

    def set_many(self, items: Mapping[str, Any]) -> None:
        with self._lock:
            for key, value in items.items():
                self._data[key] = value
                self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class DiskCache:
    """Scores on disk through :mod:`diskcache` (safe across threads and processes).

    ``max_entries`` bounds the folder to about ``max_entries`` * 1 KiB (diskcache limits bytes,
    evicting least recently used entries).
    """

    def __init__(self, directory: str | None = None, max_entries: int = 10_000) -> None:
        try:
            import diskcache
        except ImportError as exc:  # pragma: no cover - diskcache comes with the cache extra
            from rag_rerankers.errors import MissingDependencyError

            raise MissingDependencyError("cache", "cache", "diskcache") from exc
        self.directory = os.path.expanduser(directory or default_cache_dir())
        self._cache = diskcache.Cache(
            self.directory,
            size_limit=max(1, max_entries) * 1024,
            eviction_policy="least-recently-used",
        )

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in keys:
            value = self._cache.get(key, default=None)
            if value is not None:
                found[key] = value
        return found

    def set_many(self, items: Mapping[str, Any]) -> None:
        with self._cache.transact():
            for key, value in items.items():
                self._cache.set(key, value)

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)


def default_cache_dir() -> str:
    """``$RAG_RERANKERS_CACHE_DIR`` or ``~/.cache/rag-rerankers/scores``."""
    return os.environ.get("RAG_RERANKERS_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "rag-rerankers", "scores"
    )


def make_cache(mode: str | ScoreCache | None, size: int, directory: str | None) -> ScoreCache | None:
    """Build the cache a reranker asked for (``None`` / ``"none"``: no cache)."""
    if mode is None or mode == "none":
        return None
    if not isinstance(mode, str):
        if isinstance(mode, ScoreCache):
            return mode
        raise ValueError(f"cache must be 'memory', 'disk', None or a cache object, got {mode!r}")
    if mode == "memory":
        return MemoryCache(size)
    if mode == "disk":
        return DiskCache(directory, size)
    raise ValueError(f"cache must be one of {', '.join(CACHE_MODES)} or none, got {mode!r}")


def _secretish(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in _SECRETISH) or low == "token" or low.endswith("_token")


def identity(reranker: Scorer) -> list[Any]:
    """What makes a backend's scores what they are: class, backend, model and options.

    Options are the class's declared, non-secret options (see
    :meth:`rag_rerankers.Reranker.declared_options`); for a class that declares none, its
    public attributes of simple types, leaving out anything that looks like a secret.
    ``top_n`` never counts.
    """
    cls = type(reranker)
    declared = getattr(cls, "declared_options", None)
    names = [o.name for o in declared() if not o.secret] if callable(declared) else []
    if not [n for n in names if n != "top_n"]:
        names = sorted(k for k in vars(reranker) if not k.startswith("_") and not _secretish(k))
    options = {}
    for name in names:
        if name in ("top_n", "model"):
            continue
        value = getattr(reranker, name, None)
        if isinstance(value, _SIMPLE):
            options[name] = value
    return [f"{cls.__module__}.{cls.__qualname__}", reranker.backend, reranker.model, options]


def content_hash(text: str) -> str:
    """SHA-256 of a text (the key never holds the text itself)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def make_key(ident: list[Any], query: str, texts_hash: str) -> str:
    """One cache key: identity + query + content hash of a text (or of a whole list)."""
    payload = json.dumps([ident, query, texts_hash], sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()
