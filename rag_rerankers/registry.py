"""The explicit backend registry: every backend name and alias, and the class behind it.

Each backend is declared once, in its own module, beside its class, as a :class:`BackendInfo`
named ``BACKEND``; :data:`BACKEND_MODULES` lists those modules. Nothing is guessed from a model
name: ``init_reranker("cross-encoder:BAAI/bge-reranker-v2-m3")`` uses the ``cross-encoder``
backend because the string says so.

What the class already says is read from it, not written again: the name (``backend``), kind,
default model, score type and options (:meth:`~rag_rerankers.Reranker.declared_options`, which
include the API backends' key variables). A declaration adds only what the class cannot know:
aliases, description, extra, requirements and a docs link.

Backend modules import no SDK or model library at import time, so reading every declaration
costs a few imports of this package's own modules, done once, on first lookup.

Example:
    >>> get_backend("bge")[1]
    'BAAI/bge-reranker-v2-m3'
    >>> [o.name for o in get_backend("bm25")[0].all_options()]
    ['top_n', 'k1', 'b', 'method', 'stopwords', 'stemmer', 'corpus_stats']
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_rerankers.controls.setup import CONTROL_OPTION_NAMES, CONTROL_OPTIONS
from rag_rerankers.errors import ConfigError, MissingDependencyError
from rag_rerankers.options import Option

if TYPE_CHECKING:
    from rag_rerankers.base import Reranker

BACKEND_MODULES: tuple[str, ...] = (
    "rag_rerankers.backends.bm25",
    "rag_rerankers.backends.embedding",
    "rag_rerankers.backends.cross_encoder",
    "rag_rerankers.backends.flashrank",
    "rag_rerankers.backends.mxbai",
    "rag_rerankers.backends.causal_lm",
    "rag_rerankers.backends.bge_gemma",
    "rag_rerankers.backends.colbert",
    "rag_rerankers.backends.cohere",
    "rag_rerankers.backends.voyage",
    "rag_rerankers.backends.jina",
    "rag_rerankers.backends.mixedbread",
    "rag_rerankers.backends.tei",
    "rag_rerankers.backends.vllm",
    "rag_rerankers.backends.infinity",
    "rag_rerankers.backends.llama_cpp",
    "rag_rerankers.backends.localai",
    "rag_rerankers.backends.llm",
)
"""The shipped backends, in the order the README and ``rag-rerankers backends`` list them.
Each module defines ``BACKEND``; adding a backend adds one line here."""


@dataclass(frozen=True)
class Alias:
    """Another name for a backend, optionally with its own default model (``bge``)."""

    name: str
    default_model: str | None = None


@dataclass(frozen=True)
class BackendInfo:
    """A backend's declaration: its class plus what the class cannot say about itself.

    Args:
        cls: the :class:`~rag_rerankers.Reranker` subclass.
        description: one line for the registry, the README table and the config reference.
        aliases: other names, each optionally with its own default model.
        extra: the ``pip install "rag-rerankers[extra]"`` that brings its dependencies
            (default: the backend's name).
        requires: ``(import name, PyPI distribution)`` pairs checked before the class is built,
            so a missing one is a :class:`~rag_rerankers.MissingDependencyError` naming the extra.
        docs_url: the provider's or library's reference page.
        example: a config string that builds as written, for the config reference, where the
            generated one would not (a required option such as ``base_url``, or a model name
            that says which provider).

    Example:
        >>> from rag_rerankers.backends.bm25 import BM25Reranker
        >>> info = BackendInfo(BM25Reranker, "BM25.", requires=(("bm25s", "bm25s"),))
        >>> info.name, info.kind, info.install_extra, info.default_model
        ('bm25', 'lexical', 'bm25', None)
    """

    cls: type[Reranker]
    description: str
    aliases: tuple[Alias, ...] = ()
    extra: str | None = None
    requires: tuple[tuple[str, str], ...] = ()
    docs_url: str | None = None
    example: str | None = None

    @property
    def name(self) -> str:
        return self.cls.backend

    @property
    def kind(self) -> str:
        return self.cls.kind

    @property
    def default_model(self) -> str | None:
        return self.cls.default_model

    @property
    def score_type(self) -> str:
        return self.cls.score_type.value

    @property
    def install_extra(self) -> str:
        return self.extra or self.name

    @property
    def options(self) -> tuple[Option, ...]:
        """This backend's own options (those of its kind included), without ``top_n``."""
        return tuple(opt for opt in self.all_options() if opt.name != "top_n")

    def all_options(self) -> tuple[Option, ...]:
        """The constructor's options: ``top_n`` and this backend's own."""
        return self.cls.declared_options()

    def accepted_options(self) -> tuple[Option, ...]:
        """Everything a spec may set: :meth:`all_options` plus the ranking controls."""
        return self.all_options() + CONTROL_OPTIONS

    def option_map(self) -> dict[str, Option]:
        return {opt.name: opt for opt in self.accepted_options()}

    def check_dependencies(self) -> None:
        """Raise :class:`MissingDependencyError` naming the extra if a requirement is missing."""
        for module, distribution in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise MissingDependencyError(self.name, self.install_extra, distribution)

    def load_class(self) -> type[Reranker]:
        """The class, once its requirements are known to be installed."""
        self.check_dependencies()
        return self.cls

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": [a.name for a in self.aliases],
            "alias_models": {a.name: a.default_model for a in self.aliases if a.default_model},
            "default_model": self.default_model,
            "kind": self.kind,
            "extra": self.install_extra,
            "install": f'pip install "rag-rerankers[{self.install_extra}]"',
            "score_type": self.score_type,
            "description": self.description,
            "options": [opt.as_dict() for opt in self.accepted_options()],
            "docs_url": self.docs_url,
            "example": self.example,
        }


