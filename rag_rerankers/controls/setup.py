"""The ranking controls a reranker carries, checked once when they are set.

Options are declared in :data:`rag_rerankers.registry.CONTROL_OPTIONS` (so config strings,
dicts and keyword arguments all accept them) and applied by
:meth:`rag_rerankers.Reranker.configure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag_rerankers.controls.cache import ScoreCache, make_cache
from rag_rerankers.errors import ConfigError

if TYPE_CHECKING:
    from rag_rerankers.base import Reranker

ON_ERROR_MODES = ("raise", "fallback", "passthrough")
DEDUP_MODES = ("keep", "collapse")


@dataclass(frozen=True)
class Controls:
    """Checked values of the ranking controls (defaults: the behaviour without any control)."""

    normalize: str = "auto"
    score_threshold: float | None = None
    on_error: str = "raise"
    long_docs: str = "truncate"
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    pooling: str = "max"
    rank_fields: str | tuple[str, ...] | None = None
    dedup: str = "keep"

    @property
    def chunking(self) -> bool:
        """Whether documents are split or cut by the pipeline (not only by the model)."""
        return self.long_docs == "chunk" or self.chunk_size is not None


@dataclass(frozen=True)
class RankingSetup:
    """Controls + fallback rerankers + cache: everything :meth:`Reranker.rank` applies."""

    controls: Controls = Controls()
    fallbacks: tuple[Reranker, ...] = ()
    cache: ScoreCache | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """The control options as given (a later ``configure`` call adds to them)."""


DEFAULT_SETUP = RankingSetup()


def _rank_fields(value: Any) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if "{" in value:  # a template such as "{title}\n{content}"
            from rag_rerankers.controls.text import split_template

            try:
                split_template(value)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            return value
        value = value.split(",")
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"rank_fields must be field names or a template, got {value!r}")
    fields = tuple(v.strip() for v in value if v.strip())
    if not fields:
        raise ConfigError("rank_fields is empty: name at least one metadata field")
    return fields


def _fallbacks(value: Any) -> tuple[Reranker, ...]:
    from rag_rerankers.base import Reranker
    from rag_rerankers.factory import init_reranker

    if value is None:
        return ()
    if isinstance(value, (str, Mapping, Reranker)):
        value = [value]
    chain: list[Reranker] = []
    for item in value:
        if isinstance(item, str) and "|" not in item and "," in item and "?" not in item:
            chain.extend(init_reranker(part) for part in item.split(","))
            continue
        reranker = init_reranker(item)
        chain.append(reranker)
        # A fallback that has its own chain contributes it, flattened.
        chain.extend(reranker.ranking_setup.fallbacks)
    return tuple(chain)


def build_setup(owner: Reranker, options: Mapping[str, Any]) -> RankingSetup:
    """Check control options (see :data:`~rag_rerankers.registry.CONTROL_OPTIONS`)."""
    from rag_rerankers.registry import CONTROL_OPTIONS

    declared = {opt.name: opt for opt in CONTROL_OPTIONS}
    unknown = sorted(set(options) - set(declared))
    if unknown:
        raise ConfigError(
            f"unknown control(s) {', '.join(map(repr, unknown))}. "
            f"Valid controls: {', '.join(sorted(declared))}"
        )
    values = {name: opt.default for name, opt in declared.items()}
    for name, value in options.items():
        if name == "cache" and value is not None and not isinstance(value, str):
            values[name] = value  # a cache object of the caller's own
        else:
            values[name] = declared[name].coerce(value, owner.backend)

    if values["normalize"] is None:  # "?normalize=none" reads as None
        values["normalize"] = "none"
    fallbacks = _fallbacks(values.pop("fallbacks"))
    on_error = values.pop("on_error") or ("fallback" if fallbacks else "raise")
    cache_mode, cache_size, cache_path = (values.pop(k) for k in ("cache", "cache_size", "cache_path"))
    if cache_size < 1:
        raise ConfigError(f"cache_size must be >= 1, got {cache_size}")
    controls = Controls(on_error=on_error, **{**values, "rank_fields": _rank_fields(values["rank_fields"])})

    if controls.chunk_size is not None and controls.chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {controls.chunk_size}")
    if controls.chunk_overlap is not None:
        limit = controls.chunk_size
        if controls.chunk_overlap < 0 or (limit is not None and controls.chunk_overlap >= limit):
            raise ConfigError(
                f"chunk_overlap must be >= 0 and smaller than chunk_size, got {controls.chunk_overlap}"
            )
    if controls.long_docs == "chunk" and controls.chunk_size is None:
        for scorer in (owner, *fallbacks):
            if scorer.token_window() is None:
                raise ConfigError(
                    f"long_docs='chunk' needs a window size: backend {scorer.backend!r} does not "
                    "report its model's window, so set chunk_size=<tokens per window>"
                )
    try:
        cache = make_cache(cache_mode, cache_size, cache_path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return RankingSetup(
        controls=controls, fallbacks=fallbacks, cache=cache, options=dict(options)
    )
