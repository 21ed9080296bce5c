"""``rag-rerankers demo``: the CLI plugin :data:`DEMO` (see :mod:`rag_rerankers.cli`).

Only argparse here: the pipeline (LangChain, FAISS, scikit-learn) is imported when the
command runs, so ``rag-rerankers --help`` stays fast.
"""

from __future__ import annotations

import argparse

from rag_rerankers.cli import Command


def _setup_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reranker",
        default="embedding?offline=true",
        help="config string of the reranker (default: the packaged all-MiniLM-L6-v2, offline)",
    )
    p.add_argument("--query", default=None, help="query id (q01..q16) or text shown before/after (default: q09)")
    p.add_argument("--k", type=int, default=20, help="candidates retrieved by the first stage")
    p.add_argument("--show", type=int, default=5, help="documents shown before and after")


def _demo(args: argparse.Namespace) -> int:
    from rag_rerankers_demo.demo import run_demo

    return run_demo(reranker=args.reranker, query=args.query, k=args.k, show=args.show)


DEMO = Command(
    "a FAISS retriever + reranker over the bundled sample corpus, with nDCG/MRR", _setup_demo, _demo,
    extra="demo",
)
