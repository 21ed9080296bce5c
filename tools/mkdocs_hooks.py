"""mkdocs hooks: pages generated from the code at build time, so they are never stale.

``reference/config-strings.md`` is rendered from :func:`rag_rerankers.list_backends` (every
backend, alias, default model, option, environment variable and extra). Run this file to
print the page: ``python tools/mkdocs_hooks.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG_REFERENCE = "reference/config-strings.md"


def _import_registry() -> Any:
    # The docs describe the checkout they are built from, installed or not.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from rag_rerankers import registry

    return registry


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    """A default as it is written in a config string (``none``, ``true``, ``0.75``...)."""
    from rag_rerankers.config import format_value

    if value == "":
        return '`""`'
    return f"`{format_value(value)}`"


def _example(backend: dict[str, Any]) -> str:
    """The backend's declared example, else a config string that sets its first own option to
    its default."""
    if backend.get("example"):
        return str(backend["example"])
    own = [o for o in backend["options"] if o["name"] != "top_n" and o["default"] not in (None, "")]
    text = backend["name"]
    if backend["default_model"]:
        text += f":{backend['default_model']}"
    query = ["top_n=5"] + ([f"{own[0]['name']}={_value(own[0]['default']).strip('`')}"] if own else [])
    return f"{text}?{'&'.join(query)}"


def _option_row(o: dict[str, Any]) -> str:
    choices = f" One of: {', '.join(f'`{c}`' for c in o['choices'])}." if o["choices"] else ""
    env = ", ".join(f"`{e}`" for e in o["env"]) or "–"
    return (
        f"| `{o['name']}` | {o['type']} | {_value(o['default'])} | {env} | "
        f"{_cell(o['help'])}{_cell(choices)} |"
    )


def render_config_reference(
    backends: list[dict[str, Any]] | None = None, controls: frozenset[str] | None = None
) -> str:
    """The config-string reference page, as Markdown, from the registry.

    ``controls``: names of the ranking controls every backend accepts; they get one table of
    their own instead of a copy in every backend's table.
    """
    if backends is None:
        backends = _import_registry().list_backends()
    if controls is None:
        controls = frozenset(getattr(_import_registry(), "CONTROL_OPTION_NAMES", frozenset()))
    out: list[str] = [
        "# Config-string reference",
        "",
        "<!-- Generated at build time by tools/mkdocs_hooks.py from "
        "rag_rerankers.list_backends(); do not edit. -->",
        "",
        "A reranker is named by one string: `backend[:model][?key=value&key=value]`.",
        "",
        "- `backend` is a name or alias from the tables below; nothing is guessed from the model name.",
        "- `model` (optional) is everything between the first `:` and the `?`: a hub id, a local "
        "folder or a provider's model name. Without it the backend's default model is used.",
        "- options are typed: `5` is an int, `0.5` a float, `true`/`false` a bool, `none` is "
        "`None`; anything else is a string. Write `&` or `=` inside a value as `%26` / `%3D`.",
        "- the same options work as a dict (`{\"backend\": \"bm25\", \"k1\": 1.2}`) or as keyword "
        "arguments (`init_reranker(\"bm25\", k1=1.2)`; keyword arguments win).",
        "- `reranker_from_env()` reads a config string from the `RERANKER` environment variable.",
        "- an unknown backend or option raises `ConfigError` listing the valid ones; a backend "
        "whose extra is missing raises `MissingDependencyError` with the `pip install` that fixes it.",
        "",
        "The command `rag-rerankers backends` (or `--json`) prints the same registry.",
        "",
        "## Backends",
        "",
        "| backend | aliases | kind | default model | scores | install |",
        "|---|---|---|---|---|---|",
    ]
    for b in backends:
        aliases = ", ".join(f"`{a}`" for a in b["aliases"]) or "–"
        model = f"`{b['default_model']}`" if b["default_model"] else "–"
        out.append(
            f"| [`{b['name']}`](#{b['name']}) | {aliases} | {b['kind']} | {model} | "
            f"{b['score_type']} | `{_cell(b['install'])}` |"
        )
    out += [
        "",
        "## Every name",
        "",
        "| name in a config string | backend | default model for this name |",
        "|---|---|---|",
    ]
    names: list[tuple[str, str, str | None]] = []
    for b in backends:
        names.append((b["name"], b["name"], b["default_model"]))
        for alias in b["aliases"]:
            names.append((alias, b["name"], b["alias_models"].get(alias, b["default_model"])))
    for name, backend, model in sorted(names):
        out.append(f"| `{name}` | `{backend}` | {f'`{model}`' if model else '–'} |")

    env_rows: list[tuple[str, str, str]] = []
    for b in backends:
        out += [
            "",
            f"## `{b['name']}` {{#{b['name']}}}",
            "",
            _cell(b["description"]),
            "",
            f"- kind: {b['kind']}; scores: {b['score_type']}",
            f"- install: `{b['install']}` (extra `{b['extra']}`)",
            "- default model: "
            + (f"`{b['default_model']}`" if b["default_model"] else "none (no model)"),
        ]
        if b["aliases"]:
            parts = []
            for alias in b["aliases"]:
                model = b["alias_models"].get(alias)
                parts.append(f"`{alias}`" + (f" (default model `{model}`)" if model else ""))
            out.append(f"- aliases: {', '.join(parts)}")
        if b.get("docs_url"):
            out.append(f"- upstream docs: <{b['docs_url']}>")
        out += [
            f"- example: `{_example(b)}`",
            "",
            "| option | type | default | environment | description |",
            "|---|---|---|---|---|",
        ]
        for o in b["options"]:
            if o["name"] in controls:
                continue
            for e in o["env"]:
                env_rows.append((e, b["name"], o["name"]))
            out.append(_option_row(o))
        if controls:
            out += ["", "Plus the [ranking controls](#ranking-controls)."]
    control_rows = {}
    for b in backends:
        for o in b["options"]:
            if o["name"] in controls:
                control_rows.setdefault(o["name"], o)
    if control_rows:
        out += [
            "",
            "## Ranking controls {#ranking-controls}",
            "",
            "Every backend accepts these options too; they are applied by the core, the same way "
            "for every backend and adapter. See the [ranking controls guide](../ranking-controls.md).",
            "",
            "| option | type | default | environment | description |",
            "|---|---|---|---|---|",
        ]
        out += [_option_row(o) for o in control_rows.values()]
    out += ["", "## Environment variables", ""]
    out.append(
        "`RERANKER`: a config string read by `reranker_from_env()`. An option's environment "
        "variables are read, in the order listed, when the option is not given."
    )
    if env_rows:
        out += ["", "| variable | backend | option |", "|---|---|---|"]
        for env, backend, option in env_rows:
            out.append(f"| `{env}` | [`{backend}`](#{backend}) | `{option}` |")
    return "\n".join(out) + "\n"


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the generated pages to the site."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, CONFIG_REFERENCE, content=render_config_reference()))
    return files


if __name__ == "__main__":
    sys.stdout.write(render_config_reference())
