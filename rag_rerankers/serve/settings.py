"""What a server enforces and how it schedules work: :class:`ServeSettings`.

Settings are plain data (no FastAPI), so the CLI, the app factory, uvicorn worker processes
(which receive them as JSON in an environment variable) and Ray replicas share them.

Example:
    >>> s = ServeSettings(api_keys=("k1",), max_documents=50)
    >>> ServeSettings.from_json(s.to_json()) == s
    True
    >>> "k1" in repr(s)
    False
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rag_rerankers.errors import ConfigError

ENV_CONFIG = "RAG_RERANKERS_SERVE_CONFIG"
"""Environment variable holding ``{"models": {...}, "settings": {...}}`` for worker processes."""

SERVER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
"""Environment a server process starts torch with, unless the user set these variables.

``OMP_WAIT_POLICY=PASSIVE``: torch's idle OpenMP threads sleep instead of spinning between
operations. With 2 torch threads and another process busy on one of 2 cores, spinning threads
took the core from the thread that feeds the model: merged cross-encoder scoring ran at 28.1
docs/s, against 42.1 with PASSIVE (``benchmarks/omp_wait_policy.py``). On an idle machine the
two were level (0.99-1.01x). OpenMP reads it once, when torch is imported, so it is set before any model loads.
"""


@dataclass(frozen=True)
class ServeSettings:
    """Limits, keys and batching of a server.

    Attributes:
        api_keys: accepted bearer keys; empty: no authentication.
        max_documents: most documents per request (more: 413).
        max_document_chars: most characters per document (more: 413).
        request_timeout: seconds a request may take before a 504 (``None``: no limit).
        max_pending: most requests admitted at once (running or waiting); one more gets 503
            with ``Retry-After``.
        retry_after: seconds sent in ``Retry-After`` with that 503.
        batching: merge the pairs of concurrent requests into shared forward passes (local
            backends that support it: ``cross-encoder``, ``causal-lm``, ``bge-gemma``). On a
            CPU it saves the padding of each request's batches (1.18x measured, the bound
            computed for those requests); on a GPU it should save more (docs/serving.md).
        max_wait_ms: how long an idle batcher waits for more requests before running a batch.
        max_batch_pairs: most pairs per merged call (each forward pass inside it stays under
            the backend's ``batch_size`` and ``batch_tokens``). The pairs of a call are sorted
            by length together, so a larger call pads less (on DL19 requests of 20 passages,
            padding added 20.4% to the real tokens of each request scored alone, 9.2% with 64
            pairs a call, 1.7% with 512); every request of a call is answered when it ends.
        threads: torch intra-op threads of this process (``None``: cores // workers).
        workers: uvicorn worker processes (each loads its own models).
    """

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_documents: int = 1000
    max_document_chars: int = 100_000
    request_timeout: float | None = 60.0
    max_pending: int = 256
    retry_after: int = 1
    batching: bool = True
    max_wait_ms: float = 2.0
    max_batch_pairs: int = 512
    threads: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("max_documents", "max_document_chars", "max_pending", "max_batch_pairs",
                     "workers", "retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"threads must be an integer >= 1 or None, got {self.threads!r}")
        if self.request_timeout is not None and self.request_timeout <= 0:
            raise ConfigError(f"request_timeout must be > 0 or None, got {self.request_timeout!r}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}")
        keys = tuple(self.api_keys)
        if any(not isinstance(k, str) or not k.strip() for k in keys):
            raise ConfigError("api_keys must be non-empty strings")
        object.__setattr__(self, "api_keys", keys)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data["api_keys"] = tuple(data.get("api_keys", ()))
        return cls(**{k: v for k, v in data.items() if k in known})

    def torch_threads(self) -> int:
        """Threads per worker: the setting, else the usable cores divided among the workers.

        Example:
            >>> ServeSettings(threads=3).torch_threads()
            3
        """
        if self.threads is not None:
            return self.threads
        return max(1, usable_cores() // self.workers)


def apply_server_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set :data:`SERVER_ENV`'s variables that are not set yet (in ``os.environ`` by default);
    returns those it set. Call it before torch is imported: the CLI does, first thing.

    Example:
        >>> env = {"OMP_WAIT_POLICY": "ACTIVE"}
        >>> apply_server_env(env), env["OMP_WAIT_POLICY"]  # the user's choice stays
        ({}, 'ACTIVE')
        >>> apply_server_env({})
        {'OMP_WAIT_POLICY': 'PASSIVE'}
    """
    target = os.environ if environ is None else environ
    applied = {k: v for k, v in SERVER_ENV.items() if k not in target}
    target.update(applied)
    return applied


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def read_keys_file(path: str | Path) -> tuple[str, ...]:
    """API keys from a file: one per line; blank lines and ``#`` comments are skipped.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        ...     _ = f.write("# team A\\nkey-a\\n\\nkey-b\\n")
        >>> read_keys_file(f.name); os.unlink(f.name)
        ('key-a', 'key-b')
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the keys file {str(path)!r}: {exc.strerror}") from None
    keys = tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    if not keys:
        raise ConfigError(f"the keys file {str(path)!r} holds no key (one per line)")
    return keys


def settings_from_env() -> tuple[dict[str, Any], ServeSettings]:
    """``(models, settings)`` written by the CLI into :data:`ENV_CONFIG` for worker processes."""
    raw = os.environ.get(ENV_CONFIG)
    if not raw:
        raise ConfigError(f"{ENV_CONFIG} is not set: start workers with `rag-rerankers serve`")
    data = json.loads(raw)
    return dict(data["models"]), ServeSettings.from_json(json.dumps(data["settings"]))
