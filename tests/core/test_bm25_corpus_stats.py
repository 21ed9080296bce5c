"""bm25 with corpus statistics: fitting, saving, loading, the config string, scores."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from rag_rerankers import ConfigError, InvalidInputError, init_reranker
from rag_rerankers.backends.bm25 import METHODS, BM25Reranker
from rag_rerankers.backends.bm25_stats import BM25CorpusStats, read_corpus

CORPUS = [
    "Oil the bicycle chain every month.",
    "A bicycle tyre needs the right pressure.",
    "Bake the bread at 200 degrees.",
    "Bread, butter and jam for breakfast.",
    "The chain of shops sells bread.",
    "Bicycles and more bicycles in Amsterdam.",
]


def test_fit_counts_documents_terms_and_length() -> None:
    stats = BM25CorpusStats.fit(CORPUS)
    assert stats.n_docs == 6
    # stopwords out ("the", "a", "and", "for", "of", "in", "more"?): count by hand from tokens
    assert stats.doc_freqs["bicycle"] == 2 and stats.doc_freqs["bread"] == 3
    assert stats.doc_freqs["chain"] == 2 and "the" not in stats.doc_freqs
    assert stats.avg_doc_len == pytest.approx(stats.n_tokens / 6)
    # Lucene IDF by hand: log(1 + (N - df + .5) / (df + .5))
    assert stats.idf("bread") == pytest.approx(math.log(1 + 3.5 / 3.5))
    assert stats.idf("bicycle") == pytest.approx(math.log(1 + 4.5 / 2.5))


def test_unseen_terms_count_as_seen_once() -> None:
    stats = BM25CorpusStats.fit(CORPUS)
    for method in METHODS:
        assert stats.idf("zeppelin", method) == stats.idf("amsterdam", method)  # df 1
        assert math.isfinite(stats.idf("zeppelin", method))
    # A candidate term the corpus never saw still counts, as the rarest term would.
    rr = BM25Reranker(corpus_stats=stats)
    scores = rr.score("zeppelin bicycle", ["a zeppelin", "a bicycle", "nothing"])
    assert scores[0] > scores[1] > scores[2] == 0.0


@pytest.mark.parametrize("corpus", [[], ["", "   "], ["the of a", "and"]])
def test_empty_corpus_is_a_clear_error(corpus: list[str]) -> None:
    with pytest.raises(InvalidInputError, match="corpus is empty or holds no indexable term"):
        BM25CorpusStats.fit(corpus)


def test_bad_corpus_entries_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="cannot read a text from a corpus entry of type int"):
        BM25CorpusStats.fit(["fine", 3])
    with pytest.raises(InvalidInputError, match="corpus must be a path or an iterable"):
        BM25CorpusStats.fit(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["stats.json", "stats.json.gz"])
def test_save_load_round_trip(tmp_path, name: str) -> None:
    stats = BM25CorpusStats.fit(CORPUS, stopwords=None, stemmer="english")
    path = stats.save(tmp_path / name)
    back = BM25CorpusStats.load(path)
    assert back == stats and back.fingerprint == stats.fingerprint
    assert back.stopwords is None and back.stemmer == "english"
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    assert data["format"] == "rag-rerankers.bm25-corpus-stats" and data["version"] == 1
    assert data["tokenizer"]["stemmer"] == "english" and data["n_docs"] == 6
    assert data["doc_freqs"]["bicycl"] == 3  # stemmed: bicycle, bicycles


def test_load_rejects_other_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found: write one with"):
        BM25CorpusStats.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ConfigError, match="not a BM25 corpus statistics file"):
        BM25CorpusStats.load(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="not a BM25 corpus statistics file"):
        BM25CorpusStats.load(tmp_path / "broken.json")
    data = BM25CorpusStats.fit(CORPUS).to_dict()
    (tmp_path / "future.json").write_text(json.dumps({**data, "version": 2}))
    with pytest.raises(ConfigError, match="version 2.*reads version 1"):
        BM25CorpusStats.load(tmp_path / "future.json")
    tok = {**data["tokenizer"], "lower": False}
    (tmp_path / "tok.json").write_text(json.dumps({**data, "tokenizer": tok}))
    with pytest.raises(ConfigError, match="another tokenizer"):
        BM25CorpusStats.load(tmp_path / "tok.json")
    (tmp_path / "damaged.json").write_text(json.dumps({**data, "n_docs": "many"}))
    with pytest.raises(ConfigError, match="damaged"):
        BM25CorpusStats.load(tmp_path / "damaged.json")


@pytest.mark.parametrize("method", METHODS)
def test_corpus_stats_of_the_candidates_equal_bm25s_own_scores(method: str) -> None:
    """Fit on the candidates themselves, the hand-written scoring equals bm25s's index."""
    query = "bicycle chain bread bicycle"  # a repeated term counts twice in both
    own = BM25Reranker(method=method, k1=1.2, b=0.6)
    with_stats = BM25Reranker(method=method, k1=1.2, b=0.6,
                              corpus_stats=BM25CorpusStats.fit(CORPUS))
    assert own.stats is None and not own.independent_scores and with_stats.independent_scores
    expected = own.score(query, CORPUS)
    assert with_stats.score(query, CORPUS) == pytest.approx(expected, rel=1e-5)
    assert len(set(expected)) > 3


