"""BM25 as a reranker on TREC DL19: candidate statistics vs corpus statistics, and RRF.

Reranks the BM25 top 100 of each DL19 query (../shared/data/trec-dl19/, see its README) and
prints nDCG@10 (ir-measures, through rag_rerankers.evaluation) for:

- the first stage (BM25 order as given, Pyserini);
- ``bm25`` with the candidates' own statistics (the default);
- ``bm25`` with corpus statistics fit on the union of all candidate lists (4,297 passages);
- the same with the average document length taken from each candidate list instead of the
  corpus (the choice the backend does not make; measured here to show why);
- ``fusion=rrf``: RRF of the first stage's order with bm25 on corpus statistics.

each with bm25s's defaults (k1=1.5, b=0.75, no stemming) and with Pyserini's first-stage
settings (k1=0.9, b=0.4, Snowball English stemming). Two optional hybrid cases:

- ``--sample``: the bundled sample corpus (89 passages, 16 queries) with a real dense first
  stage (exact search over all-MiniLM-L6-v2 embeddings, top 20) and with a bm25s first stage,
  each reranked by bm25 alone and fused by RRF (about a minute);
- ``--dense``: DL19's candidates reordered by all-MiniLM-L6-v2 (``embedding?offline=true``),
  then fused with bm25 (4,300 passages through the model: half an hour on 2 busy cores).

Usage:
    python benchmarks/bm25_corpus_stats.py [--sample] [--dense]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from rag_rerankers.backends.bm25 import BM25Reranker  # noqa: E402
from rag_rerankers.backends.bm25_stats import BM25CorpusStats, tokenize  # noqa: E402
from rag_rerankers.evaluation import EvalDataset, evaluate, load_dataset, sample_dataset  # noqa: E402
from rag_rerankers.sample import load_sample  # noqa: E402

DATA = next(
    (base / "shared" / "data" / "trec-dl19" for base in (ROOT.parent, ROOT.parent.parent)
     if (base / "shared" / "data" / "trec-dl19").is_dir()),
    None,
)
SETTINGS = {
    "bm25s defaults (k1=1.5, b=0.75)": {},
    "Pyserini's (k1=0.9, b=0.4, stemmer=english)": {"k1": 0.9, "b": 0.4, "stemmer": "english"},
}


class CandidateLengthBM25(BM25Reranker):
    """Corpus IDF, but the average length of each candidate list (for comparison only)."""

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        assert self.stats is not None
        tokens = sum(len(t) for t in tokenize(list(documents), self.stopwords, self.stemmer))
        local = BM25CorpusStats(
            n_docs=self.stats.n_docs, doc_freqs=self.stats.doc_freqs,
            n_tokens=max(1, round(tokens / len(documents) * self.stats.n_docs)),
            stopwords=self.stopwords, stemmer=self.stemmer,
        )
        return self._score_with_stats(query, documents, local)


def ndcg(reranker: object, dataset: EvalDataset) -> float:
    return evaluate(reranker, dataset, ["nDCG@10"], progress=False, warmup=False).metrics["nDCG@10"]


def reordered(dataset: EvalDataset, spec: str) -> tuple[EvalDataset, float]:
    """The dataset with each candidate list in ``spec``'s order (a dense "first stage")."""
    res = evaluate(spec, dataset, ["nDCG@10"], progress=True)
    by_id = {q: {c.docid: c for c in dataset.candidates[q]} for q in dataset.candidates}
    candidates = {q: [by_id[q][d] for d in res.rankings[q]] for q in res.rankings}
    return EvalDataset(name=f"{dataset.name}-{spec}", queries=dataset.queries,
                       candidates=candidates, qrels=dataset.qrels, first_stage=spec), \
        res.metrics["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true",
                        help="also the sample corpus with a dense and a bm25s first stage")
    parser.add_argument("--dense", action="store_true",
                        help="also DL19 reordered by all-MiniLM-L6-v2 (slow)")
    args = parser.parse_args()
    if DATA is None:
        sys.exit("TREC DL19 not found: expected ../shared/data/trec-dl19/ beside the checkout")
    dl19 = load_dataset(DATA)
    union = list({c.docid: c.text for q in dl19.candidates for c in dl19.candidates[q]}.values())
    print(f"TREC DL19 passage: {len(dl19.evaluated_qids)} queries, BM25 top 100; corpus "
          f"statistics from the union of the candidate lists ({len(union)} passages)\n")
    print(f"{'nDCG@10':>8}  run")
    print(f"{ndcg('first-stage', dl19):8.4f}  first stage (BM25 order as given)")
    fitted: dict[str, BM25Reranker] = {}
    for label, options in SETTINGS.items():
        start = time.perf_counter()
        stats = BM25CorpusStats.fit(union, stemmer=options.get("stemmer"))
        fit_s = time.perf_counter() - start
        fitted[label] = BM25Reranker(corpus_stats=stats, **options)
        print(f"-- bm25 with {label}; fitting the statistics took {fit_s:.2f} s")
        print(f"{ndcg(BM25Reranker(**options), dl19):8.4f}  bm25, candidates' own statistics")
        print(f"{ndcg(fitted[label], dl19):8.4f}  bm25, corpus statistics (IDF and avgdl)")
        print(f"{ndcg(CandidateLengthBM25(corpus_stats=stats, **options), dl19):8.4f}  "
              "bm25, corpus IDF but each candidate list's avgdl")
        rrf = BM25Reranker(corpus_stats=stats, **options).configure(fusion="rrf")
        print(f"{ndcg(rrf, dl19):8.4f}  RRF(first stage, bm25 corpus statistics), rrf_k=60")
        own_rrf = BM25Reranker(**options).configure(fusion="rrf")
        print(f"{ndcg(own_rrf, dl19):8.4f}  RRF(first stage, bm25 candidates' statistics)")
    if args.sample:
        sample_corpus = [d.content for d in load_sample().documents]
        for first in ("faiss:embedding?offline=true", "bm25"):
            ds = sample_dataset(first_stage=first, depth=20)
            print(f"-- bundled sample corpus ({len(sample_corpus)} passages, "
                  f"{len(ds.evaluated_qids)} queries), first stage {first!r}, top 20")
            print(f"{ndcg('first-stage', ds):8.4f}  first stage alone")
            for label, options in SETTINGS.items():
                stats = BM25CorpusStats.fit(sample_corpus, stemmer=options.get("stemmer"))
                print(f"{ndcg(BM25Reranker(**options), ds):8.4f}  bm25, candidates' statistics, "
                      f"{label}")
                print(f"{ndcg(BM25Reranker(corpus_stats=stats, **options), ds):8.4f}  bm25, corpus "
                      f"statistics, {label}")
                fused = BM25Reranker(corpus_stats=stats, **options).configure(fusion="rrf")
                print(f"{ndcg(fused, ds):8.4f}  RRF(first stage, bm25 corpus statistics), {label}")
    if args.dense:
        dense, dense_ndcg = reordered(dl19, "embedding?offline=true&batch_size=64")
        print("-- a dense order (all-MiniLM-L6-v2 over the BM25 top 100) as the first stage")
        print(f"{dense_ndcg:8.4f}  dense order alone")
        for label, options in SETTINGS.items():
            print(f"{ndcg(BM25Reranker(**options).configure(fusion='rrf'), dense):8.4f}  "
                  f"RRF(dense, bm25 candidates' statistics), {label}")
            print(f"{ndcg(fitted[label].configure(fusion='rrf'), dense):8.4f}  "
                  f"RRF(dense, bm25 corpus statistics), {label}")


if __name__ == "__main__":
    main()
