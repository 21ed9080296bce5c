"""Griffe extension for the API reference: render ``Example:`` doctest sections as code.

The code base writes Google-style ``Example:`` (singular) sections holding doctests, which
griffe would render as a prose admonition (so ``[1, 0]`` looked like a Markdown link).
``Examples:`` is griffe's section for doctests; rename before the docstring is parsed.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_SINGULAR = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class DoctestExamples(Extension):
    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and ">>>" in docstring.value:
            docstring.value = _SINGULAR.sub(r"\1Examples:", docstring.value)