_lock = threading.RLock()
_BACKENDS: dict[str, BackendInfo] = {}
_NAMES: dict[str, tuple[BackendInfo, str | None]] = {}
_loaded = False


def _add(info: BackendInfo, replace: bool) -> None:
    names = [info.name] + [a.name for a in info.aliases]
    for name in names:
        if name in _NAMES and not replace and _NAMES[name][0].name != info.name:
            raise ConfigError(f"backend name {name!r} is already registered")
    if info.name in _BACKENDS and not replace:
        raise ConfigError(f"backend {info.name!r} is already registered (pass replace=True)")
    _BACKENDS[info.name] = info
    _NAMES[info.name] = (info, info.default_model)
    for alias in info.aliases:
        _NAMES[alias.name] = (info, alias.default_model or info.default_model)


def _ensure_builtins() -> None:
    """Read the shipped backends' declarations (once, on first use)."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for module_name in BACKEND_MODULES:
            _add(importlib.import_module(module_name).BACKEND, replace=False)
        _loaded = True


def register_backend(info: BackendInfo, *, replace: bool = False) -> None:
    """Add a backend of your own (and its aliases) to the registry.

    Example:
        >>> from rag_rerankers import Reranker, init_reranker, register_backend
        >>> from rag_rerankers.registry import BackendInfo
        >>> class Shortest(Reranker):
        ...     backend = "shortest-first"
        ...     def _score(self, query, documents):
        ...         return [-len(d) for d in documents]
        >>> register_backend(BackendInfo(Shortest, "Shorter documents first."), replace=True)
        >>> [i.index for i in init_reranker("shortest-first").rank("q", ["long text", "short"])]
        [1, 0]
    """
    _ensure_builtins()
    with _lock:
        _add(info, replace)


def shipped_backends() -> list[BackendInfo]:
    """The backends this package ships (not those registered at run time), in README order."""
    _ensure_builtins()
    return [importlib.import_module(m).BACKEND for m in BACKEND_MODULES]


def backend_names() -> list[str]:
    """Every accepted backend name and alias, sorted."""
    _ensure_builtins()
    return sorted(_NAMES)


def get_backend(name: str) -> tuple[BackendInfo, str | None]:
    """Look up a backend name or alias: ``(info, default model for that name)``."""
    _ensure_builtins()
    try:
        return _NAMES[name.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r}. Valid backends: {', '.join(backend_names())}"
        ) from None


def list_backends() -> list[dict[str, Any]]:
    """The registry as data (name, aliases, default model, options, extra, kind).

    Example:
        >>> "bm25" in [b["name"] for b in list_backends()]
        True
    """
    _ensure_builtins()
    return [info.as_dict() for info in _BACKENDS.values()]


def backends_markdown() -> str:
    """The shipped backends as the Markdown table shown in the README and the docs.

    Example:
        >>> backends_markdown().splitlines()[0]
        '| backend (aliases) | kind | default model | extra | scores |'
    """
    rows = [
        "| backend (aliases) | kind | default model | extra | scores |",
        "|---|---|---|---|---|",
    ]
    for b in (info.as_dict() for info in shipped_backends()):
        aliases = ", ".join(
            f"`{a}`" + (f" = `{b['alias_models'][a]}`" if a in b["alias_models"] else "")
            for a in b["aliases"]
        )
        name = f"`{b['name']}`" + (f" ({aliases})" if aliases else "")
        model = f"`{b['default_model']}`" if b["default_model"] else "–"
        rows.append(f"| {name} | {b['kind']} | {model} | `{b['extra']}` | {b['score_type']} |")
    return "\n".join(rows)


__all__ = [
    "BACKEND_MODULES",
    "CONTROL_OPTIONS",
    "CONTROL_OPTION_NAMES",
    "Alias",
    "BackendInfo",
    "Option",
    "backend_names",
    "backends_markdown",
    "get_backend",
    "list_backends",
    "register_backend",
    "shipped_backends",
]
