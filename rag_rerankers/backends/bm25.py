"""``bm25``: Okapi BM25 scores of the candidates (via the maintained ``bm25s`` library).

Without corpus statistics, the index is built over the candidate list itself, so IDF reflects
the candidates. That is fine after a dense first stage, but it hurts after a BM25 first stage:
every candidate then holds the query terms and their IDF collapses (TREC DL19: nDCG@10 0.5058
to 0.3042). Give the backend statistics of the corpus the user indexed
(:class:`~rag_rerankers.backends.bm25_stats.BM25CorpusStats`: ``corpus_stats=path`` in a
config string, or :meth:`BM25Reranker.fit`) and IDF and the average document length come from
that corpus instead. No model, no download.

Example:
    >>> from rag_rerankers import init_reranker
    >>> rr = init_reranker("bm25")
    >>> [i.index for i in rr.rank("bicycle chain", ["baking bread", "oil the bicycle chain"])]
    [1, 0]
    >>> rr = BM25Reranker.fit(["baking bread", "bread rolls", "oil the bicycle chain"])
    >>> [i.index for i in rr.rank("bread chain", ["bread", "chain"])]  # 'chain' is rarer
    [1, 0]
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rag_rerankers.backends.bm25_stats import STEMMERS, BM25CorpusStats, make_stemmer, tokenize
from rag_rerankers.base import Reranker
from rag_rerankers.errors import ConfigError
from rag_rerankers.options import Option
from rag_rerankers.registry import BackendInfo
from rag_rerankers.types import ScoreType

# Stopword lists bm25s knows (checked here so a typo is a ConfigError when the reranker is
# built, not a ValueError from bm25s at the first query).
STOPWORDS: tuple[str, ...] = (
    "en", "english", "en_plus", "english_plus", "de", "german", "nl", "dutch", "fr", "french",
    "es", "spanish", "pt", "portuguese", "it", "italian", "ru", "russian", "sv", "swedish",
    "no", "norwegian", "zh", "chinese", "tr", "turkish", "ko", "korean", "da", "danish",
)
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
DELTA = 0.5  # bm25s's default delta of BM25L and BM25+


class BM25Reranker(Reranker):
    """BM25 over the candidates, with corpus statistics when given. Options: ``k1``, ``b``,
    ``method``, ``stopwords``, ``stemmer``, ``corpus_stats``."""

    backend = "bm25"
    kind = "lexical"
    score_type = ScoreType.UNBOUNDED
    independent_scores = False  # IDF comes from the candidate list itself (without corpus stats)
    options = (
        Option("k1", "float", 1.5, "BM25 term-frequency saturation.", nullable=False),
        Option("b", "float", 0.75, "BM25 length normalization.", nullable=False),
        Option("method", "str", "lucene", "BM25 variant.", nullable=False, choices=METHODS),
        Option("stopwords", "str", "en", "Stopword list ('en', ..., or none to keep all).",
               choices=STOPWORDS),
        Option("stemmer", "str", None,
               "Snowball stemmer language (PyStemmer), e.g. 'english'; none by default.",
               choices=STEMMERS),
        Option("corpus_stats", "str", None,
               "Corpus statistics file (BM25CorpusStats.save) for IDF and average length; "
               "default: the candidates' own."),
    )

    def __init__(
        self,
        *,
        top_n: int | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        stopwords: str | None = "en",
        stemmer: str | None = None,
        corpus_stats: str | os.PathLike[str] | BM25CorpusStats | None = None,
    ) -> None:
        super().__init__(model=None, top_n=top_n)
        self.k1 = k1
        self.b = b
        self.method = method
        self.stopwords = stopwords
        self.stemmer = stemmer
        make_stemmer(stemmer)  # a missing PyStemmer fails here, not at the first query
        stats = corpus_stats
        if stats is not None and not isinstance(stats, BM25CorpusStats):
            stats = BM25CorpusStats.load(stats)
        for name, mine in (("stopwords", stopwords), ("stemmer", stemmer)):
            theirs = None if stats is None else getattr(stats, name)
            if stats is not None and theirs != mine:
                raise ConfigError(
                    f"the corpus statistics were fit with {name}={theirs!r} but the reranker "
                    f"uses {name}={mine!r}: set {name}={theirs!r}, or fit the statistics with "
                    f"{name}={mine!r}"
                )
        self.stats: BM25CorpusStats | None = stats
        # The cache identity reads this option: the statistics' hash, never a mutable path.
        self.corpus_stats = None if stats is None else f"sha256:{stats.fingerprint}"
        if stats is not None:
            # Corpus IDF and avgdl: a document's score no longer depends on the other candidates.
            self.independent_scores = True

    @classmethod
    def fit(
        cls,
        corpus: str | os.PathLike[str] | Iterable[Any],
        *,
        stopwords: str | None = "en",
        stemmer: str | None = None,
        **options: Any,
    ) -> BM25Reranker:
        """A reranker with statistics of ``corpus`` (see :meth:`BM25CorpusStats.fit`).

        Example:
            >>> BM25Reranker.fit(["a red apple", "a green pear"], k1=1.2).stats.n_docs
            2
        """
        stats = BM25CorpusStats.fit(corpus, stopwords=stopwords, stemmer=stemmer)
        return cls(stopwords=stopwords, stemmer=stemmer, corpus_stats=stats, **options)

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        if self.stats is not None:
            return self._score_with_stats(query, documents, self.stats)
        import bm25s

        corpus_tokens = tokenize(list(documents), self.stopwords, self.stemmer)
        query_tokens = tokenize([query], self.stopwords, self.stemmer)[0]
        # Terms absent from the candidates carry no signal (and bm25s rejects unknown tokens);
        # candidates with no indexable term at all (empty, only stopwords or symbols) score 0.
        vocab = {t for doc in corpus_tokens for t in doc}
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return [0.0] * len(documents)
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        retriever.index(corpus_tokens, show_progress=False)
        return [float(s) for s in retriever.get_scores(known)]

    def _score_with_stats(
        self, query: str, documents: Sequence[str], stats: BM25CorpusStats
    ) -> list[float]:
        """BM25 with IDF and avgdl from the corpus; the same formulas as bm25s (which cannot
        take outside statistics), checked against it by the tests."""
        query_tokens = tokenize([query], self.stopwords, self.stemmer)[0]
        if not query_tokens:
            return [0.0] * len(documents)
        idf = {t: stats.idf(t, self.method) for t in set(query_tokens)}
        avgdl = stats.avg_doc_len
        k1, b, method = self.k1, self.b, self.method
        # BM25L/BM25+ give an absent term the score of tf=0 at average length (as bm25s does).
        absent = {t: idf[t] * _tfc(0, avgdl, avgdl, k1, b, method) for t in idf}
        scores = []
        for tokens in tokenize(list(documents), self.stopwords, self.stemmer):
            tf, dl = Counter(tokens), len(tokens)
            scores.append(float(sum(
                idf[t] * _tfc(tf[t], dl, avgdl, k1, b, method) if tf[t] else absent[t]
                for t in query_tokens
            )))
        return scores


def _tfc(tf: float, dl: float, avgdl: float, k1: float, b: float, method: str) -> float:
    """The term-frequency component of each BM25 variant (bm25s's formulas)."""
    norm = 1 - b + b * dl / avgdl
    if method in ("lucene", "robertson"):
        return tf / (k1 * norm + tf)
    if method == "atire":
        return tf * (k1 + 1) / (tf + k1 * norm)
    if method == "bm25l":
        c = tf / norm
        return (k1 + 1) * (c + DELTA) / (k1 + c + DELTA)
    return (k1 + 1) * tf / (k1 * norm + tf) + DELTA  # bm25+


BACKEND = BackendInfo(
    BM25Reranker,
    "Okapi BM25 (bm25s) over the candidates, or with statistics of your corpus; no model.",
    requires=(("bm25s", "bm25s"),),
)
