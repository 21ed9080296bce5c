"""``rag-rerankers dataset generate``: a labelled set from a folder of documents (the CLI
plugin :data:`DATASET`; see :mod:`rag_rerankers.evaluation.generate`)."""

from __future__ import annotations

import argparse
import json
import sys

from rag_rerankers.cli import Command


def _setup(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    g = sub.add_parser("generate", help="questions an LLM writes about your documents, with "
                       "their source chunk as the relevant passage (a BEIR folder)")
    g.add_argument("--docs", required=True,
                   help="a folder of .txt/.md/.html/.pdf files, or a .jsonl file of {id, text}")
    g.add_argument("--llm", required=True,
                   help="chat model as 'provider:model', e.g. openai:gpt-4.1-mini (LangChain's "
                   "init_chat_model; the provider's key from its usual environment variable)")
    g.add_argument("--questions", type=int, default=200, help="questions in all (default: 200)")
    g.add_argument("--per-chunk", type=int, default=1, help="questions per sampled chunk")
    g.add_argument("--out", required=True, help="output folder (resumed if it has a run)")
    g.add_argument("--seed", type=int, default=0, help="seed of the chunk sample (default: 0)")
    g.add_argument("--chunk-size", type=int, default=1000,
                   help="characters per chunk (default: 1000)")
    g.add_argument("--chunk-overlap", type=int, default=100, help="default: 100")
    g.add_argument("--min-chars", type=int, default=200,
                   help="shorter chunks are never asked about (default: 200)")
    g.add_argument("--concurrency", type=int, default=4,
                   help="LLM calls in flight at once (default: 4)")
    g.add_argument("--fresh", action="store_true", help="do not resume an earlier run")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--json", action="store_true", help="print the report as JSON")


def _run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rag_rerankers.evaluation.corpus import load_chunks, splitter_name
    from rag_rerankers.evaluation.generate import generate_dataset

    chunks = load_chunks(args.docs, chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    report = generate_dataset(
        chunks, args.llm, args.out, questions=args.questions,
        questions_per_chunk=args.per_chunk, seed=args.seed, min_chars=args.min_chars,
        resume=not args.fresh, progress=not args.no_progress, concurrency=args.concurrency,
        settings={"docs": args.docs, "chunk_size": args.chunk_size,
                  "chunk_overlap": args.chunk_overlap, "splitter": splitter_name()},
    )
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(report.summary())
        print(f"wrote {args.out} (use it as: rag-rerankers compare ... --dataset {args.out})")
    if report.failed:
        print(f"{report.failed} chunks failed; run the same command again to retry them",
              file=sys.stderr)
        return 1
    return 0


DATASET = Command("build evaluation data: 'dataset generate' writes questions and qrels for "
                  "your documents with an LLM", _setup, _run, extra="datagen")
