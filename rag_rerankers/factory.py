"""``init_reranker``: one factory for every backend, from a config string, a dict or an object."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from rag_rerankers.base import Reranker
from rag_rerankers.config import Spec, parse_spec, redact_spec, spec_from_mapping
from rag_rerankers.controls.setup import CONTROL_OPTION_NAMES
from rag_rerankers.errors import (
    ConfigError,
    MissingCredentialsError,
    MissingDependencyError,
    ModelNotFoundError,
)
from rag_rerankers.registry import BackendInfo, get_backend

logger = logging.getLogger("rag_rerankers")

UNAVAILABLE = (MissingCredentialsError, MissingDependencyError, ModelNotFoundError)
"""Why a chain member cannot be built here (no key or URL, no extra, no model): with
``on_error`` other than ``raise``, such a member is skipped with a warning."""

RerankerSpec = str | Mapping[str, Any] | Reranker
"""What :func:`init_reranker` accepts: a config string, a dict, or a ready reranker (and, for
interop, a LangChain ``BaseCrossEncoder``)."""


def to_spec(spec: str | Mapping[str, Any], **overrides: Any) -> Spec:
    """Parse a config string or dict and apply keyword overrides (which win)."""
    if isinstance(spec, str):
        parsed = parse_spec(spec)
    elif isinstance(spec, Mapping):
        parsed = spec_from_mapping(spec)
    else:
        raise ConfigError(
            "a reranker spec must be a config string ('backend[:model][?key=value]'), a dict "
            f"with a 'backend' key, or a Reranker; got {type(spec).__name__}"
        )
    options = dict(parsed.options)
    model = parsed.model
    if "model" in overrides:
        model = overrides.pop("model")
    options.update(overrides)
    raw = {k: v for k, v in parsed.raw.items() if k not in overrides}
    return Spec(backend=parsed.backend, model=model, options=options, raw=raw)


def validate_spec(spec: Spec) -> tuple[BackendInfo, str | None, dict[str, Any]]:
    """Check a spec against the registry: ``(info, model, typed options)``."""
    info, default_model = get_backend(spec.backend)
    known = info.option_map()
    unknown = sorted(set(spec.options) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for backend {info.name!r}. "
            f"Valid options: {', '.join(sorted(known))}"
        )
    options = {
        name: known[name].coerce(value, info.name, raw=spec.raw.get(name))
        for name, value in spec.options.items()
    }
    model = spec.model if spec.model is not None else default_model
    return info, model, options


def init_reranker(spec: RerankerSpec, **overrides: Any) -> Reranker:
    """Build a reranker from a config string, a dict, or return a :class:`Reranker` as is.

    A LangChain ``BaseCrossEncoder`` (e.g. ``HuggingFaceCrossEncoder``) is accepted too and
    wrapped by :class:`~rag_rerankers.backends.langchain_cross_encoder.LangChainCrossEncoderReranker`.

    Args:
        spec: ``"backend[:model][?key=value&...]"``, ``{"backend": ..., "model": ..., **options}``
            or a :class:`Reranker`. A fallback chain is written ``"first | second | ..."``.
        **overrides: options (and ``model``) that take precedence over the spec's. Ranking
            controls (:data:`~rag_rerankers.controls.setup.CONTROL_OPTIONS`) apply to the whole chain.

    Raises:
        ConfigError: unknown backend or option, malformed string, wrong option type.
        MissingDependencyError: the backend's extra is not installed (names the pip command).

    Example:
        >>> rr = init_reranker("bm25?top_n=2")
        >>> rr.top_n
        2
        >>> init_reranker({"backend": "bm25", "k1": 1.2}).k1
        1.2
        >>> [r.name for r in init_reranker("embedding?offline=true | bm25").ranking_setup.fallbacks]
        ['bm25']
    """
    spec = _wrap_foreign(spec)
    if isinstance(spec, Reranker):
        if overrides:
            raise ConfigError(
                "options cannot be applied to an already built Reranker; pass a config "
                "string or dict instead"
            )
        return spec
    if isinstance(spec, str) and "|" in spec:
        return _init_chain(spec, overrides)
    info, model, options = validate_spec(to_spec(spec, **overrides))
    controls = {k: options.pop(k) for k in list(options) if k in CONTROL_OPTION_NAMES}
    if "fallbacks" not in controls:
        reranker = _build(info, model, options)
        return reranker.configure(**controls) if controls else reranker
    if "top_n" in options:  # like a chain's: it applies whichever member ends up first
        controls["top_n"] = options.pop("top_n")
    label = redact_spec(spec) if isinstance(spec, str) else info.name
    members = _build_available(
        [(label, lambda: _build(info, model, options)), *_fallback_builders(controls["fallbacks"])],
        skip=controls.get("on_error") != "raise",
    )
    return members[0].configure(**{**controls, "fallbacks": members[1:]})


def _build(info: BackendInfo, model: str | None, options: dict[str, Any]) -> Reranker:
    """Construct a backend from checked options (ranking controls already removed)."""
    cls = info.load_class()
    if model is None:
        return cls(**options)
    if "model" not in inspect.signature(cls).parameters:
        # e.g. "bm25:x": a clear ConfigError rather than the constructor's TypeError
        raise ConfigError(f"backend {info.name!r} takes no model: write {info.name!r} without ':...'")
    return cls(model=model, **options)


def build_fallbacks(value: Any) -> list[Reranker]:
    """Build the ``fallbacks`` control: config strings, dicts or rerankers, in order.

    A plain comma-separated string (``"flashrank,bm25"``) names several fallbacks.

    Example:
        >>> [r.name for r in build_fallbacks("bm25")]
        ['bm25']
    """
    return _build_available(_fallback_builders(value), skip=False)


Builder = tuple[str, Callable[[], Reranker]]


def _fallback_builders(value: Any) -> list[Builder]:
    """``(label, build)`` for each fallback named by the ``fallbacks`` control."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping, Reranker)):
        value = [value]
    items: list[Any] = []
    for item in value:
        if isinstance(item, str) and "|" not in item and "," in item and "?" not in item:
            items.extend(item.split(","))
        else:
            items.append(item)
    return [(_label(item), lambda item=item: init_reranker(item)) for item in items]


