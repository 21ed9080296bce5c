"""The ``rag-rerankers`` command line.

The core defines one command, ``backends``. Every other subcommand is a plugin: a
:class:`Command` named by an entry point of the group ``rag_rerankers.commands``
(:data:`ENTRY_POINT_GROUP`), the entry point's name being the command's name. This project
declares ``eval`` and ``compare`` (:mod:`rag_rerankers.evaluation.cli`), ``download``
(:mod:`rag_rerankers.download`) and ``demo`` in its ``pyproject.toml``; another package adds a command the same way::

    [project.entry-points."rag_rerankers.commands"]
    hello = "my_package.cli:HELLO"   # HELLO = Command(help, setup, handler)

The core never names a plugin's module. A plugin module must import quickly: keep heavy
imports inside the handler, so ``rag-rerankers --help`` stays fast.

Running from a source checkout (the package imported from a folder whose ``pyproject.toml``
is this project's, e.g. ``PYTHONPATH=.`` or an editable install made before a command was
added), the commands are read from that ``pyproject.toml`` instead of the installed
metadata of ``rag-rerankers``, which may be missing or stale; other packages' entry points are
still used. This needs ``tomllib`` (Python 3.11+) or ``tomli``; without either, only the
installed metadata counts.

Example:
    >>> main(["backends", "--json"])  # doctest: +ELLIPSIS
    [...
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rag_rerankers import __version__
from rag_rerankers.errors import MissingCredentialsError, MissingDependencyError, RerankerError

Handler = Callable[[argparse.Namespace], int]
Setup = Callable[[argparse.ArgumentParser], None]

ENTRY_POINT_GROUP = "rag_rerankers.commands"
"""The entry point group of CLI subcommands; each entry point names a :class:`Command`."""

DISTRIBUTION = "rag-rerankers"


@dataclass(frozen=True)
class Command:
    """One subcommand: ``setup`` adds its arguments to its parser, ``handler`` runs it and
    returns the exit code. A :class:`~rag_rerankers.errors.RerankerError` it raises is printed
    in one line: exit code 1 when something cannot be built here (a missing extra, key or
    server URL), 2 otherwise (a bad dataset, spec or option)."""

    help: str
    setup: Setup
    handler: Handler
    extra: str | None = None
    """The extra whose packages the handler imports (``eval``, ``demo``): a missing one is
    reported as the ``pip install`` that brings it, in one line."""


COMMANDS: dict[str, Command] = {}
"""The core's own commands, by name (plugins are added by :func:`load_commands`)."""


def command(name: str, help: str, setup: Setup) -> Callable[[Handler], Handler]:
    """Register a core subcommand: ``setup`` adds its arguments, the decorated function runs it."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(help, setup, handler)
        return handler

    return register


# --------------------------------------------------------------------------- backends
def _setup_backends(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the registry as JSON")
    p.add_argument("--markdown", action="store_true", help="print the table used in the README")


@command("backends", "list every backend, its aliases, default model, extra and options", _setup_backends)
def _backends(args: argparse.Namespace) -> int:
    from rag_rerankers.registry import list_backends

    backends = list_backends()
    if args.markdown:
        from rag_rerankers.registry import backends_markdown

        print(backends_markdown())
        return 0
    if args.json:
        print(json.dumps(backends, indent=2))
        return 0
    for b in backends:
        aliases = f" (aliases: {', '.join(b['aliases'])})" if b["aliases"] else ""
        print(f"{b['name']}{aliases} [{b['kind']}]  default model: {b['default_model'] or '-'}")
        print(f"    {b['description']}")
        print(f"    install: {b['install']}")
        print(f"    options: {', '.join(o['name'] for o in b['options'])}")
    return 0


# --------------------------------------------------------------------------- plugins
def _source_tree_commands() -> dict[str, str] | None:
    """``{name: "module:attr"}`` from the ``pyproject.toml`` next to this package when it is
    imported from a source checkout of this project, else ``None``."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return None
    try:
        project = tomllib.loads(pyproject.read_text("utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != DISTRIBUTION:
        return None
    return dict(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def command_entry_points() -> Iterator[metadata.EntryPoint]:
    """The entry points of :data:`ENTRY_POINT_GROUP`: the installed ones, with this project's
    own read from its ``pyproject.toml`` instead when running from a source checkout."""
    source = _source_tree_commands()
    if source is not None:
        for name, value in source.items():
            yield metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if source is not None and dist is not None and _normalized(dist.name) == DISTRIBUTION:
            continue  # this project's installed metadata, superseded by the source tree's
        yield ep


def load_commands() -> dict[str, Command]:
    """The core's commands followed by every plugin's, by name (installers do not keep the
    declaration order). A plugin whose module is gone (stale metadata) is skipped; any other
    import error is raised. A name already taken is ignored."""
    commands = dict(COMMANDS)
    for ep in sorted(command_entry_points(), key=lambda ep: ep.name):
        if ep.name in commands:
            continue
        module = ep.value.partition(":")[0].strip()
        try:
            plugin = ep.load()
        except ModuleNotFoundError as exc:
            # Only "this plugin is absent" is fine; a missing dependency inside it is not.
            if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
                raise
            continue
        if not isinstance(plugin, Command):
            raise TypeError(
                f"entry point {ep.name!r} of {ENTRY_POINT_GROUP!r} ({ep.value}) is a "
                f"{type(plugin).__name__}, not a rag_rerankers.cli.Command"
            )
        commands[ep.name] = plugin
    return commands


def build_parser(commands: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    commands = load_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="rag-rerankers", description="Rerankers for RAG pipelines, chosen by a config string."
    )
    parser.add_argument("--version", action="version", version=f"rag-rerankers {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cmd in commands.items():
        cmd.setup(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rag-rerankers`` console script."""
    commands = load_commands()
    args = build_parser(commands).parse_args(argv)
    command = commands[args.command]
    try:
        return command.handler(args)
    except (MissingDependencyError, MissingCredentialsError) as exc:
        # A reranker (or the command) cannot be built here: exit 1, as for a run with errors.
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except RerankerError as exc:  # a bad dataset, spec or option: exit 2
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if command.extra is None or not exc.name:
            raise
        missing = MissingDependencyError(args.command, command.extra, exc.name,
                                         what=f"the {args.command!r} command")
        print(f"error: MissingDependencyError: {missing}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's main, so that plugins see the same rag_rerankers.cli (its
    # Command class) as this __main__ copy's callers would.
    from rag_rerankers.cli import main as _main

    sys.exit(_main())
