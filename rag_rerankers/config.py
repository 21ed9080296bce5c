"""Config strings: ``backend[:model][?key=value&key=value]``.

Parsing is pure (no registry, no imports); :mod:`rag_rerankers.factory` checks the parsed
spec against the registry.

Example:
    >>> parse_spec("cohere:rerank-v3.5?top_n=5&max_tokens_per_doc=512")
    Spec(backend='cohere', model='rerank-v3.5', options={'top_n': 5, 'max_tokens_per_doc': 512})
    >>> format_spec(parse_spec("bm25?top_n=3"))
    'bm25?top_n=3'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus

from rag_rerankers.errors import ConfigError

_BACKEND_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_OPTION_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_NONE = {"none", "null"}
# Option names whose values are never shown: a word of the name (split at anything that is not a
# letter or digit) that contains key/secret/passw/auth/credential, or ends in "token"
# ("api_key", "apikey", "client_secret", "access_token", "auth_header"; not
# "max_tokens_per_doc").
_SECRET_WORD_RE = re.compile(r"key|secret|passw|pwd|auth|credential|token$")
_WORD_SPLIT_RE = re.compile(r"[^a-z0-9]+")
# One ``name=value`` of a config string: the name starts after ``?``, ``&``, ``|`` or at the
# start, the value runs to the next ``&`` or ``|`` (as the parser and the chain splitter read it).
_OPTION_TEXT_RE = re.compile(r"(^|[?&|])([^=&?|]*)=([^&|]*)")
_MAX_NESTING = 16  # deeper nested values are hidden whole
_QUOTE_SAFE = "/:,.-_~*"


def is_secret_option(name: str) -> bool:
    """Whether an option name looks like it holds a secret (its value is never shown).

    The name is percent-decoded first, as the parser reads it.

    Example:
        >>> [is_secret_option(n) for n in ["api_key", "access_token", "max_tokens_per_doc"]]
        [True, True, False]
    """
    words = _WORD_SPLIT_RE.split(unquote_plus(name).lower())
    return any(_SECRET_WORD_RE.search(word) for word in words if word)


def replace_secrets(spec: str, replace: Callable[[str], str]) -> str:
    """``spec`` with the value of every secret-looking option replaced by ``replace(value)``.

    ``replace`` receives the percent-decoded value. Values of other options are decoded and
    searched too, at any depth, since a value can itself be a percent-encoded config string or
    chain (``fallbacks=jina%3Fapi_key%3D...``); a value that held a secret is written back
    percent-encoded. The whole text is searched, not only what follows ``?``: a malformed
    string (``"cohere api_key=..."``) is quoted in error messages too.
    """
    return _replace_secrets(spec, replace, 0)


def _replace_secrets(text: str, replace: Callable[[str], str], depth: int) -> str:
    def option(match: re.Match[str]) -> str:
        sep, name, written = match.groups()
        value = written.rstrip()
        trail = written[len(value):]  # the spaces before a chain's " | " stay as they are
        if is_secret_option(name) or depth >= _MAX_NESTING:  # too deep to read: hide it whole
            return f"{sep}{name}={replace(unquote_plus(value))}{trail}"
        decoded = unquote_plus(value)
        if decoded == value:  # nothing encoded: the options in it are read as written
            return f"{sep}{name}={_replace_secrets(value, replace, depth + 1)}{trail}"
        inner = _replace_secrets(decoded, replace, depth + 1)
        if inner == decoded:
            return match.group(0)
        return f"{sep}{name}={quote(inner, safe=_QUOTE_SAFE)}{trail}"

    return _OPTION_TEXT_RE.sub(option, text)


def redact_spec(spec: str) -> str:
    """A config string safe to show: values of secret-looking options hidden (``***``).

    Secret-looking names: see :func:`is_secret_option`. Options inside percent-encoded values
    (``fallbacks=jina%3Fapi_key%3D...``), nested to any depth, and every segment of an
    ``a | b`` chain are redacted too.

    Example:
        >>> redact_spec("cohere?api_key=sk-123&top_n=3")
        'cohere?api_key=***&top_n=3'
        >>> redact_spec("bm25?fallbacks=jina%3Fapi_key%3Dsk-123 | cohere?token=sk-456")
        'bm25?fallbacks=jina%3Fapi_key%3D*** | cohere?token=***'
    """
    return replace_secrets(spec, lambda _value: "***")


@dataclass(frozen=True)
class Spec:
    """A parsed config string: backend name, optional model, and options.

    ``options`` holds values typed by :func:`parse_value`; ``raw`` the text of each option as
    written in the string, which a text option receives unchanged (``api_key=007123`` stays
    ``"007123"``, not the number 7123).
    """

    backend: str
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


def parse_value(text: str) -> Any:
    """Type a config-string value: int, float, bool, None, else the string itself.

    Example:
        >>> [parse_value(v) for v in ["5", "0.5", "true", "None", "cuda:0"]]
        [5, 0.5, True, None, 'cuda:0']
    """
    low = text.strip().lower()
    if _INT_RE.match(low):
        return int(low)
    if _FLOAT_RE.match(low):
        return float(low)
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    if low in _NONE:
        return None
    return text


def format_value(value: Any) -> str:
    """The inverse of :func:`parse_value` for values it can produce."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"option values must be finite numbers, got {value!r}")
        return repr(value)
    return str(value)


