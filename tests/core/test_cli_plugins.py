"""CLI subcommands as plugins: entry points of the group ``rag_rerankers.commands``.

Discovery is checked against dist-info folders written into a temporary directory, never
against the metadata installed in the environment (which may belong to another checkout).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

from rag_rerankers.cli import COMMANDS, ENTRY_POINT_GROUP, Command, load_commands

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]

# The subcommands this project declares in pyproject.toml (besides the core's `backends`).
SHIPPED_COMMANDS = {"compare", "dataset", "demo", "download", "eval", "serve"}

PLUGIN = '''
from rag_rerankers.cli import Command


def _setup(p):
    p.add_argument("--name", default="world")

def _hello(args):
    print(f"hello {args.name}")
    return 0

HELLO = Command("say hello (a test plugin)", _setup, _hello)
NOT_A_COMMAND = 42
'''


def _dist_info(folder: Path, name: str, entry_points: dict[str, str]) -> None:
    info = folder / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


def _cli(*args: str, path: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(map(str, path))}
    return subprocess.run(
        [sys.executable, "-m", "rag_rerankers.cli", *args], capture_output=True, text=True,
        env=env, cwd=cwd, timeout=120,
    )


def _listed(help_text: str) -> set[str]:
    match = re.search(r"\{([\w,-]+)\}", help_text)
    assert match, help_text
    return set(match.group(1).split(","))


def test_pyproject_declares_the_commands_as_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = project["entry-points"][ENTRY_POINT_GROUP]
    assert set(declared) == SHIPPED_COMMANDS
    for name, value in declared.items():
        ep = metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
        assert isinstance(ep.load(), Command), name
    # from this checkout the CLI has them whatever the installed metadata says
    assert list(load_commands()) == ["backends", *sorted(SHIPPED_COMMANDS)]
    assert list(COMMANDS) == ["backends"]  # the core itself defines only `backends`


def test_the_core_never_names_a_plugin_or_an_adapter() -> None:
    for path in (ROOT / "rag_rerankers").rglob("*.py"):
        text = path.read_text("utf-8")
        for name in ("rag_rerankers_demo", "langchain_rerankers", "llamaindex_rerankers"):
            assert name not in text, f"{path.relative_to(ROOT)} names {name}"


def test_installed_plugin_adds_a_command(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello_plugin.py").write_text(PLUGIN)
    _dist_info(site, "hello-plugin", {"hello": "hello_plugin:HELLO"})
    path = [site, ROOT]
    listed = _cli("--help", path=path, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert {"backends", "demo", "eval", "compare", "hello"} <= _listed(listed.stdout)
    run = _cli("hello", "--name", "plugins", path=path, cwd=tmp_path)
    assert (run.returncode, run.stdout) == (0, "hello plugins\n"), run.stderr


def test_plugin_that_is_not_a_command_is_an_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello_plugin.py").write_text(PLUGIN)
    _dist_info(site, "hello-plugin", {"bad": "hello_plugin:NOT_A_COMMAND"})
    run = _cli("backends", path=[site, ROOT], cwd=tmp_path)
    assert run.returncode != 0
    assert "not a rag_rerankers.cli.Command" in run.stderr


def test_uninstalled_plugin_is_skipped_but_its_broken_import_is_not(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _dist_info(site, "gone-plugin", {"gone": "gone_plugin.cli:GONE"})
    run = _cli("--help", path=[site, ROOT], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "gone" not in _listed(run.stdout)

    (site / "broken_plugin.py").write_text("import no_such_dependency_xyz\n")
    _dist_info(site, "broken-plugin", {"broken": "broken_plugin:X"})
    run = _cli("--help", path=[site, ROOT], cwd=tmp_path)
    assert run.returncode != 0 and "no_such_dependency_xyz" in run.stderr


def test_source_checkout_supersedes_stale_metadata_of_this_project(tmp_path: Path) -> None:
    # An editable install made before the commands moved: its entry points name modules that
    # no longer exist. The checkout's pyproject.toml is what counts.
    site = tmp_path / "site"
    _dist_info(site, "rag-rerankers", {"eval": "old_module:EVAL", "stale": "old_module:STALE"})
    run = _cli("--help", path=[site, ROOT], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert _listed(run.stdout) == {"backends", *SHIPPED_COMMANDS}


def test_installed_package_uses_its_metadata_only(tmp_path: Path) -> None:
    # The package imported from a folder without this project's pyproject.toml (a wheel
    # install): only the installed entry points count.
    site = tmp_path / "site"
    shutil.copytree(ROOT / "rag_rerankers", site / "rag_rerankers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _dist_info(site, "rag-rerankers", {
        "eval": "rag_rerankers.evaluation.cli:EVAL",
        "compare": "rag_rerankers.evaluation.cli:COMPARE",
    })
    run = _cli("--help", path=[site], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert _listed(run.stdout) == {"backends", "eval", "compare"}  # no demo declared here


@pytest.mark.parametrize("command", ["demo", "download", "eval", "compare", "serve", "dataset"])
def test_plugin_modules_import_nothing_heavy(command: str) -> None:
    code = (
        "import json, sys\n"
        "from rag_rerankers.cli import load_commands\n"
        f"assert {command!r} in load_commands()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    heavy = {"langchain_core", "langchain_classic", "llama_index", "torch", "faiss", "sklearn",
             "matplotlib", "scipy", "ir_measures", "rich", "fastapi", "uvicorn", "ray"}
    assert not heavy & loaded
