"""API keys: from the argument, else the environment, held as ``pydantic.SecretStr``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag_rerankers.errors import MissingCredentialsError

if TYPE_CHECKING:
    from pydantic import SecretStr

PLACEHOLDER_KEY = "unused"
"""Sent to keyless self-hosted servers through an SDK that wants a key (``cohere`` at vLLM)."""


def resolve_api_key(
    provider: str, api_key: Any, env_vars: Sequence[str], *, required: bool
) -> SecretStr | None:
    """The key from the argument, else the first set environment variable, as a ``SecretStr``.

    Raises:
        ConfigError: no key anywhere and ``required``; the message names the variable.

    Example:
        >>> import os
        >>> os.environ["DEMO_RERANK_KEY"] = "s3cret"
        >>> resolve_api_key("demo", None, ["DEMO_RERANK_KEY"], required=True)
        SecretStr('**********')
    """
    from pydantic import SecretStr

    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    if api_key:
        return SecretStr(str(api_key))
    for var in env_vars:
        value = os.environ.get(var, "").strip()
        if value:
            return SecretStr(value)
    if required:
        others = f" (or {', '.join(env_vars[1:])})" if len(env_vars) > 1 else ""
        raise MissingCredentialsError(
            f"backend {provider!r} needs an API key: set the environment variable "
            f"{env_vars[0]}{others}, or pass api_key=..."
        )
    return None
