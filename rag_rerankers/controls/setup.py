"""The ranking controls a reranker carries: declared once here, checked once when set.

:data:`CONTROL_OPTIONS` declares every control (config strings, dicts and keyword arguments all
accept them); each one's modes come from the module that applies it. :func:`build_setup` checks
values for :meth:`rag_rerankers.Reranker.configure`. Fallback rerankers arrive already built
(:func:`rag_rerankers.init_reranker` builds them from config strings), so this module never
builds a reranker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.controls.cache import CACHE_MODES, ScoreCache, make_cache
from rag_rerankers.controls.chunk import LONG_DOCS_MODES, POOLING_MODES
from rag_rerankers.controls.fusion import FUSION_MODES, RRF_K
from rag_rerankers.controls.normalize import NORMALIZE_MODES
from rag_rerankers.controls.text import DEDUP_MODES, split_template
from rag_rerankers.errors import ConfigError
from rag_rerankers.options import Option
from rag_rerankers.types import Scorer, ScoreType

ON_ERROR_MODES = ("raise", "fallback", "passthrough")

CONTROL_OPTIONS: tuple[Option, ...] = (
    Option("normalize", "str", "auto",
           "Score mapping: 'auto' (sigmoid for logits, similarity to [0,1], 0-1 scores kept), "
           "'none' (raw), 'sigmoid', 'minmax' (per list; makes thresholds meaningless).",
           choices=NORMALIZE_MODES),
    Option("score_threshold", "float", None,
           "Drop candidates whose (normalized) score is below this; applied before top_n."),
    Option("fallbacks", "list", None,
           "Rerankers tried in order when this one fails (config strings, dicts or Rerankers); "
           "also written 'cohere:rerank-v3.5 | flashrank'."),
    Option("on_error", "str", None,
           "On a backend error: 'raise', 'fallback' (try the fallbacks; the default when there "
           "are some) or 'passthrough' (then keep the retrieval order, reranked=False).",
           choices=ON_ERROR_MODES),
    Option("cache", "str", None,
           "Cache raw scores: 'memory' (LRU) or 'disk' (diskcache); none by default.",
           choices=(*CACHE_MODES, "none")),
    Option("cache_size", "int", 10_000, "Most cache entries (disk: about 1 KiB each).",
           nullable=False),
    Option("cache_path", "str", None,
           "Folder of the disk cache (default $RAG_RERANKERS_CACHE_DIR or "
           "~/.cache/rag-rerankers/scores)."),
    Option("long_docs", "str", "truncate",
           "'truncate' (the model or chunk_size cuts long documents) or 'chunk' (overlapping "
           "windows, each scored, pooled).", nullable=False, choices=LONG_DOCS_MODES),
    Option("chunk_size", "int", None,
           "Tokens (words without a tokenizer) per window; default: the model's window."),
    Option("chunk_overlap", "int", None, "Tokens shared by neighbouring windows (default: a quarter)."),
    Option("pooling", "str", "max", "Document score from its windows: 'max', 'mean' or 'first'.",
           nullable=False, choices=POOLING_MODES),
    Option("rank_fields", "list", None,
           "Metadata fields the reranker reads before the content ('title,author'), or a "
           "template ('{title}: {content}')."),
    Option("dedup", "str", "keep",
           "Identical contents are scored once; 'keep' returns every copy, 'collapse' only the "
           "first (listing the others in metadata).", nullable=False, choices=DEDUP_MODES),
    Option("fusion", "str", "none",
           "'rrf': fuse the reranker's order with the input (first-stage) order by reciprocal "
           "rank; scores become rank-derived.", nullable=False, choices=FUSION_MODES),
    Option("rrf_k", "int", RRF_K, "RRF's constant k: 1/(k + rank) per list.", nullable=False),
)
"""Ranking controls every backend accepts, applied by :meth:`Reranker.rank` through
:meth:`Reranker.configure`; never passed to backend constructors."""

CONTROL_OPTION_NAMES: frozenset[str] = frozenset(opt.name for opt in CONTROL_OPTIONS)
_DECLARED = {opt.name: opt for opt in CONTROL_OPTIONS}


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
    fusion: str = "none"
    rrf_k: int = RRF_K

    @property
    def chunking(self) -> bool:
        """Whether documents are split or cut by the pipeline (not only by the model)."""
        return self.long_docs == "chunk" or self.chunk_size is not None


@dataclass(frozen=True)
class RankingSetup:
    """Controls + fallback rerankers + cache: everything :meth:`Reranker.rank` applies."""

    controls: Controls = Controls()
    fallbacks: tuple[Scorer, ...] = ()
    cache: ScoreCache | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """The control options as given (a later ``configure`` call adds to them)."""


DEFAULT_SETUP = RankingSetup()


def _rank_fields(value: Any) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if "{" in value:  # a template such as "{title}\n{content}"
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


def _fallbacks(value: Any) -> tuple[Scorer, ...]:
    """The chain of built fallback rerankers, each one's own fallbacks flattened after it."""
    if value is None:
        return ()
    if isinstance(value, Scorer):
        value = [value]
    chain: list[Scorer] = []
    for item in value:
        if not isinstance(item, Scorer):
            raise ConfigError(
                f"fallbacks given to configure() must be built rerankers, got {item!r}: build "
                "them with init_reranker(...), or pass config strings to "
                "init_reranker(spec, fallbacks=[...]), which builds them"
            )
        chain.append(item)
        chain.extend(item.ranking_setup.fallbacks)
    return tuple(chain)


def build_setup(owner: Scorer, options: Mapping[str, Any]) -> RankingSetup:
    """Check control options (see :data:`CONTROL_OPTIONS`)."""
    unknown = sorted(set(options) - set(_DECLARED))
    if unknown:
        raise ConfigError(
            f"unknown control(s) {', '.join(map(repr, unknown))}. "
            f"Valid controls: {', '.join(sorted(_DECLARED))}"
        )
    values = {name: opt.default for name, opt in _DECLARED.items()}
    for name, value in options.items():
        if name == "cache" and value is not None and not isinstance(value, str):
            values[name] = value  # a cache object of the caller's own
        elif name == "fallbacks":
            values[name] = value  # built rerankers, checked by _fallbacks
        else:
            values[name] = _DECLARED[name].coerce(value, owner.backend)

    if values["normalize"] is None:  # "?normalize=none" reads as None
        values["normalize"] = "none"
    fallbacks = _fallbacks(values.pop("fallbacks"))
    on_error = values.pop("on_error") or ("fallback" if fallbacks else "raise")
    cache_mode, cache_size, cache_path = (values.pop(k) for k in ("cache", "cache_size", "cache_path"))
    if cache_size < 1:
        raise ConfigError(f"cache_size must be >= 1, got {cache_size}")
    controls = Controls(on_error=on_error, **{**values, "rank_fields": _rank_fields(values["rank_fields"])})

    if controls.score_threshold is not None:
        for scorer in (owner, *fallbacks):
            if scorer.score_type == ScoreType.RANK:
                raise ConfigError(
                    f"score_threshold cannot apply to {scorer.name!r}: its scores are positions "
                    "(1/rank), not relevance, so a threshold would only cut the list at a fixed "
                    "length. Use top_n instead (or mode=pointwise for graded scores)"
                )
    if controls.rrf_k < 0:
        raise ConfigError(f"rrf_k must be >= 0, got {controls.rrf_k}")
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
