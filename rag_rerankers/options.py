"""Options: what a config string, a dict or keyword arguments may set on a reranker.

An :class:`Option` is declared once, beside the code that reads it: a backend's own options on
its class (``options``), the options every API or local backend shares on their base classes,
and the ranking controls in :mod:`rag_rerankers.controls.setup`. The registry and the docs read
these declarations; nothing else lists them.

Example:
    >>> Option("k1", "float", 1.5, "BM25 term-frequency saturation.").coerce(2, "bm25")
    2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from rag_rerankers.config import format_value, redact_spec
from rag_rerankers.errors import ConfigError

OptionType = Literal["int", "float", "bool", "str", "list", "object"]


@dataclass(frozen=True)
class Option:
    """One option a backend accepts, from a config string, a dict or keyword arguments.

    Attributes:
        name: the keyword argument (and config-string key).
        type: how a value is checked and converted (:meth:`coerce`).
        default: the constructor's default (a test checks they agree).
        help: one line for ``rag-rerankers backends`` and the config reference.
        nullable: whether ``None`` is accepted.
        env: environment variables read when the option is not given.
        secret: never shown (reprs, the registry's data, cache keys).
        choices: the accepted values, if they are a fixed set.
    """

    name: str
    type: OptionType
    default: Any = None
    help: str = ""
    nullable: bool = True
    env: tuple[str, ...] = ()
    secret: bool = False
    choices: tuple[Any, ...] | None = None

    def coerce(self, value: Any, backend: str, raw: str | None = None) -> Any:
        """Check and convert a value (already typed by the config parser) to this option's type.

        ``raw`` is the text written in a config string: a ``str`` or ``list`` option takes it
        as written (a key ``007123`` or ``1e3``, a word ``Yes``), except ``none``/``null``,
        which means ``None`` for an option with a fixed set of choices that does not include
        ``"none"`` (``stopwords=none``, ``dtype=none``).

        Example:
            >>> Option("api_key", "str").coerce(7123, "cohere", raw="007123")
            '007123'
        """
        if raw is not None and self.type in ("str", "list"):
            nothing = raw.strip().lower() in ("none", "null")
            if nothing and self.choices is not None and "none" not in self.choices:
                value = None
            else:
                value = raw
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"option {self.name!r} of backend {backend!r} cannot be None")
        ok: bool
        if self.type == "object":  # an object given in Python (a model); its backend checks it
            return value
        if self.type == "bool":
            ok = isinstance(value, bool)
        elif self.type == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.type == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
            if ok and not math.isfinite(value):  # "1e999" parses as inf; NaN/inf break scoring
                raise ConfigError(
                    f"option {self.name!r} of backend {backend!r} must be a finite number, "
                    f"got {value!r}"
                )
        elif self.type == "list":  # a list/tuple, or a str the option itself splits
            ok = isinstance(value, (str, list, tuple))
            value = tuple(value) if isinstance(value, list) else value
        else:  # str: the config parser may have typed "1" as 1; take the text back
            if isinstance(value, (bool, int, float)):
                value = format_value(value)
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(
                f"option {self.name!r} of backend {backend!r} must be {self.type}, "
                f"got {type(value).__name__}"
            )
        if self.choices is not None and value not in self.choices:
            # Redacted: a mistyped separator ("keep?api_key=...") puts a key in this value.
            shown = redact_spec(value) if isinstance(value, str) else value
            raise ConfigError(
                f"option {self.name!r} of backend {backend!r} must be one of "
                f"{list(self.choices)}, got {shown!r}"
            )
        return value

    def as_dict(self) -> dict[str, Any]:
        """The option as data (a secret's default is never shown)."""
        return {
            "name": self.name,
            "type": self.type,
            "default": None if self.secret else self.default,
            "help": self.help,
            "env": list(self.env),
            "choices": list(self.choices) if self.choices is not None else None,
        }


TOP_N = Option("top_n", "int", None, "Keep the best N candidates (None keeps all).")
"""The one constructor option every backend takes (declared on :class:`~rag_rerankers.Reranker`)."""
