"""``rag-rerankers eval`` and ``rag-rerankers compare``: the CLI plugins :data:`EVAL` and
:data:`COMPARE`, declared as entry points of the group ``rag_rerankers.commands`` in
``pyproject.toml`` (see :mod:`rag_rerankers.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag_rerankers.cli import Command
from rag_rerankers.evaluation.metrics import DEFAULT_METRICS


def _dataset_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument(
        "--dataset", required=required,
        help="'sample' (bundled corpus), 'irds:<ir_datasets id>', a candidates .json file, a "
        "BEIR folder, or a folder with a candidates .json and a qrels file",
    )
    p.add_argument("--qrels", help="TREC qrels (or BEIR .tsv) for a candidates .json file")
    p.add_argument("--run", help="TREC run file giving the first stage (BEIR / ir_datasets)")
    p.add_argument(
        "--first-stage", default="bm25",
        help="first stage computed when no run is given: 'bm25' (bm25s) or "
        "'faiss[:<embedding spec>]' (default: bm25)",
    )
    p.add_argument("--depth", type=int, default=None,
                   help="candidates per query (default: 100; 20 for 'sample')")
    p.add_argument("--split", default="test", help="BEIR qrels split (default: test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N queries")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                   help=f"comma-separated metrics (default: {','.join(DEFAULT_METRICS)})")
    p.add_argument("--rel", type=int, default=1,
                   help="minimum grade counted relevant by MRR/Recall/P/MAP (TREC DL: 2)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore per-query results already in the output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _load(args: argparse.Namespace):  # noqa: ANN202 - EvalDataset, imported lazily
    from rag_rerankers.evaluation.readers import load_dataset

    ds = load_dataset(args.dataset, qrels=args.qrels, run=args.run,
                      first_stage=args.first_stage, depth=args.depth, split=args.split)
    return ds.limit(args.limit)


def _inputs(ds, args: argparse.Namespace) -> str | None:  # noqa: ANN001 - EvalDataset
    """Which qrels file the scores rest on, and whether it was picked up implicitly."""
    qrels = ds.stats().get("qrels")
    if qrels is None:
        return None
    if args.qrels is None and "source" in ds.info and Path(ds.info["source"]).suffix == ".json":
        return f"qrels: {qrels} (found beside the candidates; --qrels chooses another)"
    return f"qrels: {qrels}"


def _reused(res, results_path: Path | None) -> str | None:  # noqa: ANN001 - RunResult
    if not res.reused:
        return None
    return (f"resumed {res.label}: reused {res.reused} of {res.n_queries} query results from "
            f"{results_path} (--fresh recomputes them)")


def _console():  # noqa: ANN202 - rich.console.Console, imported lazily
    from rich.console import Console

    # Piped output (files, CI logs) gets a wide table instead of rich's 80-column default.
    return Console() if sys.stdout.isatty() else Console(width=200)


def _metrics(args: argparse.Namespace) -> list[str]:
    return [m.strip() for m in args.metrics.split(",") if m.strip()]


# --------------------------------------------------------------------------- eval
def _setup_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reranker", required=True,
                   help="config string, e.g. 'embedding?offline=true' or 'first-stage'")
    _dataset_args(p)
    p.add_argument("--out", default=None,
                   help="folder for per_query.jsonl (resumable) and eval.json (default: none)")


def _eval(args: argparse.Namespace) -> int:
    from rag_rerankers.evaluation.report import result_table
    from rag_rerankers.evaluation.runner import evaluate

    ds = _load(args)
    out = Path(args.out) if args.out else None
    res = evaluate(
        args.reranker, ds, _metrics(args), rel=args.rel,
        results_path=out / "per_query.jsonl" if out else None,
        resume=not args.fresh, progress=not args.no_progress,
    )
    payload = {"dataset": ds.stats(), **res.to_dict()}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(payload, indent=2) + "\n")
    if args.json:
        payload.pop("per_query")
        print(json.dumps(payload, indent=2))
    else:
        for line in (_inputs(ds, args), _reused(res, out / "per_query.jsonl" if out else None)):
            if line:
                print(line)
        _console().print(result_table(res, ds.stats()))
        for qid, err in res.failures.items():
            print(f"failed: query {qid}: {err}", file=sys.stderr)
        if out is not None:
            print(f"wrote {out / 'eval.json'}")
    return 0


# --------------------------------------------------------------------------- compare
def _setup_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("rerankers", nargs="+",
                   help="config strings; the first-stage order is always added as the baseline")
    _dataset_args(p, required=False)
    p.add_argument("--queries", help="instead of --dataset: your questions (.txt, one per "
                   "line; .jsonl of {id, text}; or .tsv id<TAB>text), judged with --judge")
    p.add_argument("--docs", help="with --queries: a folder of documents or a .jsonl of "
                   "{id, text}, chunked and searched by --first-stage")
    p.add_argument("--judge", help="grade the pooled results with an LLM instead of qrels: "
                   "'llm:<provider>:<model>', e.g. llm:openai:gpt-4.1-mini (UMBRELA prompt)")
    p.add_argument("--judge-depth", type=int, default=10,
                   help="pool the top N of every run for judging (default: 10)")
    p.add_argument("--judge-cache", default=None,
                   help="judgements cache (default: OUT/judgements.jsonl); share it between "
                   "runs so that only new pairs are paid for")
    p.add_argument("--out", default="rerank-results",
                   help="folder for per_query.jsonl, compare.json/.csv and plots "
                   "(default: rerank-results)")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")


def _compare(args: argparse.Namespace) -> int:
    from rag_rerankers.evaluation.compare import compare
    from rag_rerankers.evaluation.report import comparison_table

    ds = _load_for_compare(args)
    cmp = compare(
        args.rerankers, ds, _metrics(args), rel=args.rel, out_dir=args.out,
        resume=not args.fresh, progress=not args.no_progress, plots=not args.no_plots,
        judge=args.judge, judge_depth=args.judge_depth, judge_cache=args.judge_cache,
    )
    if args.json:
        print(json.dumps(cmp.to_dict(include_per_query=False), indent=2, default=str))
    else:
        jsonl = Path(args.out) / "per_query.jsonl"
        for line in (_inputs(ds, args), *(_reused(r, jsonl) for r in cmp.results)):
            if line:
                print(line)
        _console().print(comparison_table(cmp))
        metric = cmp.significance_metric
        print(f"{metric} diff (p): mean per-query {metric} minus the first-stage order's "
              "(negative: worse), with the p-value of a paired t-test")
        for label, err in cmp.errors.items():
            print(f"not evaluated: {label}: {err}", file=sys.stderr)
        for r in cmp.results:
            for qid, err in r.failures.items():
                print(f"failed: {r.label}: query {qid}: {err}", file=sys.stderr)
        if cmp.judging is not None:
            j = cmp.judging
            cost = "unknown" if j["cost_usd"] is None else f"${j['cost_usd']:.4f}"
            print(f"judged by {j['judge']}: {j['pairs']} pooled pairs (top {j['depth']}), "
                  f"{j['judged']} graded now, {j['cached']} from the cache, {j['invalid']} "
                  f"invalid and {j['failed']} failed (counted not relevant); tokens "
                  f"{j['input_tokens']} in / {j['output_tokens']} out; cost {cost}")
        for kind, path in cmp.files.items():
            print(f"wrote {kind}: {path}")
    return 1 if cmp.errors else 0


def _load_for_compare(args: argparse.Namespace):  # noqa: ANN202 - EvalDataset
    from rag_rerankers.errors import ConfigError

    if args.queries is None and args.docs is None:
        if args.dataset is None:
            raise ConfigError("give --dataset, or --queries and --docs (with --judge)")
        return _load(args)
    if args.dataset is not None or args.queries is None or args.docs is None:
        raise ConfigError("use either --dataset, or --queries together with --docs")
    if args.judge is None:
        raise ConfigError("questions without relevance labels need a judge: add --judge "
                          "llm:<provider>:<model>")
    from rag_rerankers.evaluation.corpus import corpus_of, load_chunks
    from rag_rerankers.evaluation.readers import read_queries, with_first_stage

    corpus = corpus_of(load_chunks(args.docs))
    queries = read_queries(args.queries)
    ds = with_first_stage(name=Path(args.queries).stem, queries=queries, corpus=corpus,
                          qrels={q: {} for q in queries}, run=None, first_stage=args.first_stage,
                          depth=args.depth or 100, info={"source": args.docs})
    return ds.limit(args.limit)


EVAL = Command("evaluate one reranker: nDCG/MRR/Recall/P/MAP, latency and cost", _setup_eval, _eval,
               extra="eval")
COMPARE = Command(
    "compare rerankers on the same candidates: table, JSON, CSV, plots, significance vs the "
    "first stage",
    _setup_compare,
    _compare,
    extra="eval",
)