def test_corpus_stats_fix_the_bm25_first_stage_problem() -> None:
    """Every candidate holds 'bicycle' (as after a BM25 first stage): the candidates' own IDF
    of 'bicycle' is tiny, so 'chain' decides; in the corpus 'bicycle' is the rare term."""
    corpus = ["bicycle repair"] + [f"chain store number {i}" for i in range(20)]
    candidates = ["bicycle chain", "bicycle bicycle", "bicycle bicycle bicycle"]
    query = "bicycle bicycle chain"
    assert [i.index for i in BM25Reranker().rank(query, candidates)][0] == 0
    fitted = BM25Reranker.fit(corpus)
    assert [i.index for i in fitted.rank(query, candidates)][0] == 2


def test_config_string_loads_the_statistics(tmp_path) -> None:
    path = BM25CorpusStats.fit(CORPUS, stemmer="english").save(tmp_path / "stats.json")
    rr = init_reranker(f"bm25?corpus_stats={path}&stemmer=english&k1=0.9&b=0.4")
    assert isinstance(rr, BM25Reranker) and rr.stats is not None and rr.stats.n_docs == 6
    assert rr.corpus_stats == f"sha256:{rr.stats.fingerprint}"
    direct = BM25Reranker(corpus_stats=BM25CorpusStats.load(path), stemmer="english", k1=0.9, b=0.4)
    docs = ["bicycles for sale", "bread for sale"]
    assert rr.score("bicycle", docs) == direct.score("bicycle", docs)
    assert rr.score("bicycle", docs)[0] > 0  # stemmed: 'bicycles' matches 'bicycle'
    with pytest.raises(ConfigError, match="stemmer='english' but the reranker uses stemmer=None"):
        init_reranker(f"bm25?corpus_stats={path}")
    with pytest.raises(ConfigError, match="stopwords='en' but the reranker uses stopwords=None"):
        init_reranker(f"bm25?corpus_stats={path}&stemmer=english&stopwords=none")
    with pytest.raises(ConfigError, match="not found"):
        init_reranker(f"bm25?corpus_stats={tmp_path / 'nope.json'}")
    with pytest.raises(ConfigError, match="stemmer"):
        init_reranker("bm25?stemmer=klingon")


def test_cache_keys_tell_statistics_apart() -> None:
    """Candidate-statistics and corpus-statistics scores never share cache entries; with
    corpus statistics scores are per document, so a partly cached list scores only misses."""
    from rag_rerankers.controls.cache import identity

    a, b = BM25Reranker(), BM25Reranker.fit(CORPUS)
    c = BM25Reranker.fit(CORPUS[:3])
    assert len({repr(identity(r)) for r in (a, b, c)}) == 3
    cached = BM25Reranker.fit(CORPUS).configure(cache="memory")
    first = cached.rank("bicycle bread", CORPUS[:4])
    seen: list[int] = []
    original = cached._score

    def spy(query, documents):
        seen.append(len(documents))
        return original(query, documents)

    cached._score = spy  # type: ignore[method-assign]
    again = cached.rank("bicycle bread", CORPUS[:5])
    assert seen == [1]  # only the new fifth candidate reached the backend
    assert {i.index: i.score for i in again if i.index < 4} == {i.index: i.score for i in first}


def test_read_corpus_formats(tmp_path) -> None:
    (tmp_path / "c.txt").write_text("first doc\n\nsecond doc\n")
    (tmp_path / "c.jsonl").write_text(
        '{"_id": "1", "title": "Paris", "text": "capital"}\n{"contents": "pyserini"}\n"plain"\n'
    )
    (tmp_path / "collection.tsv").write_text("7\tms marco passage\n8\tanother\n")
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as f:
        f.write('{"page_content": "zipped"}\n')
    beir = tmp_path / "beir"
    beir.mkdir()
    (beir / "corpus.jsonl").write_text('{"_id": "d", "title": "", "text": "only text"}\n')
    assert list(read_corpus(tmp_path / "c.txt")) == ["first doc", "second doc"]
    assert list(read_corpus(tmp_path / "c.jsonl")) == ["Paris capital", "pyserini", "plain"]
    assert list(read_corpus(tmp_path / "collection.tsv")) == ["ms marco passage", "another"]
    assert list(read_corpus(tmp_path / "c.jsonl.gz")) == ["zipped"]
    assert list(read_corpus(beir)) == ["only text"]
    assert BM25CorpusStats.fit(tmp_path / "collection.tsv").n_docs == 2
    assert BM25CorpusStats.fit(str(tmp_path / "c.txt")).doc_freqs["doc"] == 2
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    with pytest.raises(InvalidInputError, match=r"bad.jsonl:1: not JSON"):
        BM25CorpusStats.fit(tmp_path / "bad.jsonl")
    with pytest.raises(InvalidInputError, match="not found"):
        BM25CorpusStats.fit(tmp_path / "missing.txt")


def test_fit_streams_in_batches() -> None:
    docs = (f"doc number {i} about bicycles" for i in range(25))  # a generator, read once
    stats = BM25CorpusStats.fit(docs, batch_size=4)
    assert stats.n_docs == 25 and stats.doc_freqs["bicycles"] == 25 and stats.doc_freqs["10"] == 1
