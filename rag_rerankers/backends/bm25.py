"""``bm25``: Okapi BM25 scores of the candidates (via the maintained ``bm25s`` library).

The index is built over the candidate list itself, so IDF reflects the candidates: that is
what a reranking stage sees. No model, no download; a useful lexical baseline and first stage.

Example:
    >>> from rag_rerankers import init_reranker
    >>> rr = init_reranker("bm25")
    >>> [i.index for i in rr.rank("bicycle chain", ["baking bread", "oil the bicycle chain"])]
    [1, 0]
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from rag_rerankers.base import Reranker
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


class BM25Reranker(Reranker):
    """BM25 over the candidates. Options: ``k1``, ``b``, ``method``, ``stopwords``."""

    backend = "bm25"
    kind = "lexical"
    score_type = ScoreType.UNBOUNDED
    independent_scores = False  # IDF comes from the candidate list itself
    options = (
        Option("k1", "float", 1.5, "BM25 term-frequency saturation.", nullable=False),
        Option("b", "float", 0.75, "BM25 length normalization.", nullable=False),
        Option("method", "str", "lucene", "BM25 variant.", nullable=False, choices=METHODS),
        Option("stopwords", "str", "en", "Stopword list ('en', ..., or none to keep all).",
               choices=STOPWORDS),
    )

    def __init__(
        self,
        *,
        top_n: int | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        stopwords: str | None = "en",
    ) -> None:
        super().__init__(model=None, top_n=top_n)
        self.k1 = k1
        self.b = b
        self.method = method
        self.stopwords = stopwords

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        import bm25s

        # NFC first: "café" typed precomposed and decomposed (e + U+0301) is one term.
        corpus_tokens = bm25s.tokenize(
            [unicodedata.normalize("NFC", d) for d in documents],
            stopwords=self.stopwords,
            show_progress=False,
        )
        query_tokens = bm25s.tokenize(
            unicodedata.normalize("NFC", query),
            stopwords=self.stopwords,
            show_progress=False,
            return_ids=False,
        )[0]
        # Terms absent from the candidates carry no signal (and bm25s rejects unknown tokens);
        # candidates with no indexable term at all (empty, only stopwords or symbols) score 0.
        vocab = corpus_tokens.vocab
        known = [t for t in query_tokens if t and t in vocab]
        if not known:
            return [0.0] * len(documents)
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        retriever.index(corpus_tokens, show_progress=False)
        return [float(s) for s in retriever.get_scores(known)]


BACKEND = BackendInfo(
    BM25Reranker,
    "Okapi BM25 over the candidate set (bm25s); no model, no download.",
    requires=(("bm25s", "bm25s"),),
)
