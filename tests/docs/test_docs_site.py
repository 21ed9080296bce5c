"""The documentation site: strict mkdocs build, generated config reference, runnable examples.

- the site builds with ``mkdocs build --strict`` (broken links, pages missing from the nav,
  bad API-reference docstrings all fail);
- the config-string reference is generated from the registry at build time and lists every
  backend, alias, default model, option, environment variable and extra;
- the Python examples of the guides run as written (offline), page by page;
- every config string quoted in the docs or the README names a registered backend and options;
- the README's backends table is the registry's.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag_rerankers.config import parse_spec
from rag_rerankers.factory import validate_spec
from rag_rerankers.registry import list_backends

try:  # the ranking controls, when this checkout has them
    from rag_rerankers.registry import CONTROL_OPTION_NAMES
except ImportError:  # pragma: no cover
    CONTROL_OPTION_NAMES = frozenset()

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# Pages whose ```python blocks are executed in order, in one namespace per page.
# A block right after a line `<!-- docs-test: skip (why) -->` is not run.
RUN_PAGES = ["index.md", "langchain.md", "llamaindex.md", "migration.md", "scaling.md", "serving.md",
             "contributing.md", "llm-rerankers.md"]
SKIP_MARK = re.compile(r"^<!-- docs-test: skip\b.*-->$")


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "tools" / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(line number, code, skipped)`` of every top-level ```python fence in a Markdown page."""
    blocks: list[tuple[int, str, bool]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if re.match(r"^```(python|py)\b", lines[i]):
            start = i
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
            blocks.append((start + 1, "\n".join(lines[start + 1 : j]), bool(SKIP_MARK.match(previous.strip()))))
            i = j + 1
        else:
            i += 1
    return blocks


def test_python_blocks_parser() -> None:
    page = "x\n```python\na = 1\n```\n\n<!-- docs-test: skip (no key) -->\n```python\nboom\n```\n```bash\nls\n```\n"
    assert python_blocks(page) == [(2, "a = 1", False), (7, "boom", True)]


# --------------------------------------------------------------------------- the build
@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (site / "reference" / "config-strings" / "index.html").read_text("utf-8")
    # Built-in backends only: tests elsewhere in this process may register fakes.
    from rag_rerankers.registry import shipped_backends

    for info in shipped_backends():
        assert f'id="{info.name}"' in page
    api = (site / "reference" / "rag_rerankers" / "index.html").read_text("utf-8")
    assert 'id="rag_rerankers.init_reranker"' in api
    # Doctest examples are rendered as code, not as prose with Markdown links.
    assert "&gt;&gt;&gt;" in api
    for adapter, name in [("langchain_rerankers", "RerankCompressor"), ("llamaindex_rerankers", "RerankPostprocessor")]:
        html = (site / "reference" / adapter / "index.html").read_text("utf-8")
        assert f'id="{adapter}.{name}"' in html


def test_every_docs_page_is_in_the_nav() -> None:
    # mkdocs' own check (validation.nav.omitted_files: warn + --strict) covers this in the
    # build; this fast version names the page directly.
    import yaml

    def entries(nav: Any) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [page for item in nav for page in entries(item)]
        if isinstance(nav, dict):
            return [page for value in nav.values() for page in entries(value)]
        return []

    config = yaml.load((ROOT / "mkdocs.yml").read_text("utf-8"), Loader=yaml.BaseLoader)
    in_nav = set(entries(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - in_nav == set(), "add these pages to the nav in mkdocs.yml"
    generated = {_hooks().CONFIG_REFERENCE}
    assert in_nav - pages - generated == set(), "nav entries without a page"


# --------------------------------------------------------------------------- config reference
def test_config_reference_lists_the_whole_registry() -> None:
    page = _hooks().render_config_reference()
    backends = list_backends()
    assert backends
    controls = page.split("## Ranking controls", 1)[1].split("\n## ", 1)[0] if CONTROL_OPTION_NAMES else ""
    for b in backends:
        assert f"## `{b['name']}`" in page
        assert b["install"] in page
        if b["default_model"]:
            assert f"`{b['default_model']}`" in page
        for alias in b["aliases"]:
            assert f"| `{alias}` | `{b['name']}` |" in page
        section = page.split(f"## `{b['name']}`", 1)[1].split("\n## ", 1)[0]
        for option in b["options"]:
            # Ranking controls (accepted by every backend) have one table of their own.
            where = controls if option["name"] in CONTROL_OPTION_NAMES else section
            assert f"| `{option['name']}` | {option['type']} |" in where
            for env in option["env"]:
                assert f"`{env}`" in section
                assert f"| `{env}` | [`{b['name']}`]" in page


def test_config_reference_examples_are_valid_config_strings() -> None:
    hooks = _hooks()
    for b in list_backends():
        example = hooks._example(b)
        info, _, options = validate_spec(parse_spec(example))
        assert info.name == b["name"] and options["top_n"] == 5


def test_declared_examples_build_as_written(monkeypatch) -> None:
    """A backend's declared example (required options such as base_url) builds, no network."""
    from rag_rerankers import MissingDependencyError, init_reranker

    monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-test")
    declared = [b for b in list_backends() if b["example"]]
    assert {"vllm", "tei", "infinity", "llama-cpp", "localai", "llm"} <= {b["name"] for b in declared}
    for b in declared:
        assert _hooks()._example(b) == b["example"]
        try:
            reranker = init_reranker(b["example"])
        except MissingDependencyError as exc:  # a provider package this machine lacks
            assert "pip install" in str(exc)
            continue
        assert reranker.backend == b["name"] and reranker.top_n == 5


def test_config_reference_escapes_table_cells() -> None:
    fake = {
        "name": "x", "aliases": ["y"], "alias_models": {"y": "m2"}, "default_model": "m",
        "kind": "api", "extra": "x", "install": 'pip install "rag-rerankers[x]"',
        "score_type": "relevance", "description": "a | b", "docs_url": None,
        "options": [{"name": "api_key", "type": "str", "default": None, "help": "key | secret",
                     "env": ["X_API_KEY", "X_KEY"], "choices": None}],
    }
    page = _hooks().render_config_reference([fake], controls=frozenset())
    assert "key \\| secret" in page
    assert "| `X_KEY` | [`x`](#x) | `api_key` |" in page
    assert "| `y` | `x` | `m2` |" in page


# --------------------------------------------------------------------------- examples
def run_page(path: Path) -> None:
    """Execute a page's ``python`` blocks in order, in one namespace (what the test runs)."""
    blocks = [(line, code) for line, code, skipped in python_blocks(path.read_text("utf-8")) if not skipped]
    assert blocks, f"{path.name} has no runnable example"
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem}"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{path}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name}, block at line {line} failed: {exc!r}") from exc


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_python_examples_run(page: str, tmp_path: Path) -> None:
    # A fresh interpreter per page: examples set environment variables, LlamaIndex Settings
    # and event handlers, which must not leak into other tests.
    env = {k: v for k, v in os.environ.items() if k != "RERANKER"}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, __file__, str(DOCS / page)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


# --------------------------------------------------------------------------- config strings
_SPEC_PATTERNS = [
    re.compile(r"init_(?:reranker|compressor|postprocessor)\(\s*\"([^\"]+)\""),
    re.compile(r"reranker=\"([^\"]+)\""),
    re.compile(r"--reranker[ =]\"?([a-z][\w:/.?=&%-]*)"),
    re.compile(r"RERANKER\"?\]? ?= ?\"([^\"]+)\""),
]


def config_strings(text: str) -> list[str]:
    """Config strings quoted in code; a line saying it ``raises ConfigError`` is left out."""
    return [
        m.group(1)
        for line in text.splitlines()
        if "raises ConfigError" not in line
        for pattern in _SPEC_PATTERNS
        for m in pattern.finditer(line)
    ]


def test_config_strings_finder() -> None:
    text = 'init_reranker("bm25?top_n=3")\nRerankCompressor(reranker="embedding", top_n=3)\n' \
           'os.environ["RERANKER"] = "bm25?k1=1.2"\ndemo --reranker bm25\n' \
           'init_reranker("bm25?k=3")  # raises ConfigError'
    assert config_strings(text) == ["bm25?top_n=3", "embedding", "bm25?k1=1.2", "bm25"]


def test_config_strings_in_docs_are_valid() -> None:
    files = [*DOCS.rglob("*.md"), ROOT / "README.md"]
    checked = 0
    problems: list[str] = []
    for path in files:
        for spec in config_strings(path.read_text("utf-8")):
            for part in spec.split("|"):  # a fallback chain 'a | b' names several rerankers
                try:
                    validate_spec(parse_spec(part.strip()))
                except Exception as exc:
                    problems.append(f"{path.relative_to(ROOT)}: config string {spec!r}: {exc}")
                checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 10


# --------------------------------------------------------------------------- README
def test_readme_backends_table_is_current() -> None:
    """The README's table is the registry's (regenerate: rag-rerankers backends --markdown)."""
    from rag_rerankers.registry import backends_markdown

    readme = (ROOT / "README.md").read_text("utf-8")
    start = readme.index("<!-- backends-table:start -->\n") + len("<!-- backends-table:start -->\n")
    end = readme.index("<!-- backends-table:end -->")
    assert readme[start:end].strip() == backends_markdown()


if __name__ == "__main__":  # run one page's examples: python tests/docs/test_docs_site.py docs/index.md
    for argument in sys.argv[1:]:
        run_page(Path(argument).resolve())
