"""Corpus statistics for the ``bm25`` reranker: document frequencies, document count, length.

BM25 reranking a BM25 first stage's top 100 with statistics of those 100 candidates hurts
(every candidate holds the query terms, so their IDF is near zero; DL19 nDCG@10 drops from
0.5058 to 0.3042). Statistics of a real corpus -- the documents the user indexed -- give the
terms their true weight. :class:`BM25CorpusStats` holds them: fit once, save, reload.

File format (JSON; gzip-compressed when the name ends in ``.gz``), version 1::

    {"format": "rag-rerankers.bm25-corpus-stats", "version": 1,
     "tokenizer": {"library": "bm25s", "unicode": "NFC", "lower": true,
                   "token_pattern": "(?u)\\\\b\\\\w\\\\w+\\\\b", "stopwords": "en", "stemmer": null},
     "n_docs": 4297, "n_tokens": 150000,
     "doc_freqs": {"term": 12, ...}}

``n_tokens`` is the corpus's total token count after stopword removal (the average document
length is ``n_tokens / n_docs``); ``doc_freqs`` maps each term to the number of documents that
contain it. Scores are only meaningful with the tokenizer the statistics were fit with, so the
reranker checks ``tokenizer`` against its own options.

Example:
    >>> stats = BM25CorpusStats.fit(["oil the bicycle chain", "bake bread", "bread and butter"])
    >>> stats.n_docs, stats.doc_freqs["bread"], round(stats.avg_doc_len, 3)
    (3, 2, 2.333)
    >>> stats.idf("bread") < stats.idf("chain")
    True
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from rag_rerankers.errors import ConfigError, InvalidInputError, MissingDependencyError

FORMAT = "rag-rerankers.bm25-corpus-stats"
VERSION = 1
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s's default (scikit-learn's CountVectorizer pattern)
TEXT_FIELDS = ("page_content", "contents", "content", "text")
"""Fields read from JSON-lines records and mappings (BEIR's ``title`` is put before ``text``)."""


# Snowball stemmers of PyStemmer 3 (checked here so a typo is a ConfigError at build time).
STEMMERS: tuple[str, ...] = (
    "arabic", "armenian", "basque", "catalan", "czech", "danish", "dutch", "dutch_porter",
    "english", "esperanto", "estonian", "finnish", "french", "german", "greek", "hindi",
    "hungarian", "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian",
    "persian", "polish", "porter", "portuguese", "romanian", "russian", "serbian", "sesotho",
    "spanish", "swedish", "tamil", "turkish", "yiddish",
)


def make_stemmer(language: str | None) -> Any:
    """A PyStemmer stemmer (``None``: no stemming); a missing PyStemmer names the extra."""
    if language is None:
        return None
    try:
        import Stemmer
    except ImportError as exc:
        raise MissingDependencyError("bm25", "bm25", "PyStemmer",
                                     what=f"stemmer={language!r} of backend 'bm25'") from exc
    return Stemmer.Stemmer(language)


def tokenize(
    texts: list[str], stopwords: str | None, stemmer: str | None = None
) -> list[list[str]]:
    """The tokens the ``bm25`` backend indexes: NFC, lower case, bm25s's pattern, stopwords
    out, then stemmed with PyStemmer's ``stemmer`` (a language) when one is named.

    Example:
        >>> tokenize(["The Bicycle chain!", ""], "en")
        [['bicycle', 'chain'], []]
    """
    import bm25s

    # NFC first: "café" typed precomposed and decomposed (e + U+0301) is one term.
    tokens = bm25s.tokenize(
        [unicodedata.normalize("NFC", t) for t in texts],
        token_pattern=TOKEN_PATTERN,
        stopwords=stopwords,
        # A new stemmer per call: cheap, and never shared between threads.
        stemmer=make_stemmer(stemmer),
        return_ids=False,
        show_progress=False,
    )
    return [[t for t in doc if t] for doc in tokens]


def tokenizer_config(stopwords: str | None, stemmer: str | None = None) -> dict[str, Any]:
    """What the statistics file records about the tokenizer (checked when it is used)."""
    return {"library": "bm25s", "unicode": "NFC", "lower": True, "token_pattern": TOKEN_PATTERN,
            "stopwords": stopwords, "stemmer": stemmer}


# IDF of each BM25 variant, as bm25s computes it (Kamphuis et al., ECIR 2020).
def _idf_robertson(df: float, n: float) -> float:
    return math.log(max(1.0, (n - df + 0.5) / (df + 0.5)))


IDF: dict[str, Callable[[float, float], float]] = {
    "lucene": lambda df, n: math.log(1 + (n - df + 0.5) / (df + 0.5)),
    "robertson": _idf_robertson,
    "atire": lambda df, n: math.log(n / df),
    "bm25l": lambda df, n: math.log((n + 1) / (df + 0.5)),
    "bm25+": lambda df, n: math.log((n + 1) / df),
}


def text_of(item: Any) -> str:
    """The text of one corpus entry: a str, a LangChain ``Document`` (``page_content``), a
    LlamaIndex node or document (``get_content()``), or a mapping with a text field.

    Duck-typed, so the core imports neither framework.

    Example:
        >>> text_of({"title": "Paris", "text": "capital of France"})
        'Paris capital of France'
    """
    if isinstance(item, str):
        return item
    content = getattr(item, "page_content", None)
    if isinstance(content, str):
        return content
    get_content = getattr(item, "get_content", None)
    if callable(get_content):
        text = get_content()
        if isinstance(text, str):
            return text
    if isinstance(item, Mapping):
        if isinstance(item.get("text"), str) and isinstance(item.get("title"), str):
            return " ".join(p for p in (item["title"], item["text"]) if p.strip())
        for name in TEXT_FIELDS:
            if isinstance(item.get(name), str):
                return str(item[name])
    raise InvalidInputError(
        f"cannot read a text from a corpus entry of type {type(item).__name__}: give str, "
        "LangChain Documents, LlamaIndex nodes, or mappings with a 'text' field"
    )


def _open_text(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_corpus(path: str | os.PathLike[str]) -> Iterator[str]:
    """Stream the documents of a corpus file, one text at a time.

    - ``*.jsonl`` (``.jsonl.gz``): one JSON object per line with a ``text``, ``contents``,
      ``content`` or ``page_content`` field (a BEIR ``title`` goes before ``text``), or a
      JSON string;
    - ``*.tsv`` (``.tsv.gz``): ``id<TAB>text`` per line (MS MARCO's ``collection.tsv``);
    - any other file: one document per line;
    - a folder: its ``corpus.jsonl`` (a BEIR dataset).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "corpus.jsonl"
    if not p.is_file():
        raise InvalidInputError(f"corpus file {str(p)!r} not found")
    name = p.name[:-3] if p.name.endswith(".gz") else p.name
    with _open_text(p) as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if name.endswith(".jsonl"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{p}:{number}: not JSON ({exc.msg})") from None
                yield text_of(record)
            elif name.endswith(".tsv"):
                yield line.split("\t", 1)[-1]
            else:
                yield line


@dataclass(frozen=True)
class BM25CorpusStats:
    """Document frequencies, document count and total length of a corpus (see the module docs).

    Build it with :meth:`fit`, keep it with :meth:`save`, reload it with :meth:`load`.
    """

    n_docs: int
    n_tokens: int
    doc_freqs: Mapping[str, int]
    stopwords: str | None = "en"
    stemmer: str | None = None
    fingerprint: str = field(default="", compare=False)
    """A hash of the statistics: part of the reranker's cache identity."""

    def __post_init__(self) -> None:
        if self.n_docs < 1 or self.n_tokens < 1:
            raise InvalidInputError(
                "the corpus is empty or holds no indexable term (all stopwords or symbols?): "
                "BM25 statistics need at least one document with a term"
            )
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", self._hash())

    @property
    def avg_doc_len(self) -> float:
        """Average document length in tokens (BM25's ``avgdl``)."""
        return self.n_tokens / self.n_docs

    def idf(self, term: str, method: str = "lucene") -> float:
        """IDF of a term for a BM25 variant. A term the corpus never saw counts as seen in one
        document: as rare as a known term can be, with every variant's IDF finite."""
        return IDF[method](max(1, self.doc_freqs.get(term, 0)), self.n_docs)

    @classmethod
    def fit(
        cls,
        corpus: str | os.PathLike[str] | Iterable[Any],
        *,
        stopwords: str | None = "en",
        stemmer: str | None = None,
        batch_size: int = 10_000,
    ) -> BM25CorpusStats:
        """Count a corpus: a path (see :func:`read_corpus`) or an iterable of texts, LangChain
        Documents, LlamaIndex nodes or mappings (see :func:`text_of`); streamed in batches.

        Example:
            >>> BM25CorpusStats.fit(["a red apple", "a green pear"]).doc_freqs["apple"]
            1
        """
        if isinstance(corpus, (str, os.PathLike)):
            texts: Iterable[str] = read_corpus(corpus)
        elif isinstance(corpus, Iterable) and not isinstance(corpus, (bytes, Mapping)):
            texts = (text_of(item) for item in corpus)
        else:
            raise InvalidInputError(
                f"corpus must be a path or an iterable of documents, got {type(corpus).__name__}"
            )
        doc_freqs: Counter[str] = Counter()
        n_docs = n_tokens = 0
        it = iter(texts)
        while batch := list(islice(it, batch_size)):
            for tokens in tokenize(batch, stopwords, stemmer):
                doc_freqs.update(set(tokens))
                n_tokens += len(tokens)
            n_docs += len(batch)
        return cls(n_docs=n_docs, n_tokens=n_tokens, doc_freqs=dict(doc_freqs),
                   stopwords=stopwords, stemmer=stemmer)

    def to_dict(self) -> dict[str, Any]:
        """The statistics as the JSON document :meth:`save` writes."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "tokenizer": tokenizer_config(self.stopwords, self.stemmer),
            "n_docs": self.n_docs,
            "n_tokens": self.n_tokens,
            "doc_freqs": dict(sorted(self.doc_freqs.items())),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the statistics as JSON (gzip-compressed when ``path`` ends in ``.gz``)."""
        p = Path(path)
        data = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        if p.suffix == ".gz":
            with gzip.open(p, "wt", encoding="utf-8") as f:
                f.write(data)
        else:
            p.write_text(data, encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BM25CorpusStats:
        """Read statistics written by :meth:`save`; a file that is not one is a ConfigError."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                f"BM25 corpus statistics file {str(p)!r} not found: write one with "
                "BM25CorpusStats.fit(corpus).save(path)"
            )
        try:
            with _open_text(p) as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{p} is not a BM25 corpus statistics file ({exc})") from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Any, source: str = "the data") -> BM25CorpusStats:
        """Check and read the JSON document of :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{source} is not a BM25 corpus statistics file (format {FORMAT!r})")
        version = data.get("version")
        if version != VERSION:
            raise ConfigError(
                f"{source} has statistics format version {version!r}; this rag-rerankers reads "
                f"version {VERSION}: fit the statistics again, or upgrade rag-rerankers"
            )
        tok = data.get("tokenizer", {})
        settable = ("stopwords", "stemmer")
        if not isinstance(tok, dict) or {k: v for k, v in tok.items() if k not in settable} != {
            k: v for k, v in tokenizer_config(None).items() if k not in settable
        }:
            raise ConfigError(f"{source} was fit with another tokenizer ({tok}); fit it again")
        try:
            doc_freqs = {str(t): int(df) for t, df in data["doc_freqs"].items()}
            return cls(n_docs=int(data["n_docs"]), n_tokens=int(data["n_tokens"]),
                       doc_freqs=doc_freqs, stopwords=tok.get("stopwords"),
                       stemmer=tok.get("stemmer"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source} is a damaged BM25 corpus statistics file ({exc!r})") from None

    def _hash(self) -> str:
        payload = json.dumps(
            [self.n_docs, self.n_tokens, self.stopwords, self.stemmer, sorted(self.doc_freqs.items())],
            ensure_ascii=False, separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        return (f"BM25CorpusStats(n_docs={self.n_docs}, terms={len(self.doc_freqs)}, "
                f"avg_doc_len={self.avg_doc_len:.1f}, stopwords={self.stopwords!r}, "
                f"stemmer={self.stemmer!r})")
