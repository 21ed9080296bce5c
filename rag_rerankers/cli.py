"""The ``rag-rerankers`` command line.

Subcommands register themselves in :data:`COMMANDS` through :func:`command`; each module
keeps its heavy imports inside its handler so ``rag-rerankers --help`` stays fast.

Example:
    >>> main(["backends", "--json"])  # doctest: +ELLIPSIS
    [...
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from rag_rerankers import __version__
from rag_rerankers.errors import RerankerError

Handler = Callable[[argparse.Namespace], int]
Setup = Callable[[argparse.ArgumentParser], None]
COMMANDS: dict[str, tuple[str, Setup, Handler]] = {}


def command(name: str, help: str, setup: Setup) -> Callable[[Handler], Handler]:
    """Register a subcommand: ``setup`` adds its arguments, the decorated function runs it."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (help, setup, handler)
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


# --------------------------------------------------------------------------- demo
def _setup_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reranker",
        default="embedding?offline=true",
        help="config string of the reranker (default: the packaged all-MiniLM-L6-v2, offline)",
    )
    p.add_argument("--query", default=None, help="query id (q01..q16) or text shown before/after (default: q09)")
    p.add_argument("--k", type=int, default=20, help="candidates retrieved by the first stage")
    p.add_argument("--show", type=int, default=5, help="documents shown before and after")


@command("demo", "a FAISS retriever + reranker over the bundled sample corpus, with nDCG/MRR", _setup_demo)
def _demo(args: argparse.Namespace) -> int:
    from langchain_rerankers.demo import run_demo

    return run_demo(reranker=args.reranker, query=args.query, k=args.k, show=args.show)


def _load_plugins() -> None:
    # Subcommands that live in other modules of the core register on import.
    import importlib

    for module in ("rag_rerankers.evaluation.cli",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # Only "this plugin is absent" is fine; a missing dependency inside it is not.
            if exc.name is None or not module.startswith(exc.name):
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(
        prog="rag-rerankers", description="Rerankers for RAG pipelines, chosen by a config string."
    )
    parser.add_argument("--version", action="version", version=f"rag-rerankers {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, setup, _) in COMMANDS.items():
        setup(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rag-rerankers`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except RerankerError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's main: plugins register their commands in rag_rerankers.cli,
    # not in this __main__ copy of it.
    from rag_rerankers.cli import main as _main

    sys.exit(_main())
