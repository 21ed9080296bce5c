"""What the LangChain and LlamaIndex adapters share, written once (they stay thin).

The core never imports this module; the adapters do. It imports no framework either: the
:class:`RerankerAdapter` mixin sits before each framework's pydantic base class.

- :func:`adapter_fields`: the constructor's arguments split into the adapter's own fields and
  the reranker's options, applied exactly as ``init_compressor``/``init_postprocessor`` apply
  them; unknown names refused with the closest valid one.
- :func:`adapter_field`: a field assigned after construction, checked.
- :func:`adapter_copy_check`: pickling or deep-copying refused, with the way out, when the
  reranker cannot be.
- :func:`embedding_backend`: the bi-encoder behind the embeddings adapters (a vector store's
  embedding from the same model cache as the rerankers).
"""

from __future__ import annotations

import copy
import difflib
import pickle
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from rag_rerankers.base import Reranker, check_top_n
from rag_rerankers.controls.setup import CONTROL_OPTION_NAMES
from rag_rerankers.errors import ConfigError, InvalidInputError
from rag_rerankers.factory import init_reranker, to_spec
from rag_rerankers.registry import get_backend

T = TypeVar("T")


def listed(items: Any, kind: type[T], *, not_iterable: str, wrong_item: str) -> list[T]:
    """The candidates as a list (any iterable, read once), each a ``kind``, else
    :class:`InvalidInputError`: ``not_iterable`` (formatted with ``{type}``) for a value that is
    no list of candidates (a ``str``, a mapping, ``None``), ``wrong_item`` (with ``{i}`` and
    ``{type}``) for a candidate of another type.

    Example:
        >>> listed(iter([1, 2]), int, not_iterable="{type}", wrong_item="{i}")
        [1, 2]
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InvalidInputError(not_iterable.format(type=type(items).__name__))
    out = list(items)
    for i, item in enumerate(out):
        if not isinstance(item, kind):
            raise InvalidInputError(wrong_item.format(i=i, type=type(item).__name__))
    return out


def adapter_fields(
    owner: str, reranker: Any, arguments: Mapping[str, Any], own: Iterable[str] = ("top_n",)
) -> dict[str, Any]:
    """Fields for an adapter (compressor, postprocessor) from its constructor's arguments.

    The arguments named in ``own`` are the adapter's fields. Every other one is an option for
    the reranker (a ranking control such as ``score_threshold`` or ``fallbacks``, a backend
    option, ``model``) and is applied exactly as ``init_reranker(reranker, **options)`` applies
    it: ``init_compressor``/``init_postprocessor`` and the constructors are one code path, and
    options given with an already built ``Reranker`` are refused. A name that is neither is a
    :class:`ConfigError` that suggests the closest valid name.

    ``top_n`` is the one given explicitly, else the spec's own ``top_n``, else the adapter's
    default. Raising our typed errors here (not in a pydantic validator) keeps them typed.

    Example:
        >>> adapter_fields("Adapter", "bm25", {"top_n": 2, "k1": 1.2})["reranker"].k1
        1.2
        >>> try:
        ...     adapter_fields("Adapter", "bm25", {"topn": 2})
        ... except ConfigError as err:
        ...     print(str(err).split(". Valid")[0])
        unknown argument 'topn' (did you mean 'top_n'?) for Adapter
    """
    if reranker is None:
        raise ConfigError(f"{owner} needs reranker=... (a config string, dict or Reranker)")
    own = frozenset(own) - {"reranker"}
    fields = {k: v for k, v in arguments.items() if k in own}
    options = {k: v for k, v in arguments.items() if k not in own}
    if options:
        _check_adapter_arguments(owner, reranker, own, options)
    built = init_reranker(reranker, **options)
    if "top_n" not in fields and built.top_n is not None:
        fields["top_n"] = built.top_n
    if "top_n" in fields:
        fields["top_n"] = check_top_n(fields["top_n"])
    return {"reranker": built, **fields}


def _check_adapter_arguments(
    owner: str, reranker: Any, own: frozenset[str], options: Mapping[str, Any]
) -> None:
    """Refuse argument names that are neither the adapter's fields nor the reranker's options."""
    try:
        if isinstance(reranker, (str, Mapping)):
            first = reranker.split("|", 1)[0] if isinstance(reranker, str) else reranker
            backend = to_spec(first).backend
            valid = {"model", *get_backend(backend)[0].option_map()}
        else:  # a built reranker takes no options (init_reranker says so), but knows their names
            backend = str(getattr(reranker, "backend", type(reranker).__name__))
            valid = set(CONTROL_OPTION_NAMES)
            valid.update(get_backend(backend)[0].option_map())
    except ConfigError:
        if not isinstance(reranker, (str, Mapping)):
            valid = set(CONTROL_OPTION_NAMES)  # a custom backend that is not registered
        else:
            return  # the spec itself is wrong: init_reranker raises its own error
    unknown = sorted(set(options) - valid)
    if not unknown:
        return
    choices = sorted(own | valid)
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, choices, n=1)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfigError(
        f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(named)} for {owner}. "
        f"Valid: {', '.join(sorted(own))} ({owner}); {', '.join(sorted(valid - own))} "
        f"(options of backend {backend!r})"
    )


def embedding_backend(owner: str, spec: Any, options: Mapping[str, Any]) -> Any:
    """The bi-encoder an embeddings adapter encodes with: ``init_reranker(spec, **options)``,
    which must have an ``embed`` method (the ``embedding`` backend), else :class:`ConfigError`.

    Example:
        >>> embedding_backend("Embeddings", "embedding", {}).model
        'sentence-transformers/all-MiniLM-L6-v2'
        >>> try:
        ...     embedding_backend("Embeddings", "bm25", {})
        ... except ConfigError as err:
        ...     print(str(err).split(":")[0])
        Embeddings needs a bi-encoder
    """
    built = init_reranker(spec, **options)
    if not callable(getattr(built, "embed", None)):
        raise ConfigError(
            f"{owner} needs a bi-encoder: an 'embedding' config string such as 'embedding' (the "
            "packaged all-MiniLM-L6-v2) or 'embedding:<sentence-transformers model or folder>', "
            f"got {getattr(built, 'name', type(built).__name__)!r}"
        )
    return built


def adapter_field(name: str, value: Any) -> Any:
    """The value an adapter stores when its field ``name`` is assigned after construction.

    ``top_n`` is checked (:class:`~rag_rerankers.errors.InvalidInputError`, as in the
    constructor) and ``reranker`` is built from a config string or dict; other fields as given.

    Example:
        >>> adapter_field("top_n", 2)
        2
        >>> adapter_field("top_n", 2.5)
        Traceback (most recent call last):
        ...
        rag_rerankers.errors.InvalidInputError: top_n must be None (keep all) or an integer >= 1, got 2.5
    """
    if name == "top_n":
        return check_top_n(value)
    if name == "reranker":
        if value is None:
            raise ConfigError("reranker cannot be None: give a config string, dict or Reranker")
        return init_reranker(value)
    return value


def adapter_copy_check(owner: str, reranker: Any, memo: dict[int, Any] | None = None) -> None:
    """Refuse to pickle (``memo`` is None) or deep-copy (into ``memo``) an adapter whose
    reranker cannot be, before anything is changed.

    A reranker that holds HTTP clients, locks or a cache does not pickle. The error
    (:class:`ConfigError`) names the way out: send the config string and build the adapter
    again, or ``copy.copy`` it to share the reranker. With ``memo``, the reranker's deep copy
    is left in it, so the adapter's own deep copy reuses it.

    Example:
        >>> adapter_copy_check("Adapter", init_reranker("bm25"))  # bm25 without a cache pickles
        >>> try:
        ...     adapter_copy_check("Adapter", init_reranker("bm25?cache=memory"))
        ... except ConfigError as err:
        ...     print(str(err).split(". ")[0])
        Adapter cannot be pickled: its reranker 'bm25' cannot (TypeError: cannot pickle '_thread.lock' object)
    """
    try:
        if memo is None:
            pickle.dumps(reranker)
        else:
            copy.deepcopy(reranker, memo)
    except Exception as exc:
        done = "pickled" if memo is None else "deep-copied"
        name = getattr(reranker, "name", type(reranker).__name__)
        raise ConfigError(
            f"{owner} cannot be {done}: its reranker {name!r} cannot ({type(exc).__name__}: "
            f"{exc}). A reranker that holds HTTP clients, locks or a cache does not pickle: send "
            f"the config string instead and build a new {owner} from it where it is needed, or "
            "use copy.copy() to share the reranker within a process"
        ) from exc


class RerankerAdapter:
    """What the LangChain compressor and the LlamaIndex postprocessor share, written once.

    A mixin placed before the framework's pydantic base class: the constructor applies
    controls and backend options as ``init_*`` do (:func:`adapter_fields`), assignments are
    checked (:func:`adapter_field`), and copies refuse a reranker that cannot be copied
    (:func:`adapter_copy_check`). It imports no framework.
    """

    reranker: Reranker

    def __init__(self, reranker: Any = None, **options: Any) -> None:
        cls = type(self)
        super().__init__(  # type: ignore[call-arg]
            **adapter_fields(cls.__name__, reranker, options, cls.model_fields)  # type: ignore[attr-defined]
        )

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, adapter_field(name, value))

    def __getstate__(self) -> dict[Any, Any]:
        adapter_copy_check(type(self).__name__, self.reranker)
        return super().__getstate__()  # type: ignore[misc,no-any-return]

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        memo = {} if memo is None else memo
        adapter_copy_check(type(self).__name__, self.reranker, memo)
        return super().__deepcopy__(memo)  # type: ignore[misc]
