"""Every input format becomes the same EvalDataset: candidates JSON + qrels, BEIR, run files,
ir_datasets (faked offline), the bundled sample, and Python objects."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from rag_rerankers.errors import ConfigError, InvalidInputError
from rag_rerankers.evaluation import EvalDataset, load_dataset, sample_dataset

CORPUS = {
    "d1": ("Flea life", "A flea can live up to a year depending on hosts."),
    "d2": ("Bread", "Knead the dough and bake it at 220 degrees."),
    "d3": ("Flea control", "Fleas lay eggs; the flea life cycle takes weeks."),
    "d4": ("Cycling", "Oil the bicycle chain every month."),
}
QUERIES = {"1": "how long is the life cycle of a flea", "2": "how to oil a bicycle chain",
           "3": "unjudged query"}


def _write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for docid, (title, text) in CORPUS.items():
            f.write(json.dumps({"_id": docid, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n1\td3\t2\n1\td1\t1\n2\td4\t1\n"
    )
    return folder


def _write_candidates(folder: Path) -> tuple[Path, Path]:
    data = [
        {"query": QUERIES["1"], "hits": [
            {"qid": 1, "docid": "d2", "content": "bread", "rank": 2, "score": 1.0},
            {"qid": 1, "docid": "d1", "content": "flea year", "rank": 1, "score": 2.0},
            {"qid": 1, "docid": "d3", "content": "flea cycle", "rank": 3, "score": 0.5},
        ]},
        {"query": QUERIES["2"], "hits": [
            {"qid": 2, "docid": "d4", "content": "chain oil", "rank": 1, "score": 3.0},
        ]},
    ]
    cands = folder / "bm25_top3.json"
    cands.write_text(json.dumps(data))
    qrels = folder / "qrels.txt"
    qrels.write_text("1 0 d3 2\n1 0 d1 1\n2 Q0 d4 1\n")
    return cands, qrels


def test_from_memory_accepts_pairs_dicts_and_strings() -> None:
    ds = EvalDataset.from_memory(
        queries={"a": "q a", "b": "q b", "c": "q c"},
        candidates={"a": [("x", "text x")], "b": [{"id": "y", "content": "text y"}],
                    "c": ["first", "second"]},
        qrels={"a": {"x": 1}, "b": {"y": 0}, "c": {"1": 2}},
    )
    assert [c.docid for c in ds.candidates["c"]] == ["0", "1"]
    assert ds.candidates["b"][0].text == "text y"
    assert ds.evaluated_qids == ["a", "b", "c"]


def test_duplicate_candidate_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="appears twice"):
        EvalDataset.from_memory({"q": "x"}, {"q": [("d", "a"), ("d", "b")]}, {"q": {"d": 1}})


def test_only_judged_queries_with_candidates_are_evaluated() -> None:
    ds = EvalDataset.from_memory(
        {"j": "judged", "u": "unjudged", "e": "no candidates"},
        {"j": ["a"], "u": ["b"], "e": []},
        {"j": {"0": 1}, "e": {"x": 1}},
    )
    assert ds.evaluated_qids == ["j"]


def test_candidates_json_with_trec_qrels_keeps_rank_order(tmp_path: Path) -> None:
    cands, qrels = _write_candidates(tmp_path)
    ds = load_dataset(cands, qrels=qrels)
    assert [c.docid for c in ds.candidates["1"]] == ["d1", "d2", "d3"]
    assert ds.qrels["1"] == {"d3": 2, "d1": 1}
    assert ds.first_stage == "bm25"  # from the file name
    # A folder holding one candidates file and one qrels file is found without --qrels.
    assert load_dataset(tmp_path).fingerprint() == ds.fingerprint()


def test_depth_cuts_candidates_and_changes_fingerprint(tmp_path: Path) -> None:
    cands, qrels = _write_candidates(tmp_path)
    full = load_dataset(cands, qrels=qrels)
    cut = load_dataset(cands, qrels=qrels, depth=2)
    assert len(cut.candidates["1"]) == 2
    assert cut.fingerprint() != full.fingerprint()
    assert full.limit(1).evaluated_qids == ["1"]


def test_beir_folder_with_computed_bm25_first_stage(tmp_path: Path) -> None:
    ds = load_dataset(_write_beir(tmp_path / "tiny-beir"), depth=2)
    assert ds.name == "tiny-beir" and ds.first_stage == "bm25"
    assert ds.evaluated_qids == ["1", "2"]  # query 3 has no judgements
    assert ds.candidates["2"][0].docid == "d4"
    assert ds.candidates["1"][0].text.startswith("Fl")  # "title text"
    assert {c.docid for c in ds.candidates["1"]} == {"d1", "d3"}


def test_beir_folder_with_run_file(tmp_path: Path) -> None:
    folder = _write_beir(tmp_path / "b")
    run = tmp_path / "run.trec"
    # Equal scores: trec_eval order (doc id descending) decides; unknown docs are dropped.
    run.write_text("1 Q0 d2 1 5.0 x\n1 Q0 d1 2 7.0 x\n1 Q0 d3 3 5.0 x\n1 Q0 zz 4 9.0 x\n")
    ds = load_dataset(folder, run=run)
    assert [c.docid for c in ds.candidates["1"]] == ["d1", "d3", "d2"]
    assert ds.candidates["2"] == [] and ds.evaluated_qids == ["1"]
    assert ds.first_stage == "run.trec"


def test_beir_folder_with_faiss_first_stage(tmp_path: Path) -> None:
    ds = load_dataset(_write_beir(tmp_path / "b"), first_stage="faiss", depth=2)
    assert ds.first_stage == "faiss"
    assert ds.candidates["2"][0].docid == "d4"
    assert ds.candidates["1"][0].docid == "d3"


def test_sample_dataset() -> None:
    ds = load_dataset("sample")
    assert ds.name == "sample" and len(ds.evaluated_qids) == 16
    assert all(0 < len(ds.candidates[q]) <= 20 for q in ds.evaluated_qids)
    assert sample_dataset(depth=5).candidates["q01"][0].text.endswith(".")


def test_unknown_dataset_and_bad_first_stage(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset(tmp_path / "nothing.txt")
    with pytest.raises(ConfigError, match="unknown first stage"):
        load_dataset("sample", first_stage="magic")


def test_ir_datasets_code_path_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ir_datasets loader, driven by a stand-in module (tests never go online)."""
    from collections import namedtuple

    Q = namedtuple("Q", "query_id text")
    D = namedtuple("D", "doc_id text")
    R = namedtuple("R", "query_id doc_id relevance")
    S = namedtuple("S", "query_id doc_id score")
    for cls in (Q, D):
        cls.default_text = lambda self: self.text

    class Store:
        def get_many(self, ids):
            return {d.doc_id: d for d in docs if d.doc_id in ids}

    docs = [D("a", "alpha"), D("b", "beta"), D("c", "gamma")]

    class Fake:
        def __init__(self, scored: bool) -> None:
            self.scored = scored

        def qrels_iter(self):
            return iter([R("1", "b", 2), R("1", "a", 0)])

        def queries_iter(self):
            return iter([Q("1", "beta please"), Q("2", "unjudged")])

        def has_scoreddocs(self):
            return self.scored

        def scoreddocs_iter(self):
            return iter([S("1", "a", 1.0), S("1", "b", 3.0), S("1", "c", 2.0), S("2", "a", 1.0)])

        def docs_store(self):
            return Store()

        def docs_iter(self):
            return iter(docs)

    loaded: list[str] = []
    fake = types.ModuleType("ir_datasets")
    fake.load = lambda name: (loaded.append(name), Fake(name.endswith("scored")))[1]
    monkeypatch.setitem(sys.modules, "ir_datasets", fake)

    ds = load_dataset("irds:toy/scored", depth=2)
    assert loaded == ["toy/scored"] and ds.first_stage == "scoreddocs"
    assert [c.docid for c in ds.candidates["1"]] == ["b", "c"]
    ds = load_dataset("ir_datasets:toy/plain", depth=3)
    assert ds.first_stage == "bm25" and ds.candidates["1"][0].docid == "b"