def _label(item: Any) -> str:
    if isinstance(item, str):
        return redact_spec(item)
    if isinstance(item, Mapping):
        return str(item.get("backend"))
    return getattr(item, "name", type(item).__name__)


def _build_available(builders: list[Builder], *, skip: bool) -> list[Reranker]:
    """Build a chain's members in order. With ``skip``, a member that cannot be built here
    (:data:`UNAVAILABLE`) is left out with one warning naming why; it is an error only when
    no member can be built. Typos and bad values are errors either way."""
    built: list[Reranker] = []
    missing: list[Exception] = []
    for label, build in builders:
        try:
            built.append(build())
        except UNAVAILABLE as exc:
            if not skip:
                raise
            missing.append(exc)
            logger.warning("fallback chain: skipping %s, which cannot be built here (%s: %s)",
                           label, type(exc).__name__, exc)
    if not built:
        raise missing[0]
    return built


def _init_chain(spec: str, overrides: dict[str, Any]) -> Reranker:
    """``"a | b | c"``: build ``a`` with ``b`` and ``c`` as fallbacks.

    Controls and ``top_n`` written in any segment apply to the whole chain (one given twice
    with different values is an error); backend options and ``overrides`` stay with their
    segment (``overrides`` go to the first).
    """
    segments = [part.strip() for part in spec.split("|")]
    if any(not part for part in segments):
        raise ConfigError(f"empty reranker in the fallback chain {redact_spec(spec)!r}")
    controls: dict[str, Any] = {}
    fallbacks: list[Any] = []
    builders: list[Builder] = []
    for position, segment in enumerate(segments):
        info, model, options = validate_spec(
            to_spec(segment, **overrides) if position == 0 else to_spec(segment)
        )
        for name in [k for k in options if k in CONTROL_OPTION_NAMES or k == "top_n"]:
            value = options.pop(name)
            if name == "fallbacks":
                fallbacks.append(value)
            elif name in controls and controls[name] != value:
                raise ConfigError(
                    f"control {name!r} is given twice with different values in {redact_spec(spec)!r}: "
                    "controls apply to the whole chain"
                )
            else:
                controls[name] = value
        builders.append((redact_spec(segment),
                         lambda info=info, model=model, options=options: _build(info, model, options)))
    builders += [b for value in fallbacks for b in _fallback_builders(value)]
    members = _build_available(builders, skip=controls.get("on_error") != "raise")
    return members[0].configure(fallbacks=members[1:], **controls)



def _wrap_foreign(spec: Any) -> Any:
    """Wrap objects from other libraries that can rank (a LangChain ``BaseCrossEncoder``)."""
    if isinstance(spec, (str, Mapping, Reranker)):
        return spec
    from rag_rerankers.backends.langchain_cross_encoder import (
        LangChainCrossEncoderReranker,
        is_langchain_cross_encoder,
    )

    if is_langchain_cross_encoder(spec):
        return LangChainCrossEncoderReranker(spec)
    return spec


def reranker_from_env(
    variable: str = "RERANKER", default: RerankerSpec | None = None, **overrides: Any
) -> Reranker:
    """Build the reranker named by an environment variable (``RERANKER`` by default).

    Example:
        >>> import os
        >>> os.environ["RERANKER"] = "bm25?top_n=4"
        >>> reranker_from_env().top_n
        4
    """
    value = os.environ.get(variable, "").strip()
    if value:
        return init_reranker(value, **overrides)
    if default is None:
        raise ConfigError(
            f"environment variable {variable} is not set: set it to a config string such as "
            "'bm25' or 'cohere:rerank-v3.5?top_n=5', or pass default=..."
        )
    return init_reranker(default, **overrides)