def parse_spec(spec: str) -> Spec:
    """Parse ``backend[:model][?key=value&...]`` into a :class:`Spec`.

    The model is everything between the first ``:`` and the ``?``, so hub names
    (``BAAI/bge-reranker-v2-m3``) and folders (``/models/my-ce``) work as they are.
    Values are percent-decoded, so ``&`` or ``=`` inside a value can be written ``%26``/``%3D``;
    a ``+`` stays a ``+`` (keys hold it), not a space.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"a config string must be a str, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise ConfigError(
            "empty config string: write backend[:model][?key=value], e.g. 'bm25' or "
            "'cohere:rerank-v3.5?top_n=5'"
        )
    shown = redact_spec(spec)  # error messages quote this, never the key itself
    if "|" in text:
        raise ConfigError(
            f"{shown!r} is a fallback chain ('a | b'): build it with init_reranker, which "
            "splits it; parse_spec reads one reranker"
        )
    head, sep, query = text.partition("?")
    backend, colon, model = head.partition(":")
    backend = backend.strip().lower()
    if not _BACKEND_RE.match(backend):
        raise ConfigError(
            f"malformed config string {shown!r}: the backend name {redact_spec(backend)!r} must "
            "be letters, digits, '-' or '_' (write backend[:model][?key=value&...])"
        )
    model_name: str | None = model.strip() if colon else None
    if colon and not model_name:
        raise ConfigError(
            f"malformed config string {shown!r}: nothing after ':' (drop the ':' to use the "
            "default model)"
        )
    options: dict[str, Any] = {}
    raw: dict[str, str] = {}
    if sep:
        if not query.strip():
            raise ConfigError(f"malformed config string {shown!r}: nothing after '?'")
        try:
            # "+" is a character here (keys hold it), not a form-encoded space.
            pairs = parse_qsl(query.replace("+", "%2B"), keep_blank_values=True,
                              strict_parsing=True)
        except ValueError:
            raise ConfigError(
                f"malformed options in {shown!r}: write key=value pairs joined by '&'"
            ) from None
        for key, value in pairs:
            key = key.strip()
            if not _OPTION_RE.match(key):
                raise ConfigError(f"malformed option name {key!r} in {shown!r}")
            if key in options:
                raise ConfigError(f"option {key!r} is given twice in {shown!r}")
            if key == "model":
                raise ConfigError(
                    f"give the model after ':' (backend:model), not as ?model= in {shown!r}"
                )
            options[key] = parse_value(value)
            raw[key] = value
    return Spec(backend=backend, model=model_name, options=options, raw=raw)


def format_spec(spec: Spec) -> str:
    """Write a :class:`Spec` back as a config string (``parse_spec`` reads it back equal)."""
    text = spec.backend
    if spec.model is not None:
        text += f":{spec.model}"
    if spec.options:
        text += "?" + "&".join(
            f"{key}={quote(format_value(value), safe='/:,.-_~')}"
            for key, value in spec.options.items()
        )
    return text


def spec_from_mapping(mapping: Mapping[str, Any]) -> Spec:
    """Read ``{"backend": ..., "model": ..., **options}`` into a :class:`Spec`."""
    data = dict(mapping)
    backend = data.pop("backend", None)
    if not isinstance(backend, str) or not backend.strip():
        raise ConfigError(
            f"a reranker dict needs a 'backend' key with a backend name, got keys {sorted(mapping)}"
        )
    model = data.pop("model", None)
    if model is not None and not isinstance(model, str):
        raise ConfigError(f"'model' must be a str, got {type(model).__name__}")
    for key in data:
        if not isinstance(key, str) or not _OPTION_RE.match(key):
            raise ConfigError(f"malformed option name {key!r}")
    return Spec(backend=backend.strip().lower(), model=model, options=data)
