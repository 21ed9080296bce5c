"""``init_reranker``: one factory for every backend, from a config string, a dict or an object."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

from rag_rerankers.base import Reranker, check_top_n
from rag_rerankers.config import Spec, parse_spec, redact_spec, spec_from_mapping
from rag_rerankers.controls.setup import CONTROL_OPTION_NAMES
from rag_rerankers.errors import ConfigError
from rag_rerankers.registry import BackendInfo, get_backend

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
    reranker = _build(info, model, options)
    if "fallbacks" in controls:
        controls["fallbacks"] = build_fallbacks(controls["fallbacks"])
    return reranker.configure(**controls) if controls else reranker


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
    if value is None:
        return []
    if isinstance(value, (str, Mapping, Reranker)):
        value = [value]
    built: list[Reranker] = []
    for item in value:
        if isinstance(item, str) and "|" not in item and "," in item and "?" not in item:
            built.extend(init_reranker(part) for part in item.split(","))
        else:
            built.append(init_reranker(item))
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
    members: list[Reranker] = []
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
        members.append(_build(info, model, options))
    extra = [built for value in fallbacks for built in build_fallbacks(value)]
    return members[0].configure(fallbacks=[*members[1:], *extra], **controls)



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


def adapter_fields(owner: str, reranker: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Fields for an adapter (compressor, postprocessor): the built reranker and ``top_n``.

    ``top_n`` is the one given explicitly, else the spec's own ``top_n``, else the adapter's
    default. Raising our typed errors here (not in a pydantic validator) keeps them typed.
    """
    if reranker is None:
        raise ConfigError(f"{owner} needs reranker=... (a config string, dict or Reranker)")
    built = init_reranker(reranker)
    fields = dict(fields)
    if "top_n" not in fields and built.top_n is not None:
        fields["top_n"] = built.top_n
    if "top_n" in fields:
        fields["top_n"] = check_top_n(fields["top_n"])
    return {"reranker": built, **fields}


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
