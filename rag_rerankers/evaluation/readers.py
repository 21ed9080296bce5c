"""Readers that turn evaluation data into an :class:`~rag_rerankers.evaluation.dataset.EvalDataset`.

:func:`load_dataset` opens any of them from one string (what ``--dataset`` takes):

- the bundled sample corpus (:func:`sample_dataset`);
- a candidates JSON file with TREC or BEIR qrels (:func:`load_candidates_json`,
  :func:`load_qrels`);
- a BEIR folder (:func:`load_beir`), its first stage from a TREC run file
  (:func:`load_trec_run`) or computed (:mod:`rag_rerankers.evaluation.first_stage`);
- an ``ir_datasets`` id (:func:`load_ir_datasets`).

Example:
    >>> ds = load_dataset("sample", depth=3)
    >>> ds.name, ds.first_stage, len(ds.candidates["q01"])
    ('sample', 'bm25', 3)
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rag_rerankers.errors import ConfigError, InvalidInputError
from rag_rerankers.evaluation.dataset import Candidate, EvalDataset, to_candidates

logger = logging.getLogger("rag_rerankers.evaluation")


def load_trec_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read TREC qrels (``qid 0 docid grade``) with ir-measures' reader."""
    import ir_measures

    qrels: dict[str, dict[str, int]] = {}
    for row in ir_measures.read_trec_qrels(str(path)):
        qrels.setdefault(row.query_id, {})[row.doc_id] = int(row.relevance)
    return qrels


def load_beir_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read BEIR qrels (TSV with a ``query-id corpus-id score`` header)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        for i, row in enumerate(reader):
            if not row or (i == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # the header line
            qid, docid, grade = row[0], row[1], row[-1]
            qrels.setdefault(qid, {})[docid] = int(grade)
    return qrels


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """TREC qrels, or BEIR TSV qrels (tab separated, 3 columns)."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    if "\t" in first and len(first.rstrip("\n").split("\t")) == 3:
        return load_beir_qrels(path)
    return load_trec_qrels(path)


def load_trec_run(path: str | Path, depth: int | None = None) -> dict[str, list[str]]:
    """Read a TREC run file: query id -> document ids, best first (by score, as trec_eval)."""
    import ir_measures

    scored: dict[str, list[tuple[float, str]]] = {}
    for row in ir_measures.read_trec_run(str(path)):
        scored.setdefault(row.query_id, []).append((float(row.score), row.doc_id))
    # trec_eval's order: score descending, ties by docid descending.
    return {
        q: [d for _, d in sorted(rows, key=lambda r: (r[0], r[1]), reverse=True)][:depth]
        for q, rows in scored.items()
    }


def load_candidates_json(
    path: str | Path, qrels: str | Path | Mapping[str, Mapping[str, int]], *, name: str | None = None
) -> EvalDataset:
    """Read candidates in the layout ``[{query, hits: [{qid, docid, content, ...}]}]`` (the
    TREC DL files of rank_llm / ``../shared/data/trec-dl19``), hits in first-stage order."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise InvalidInputError(f"{path}: expected a JSON list of {{query, hits}} objects")
    queries: dict[str, str] = {}
    candidates: dict[str, list[Candidate]] = {}
    for i, entry in enumerate(data):
        hits = entry.get("hits") or []
        qid = entry.get("qid", hits[0].get("qid") if hits else None)
        if qid is None:
            raise InvalidInputError(f"{path}: entry {i} has no qid (neither on it nor its hits)")
        qid = str(qid)
        if "rank" in (hits[0] if hits else {}):
            hits = sorted(hits, key=lambda h: h["rank"])
        queries[qid] = entry["query"]
        candidates[qid] = to_candidates(
            [(h["docid"], h.get("content", h.get("text", ""))) for h in hits], qid
        )
    judged = qrels if isinstance(qrels, Mapping) else load_qrels(qrels)
    info = {"source": str(path)}
    if not isinstance(qrels, Mapping):
        info["qrels"] = str(qrels)  # reports name the judgements they were scored against
    return EvalDataset(
        name=name or path.stem,
        queries=queries,
        candidates=candidates,
        qrels={str(q): {str(d): int(g) for d, g in j.items()} for q, j in judged.items()},
        first_stage="bm25" if "bm25" in path.stem.lower() else "given order",
        info=info,
    )


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _doc_text(title: str | None, text: str | None) -> str:
    # BEIR's own rerankers feed "title text"; an empty title adds nothing.
    return " ".join(p for p in (title or "", text or "") if p.strip())


def load_beir(
    folder: str | Path,
    *,
    split: str = "test",
    run: str | Path | None = None,
    first_stage: str = "bm25",
    depth: int = 100,
) -> EvalDataset:
    """Read a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

    The candidates come from ``run`` (a TREC run file) or are retrieved now by
    ``first_stage``: ``"bm25"`` (bm25s over the corpus) or ``"faiss"`` / ``"faiss:<embedding
    config string>"`` (exact inner-product search over normalized embeddings).
    """
    folder = Path(folder)
    corpus = {
        str(d["_id"]): _doc_text(d.get("title"), d.get("text"))
        for d in _read_jsonl(folder / "corpus.jsonl")
    }
    qrels_path = folder / "qrels" / f"{split}.tsv"
    qrels = load_beir_qrels(qrels_path)
    queries = {
        str(q["_id"]): q["text"]
        for q in _read_jsonl(folder / "queries.jsonl")
        if str(q["_id"]) in qrels
    }
    return with_first_stage(
        name=folder.name, queries=queries, corpus=corpus, qrels=qrels,
        run=run, first_stage=first_stage, depth=depth, info={"source": str(folder), "qrels": str(qrels_path), "split": split},
    )


def with_first_stage(
    *,
    name: str,
    queries: dict[str, str],
    corpus: Mapping[str, str],
    qrels: dict[str, dict[str, int]],
    run: str | Path | None,
    first_stage: str,
    depth: int,
    info: dict[str, Any],
) -> EvalDataset:
    if run is not None:
        ranked = load_trec_run(run, depth)
        missing = {d for docs in ranked.values() for d in docs if d not in corpus}
        if missing:
            logger.warning("%d run documents are not in the corpus and are dropped", len(missing))
        stage = Path(run).name
    else:
        from rag_rerankers.evaluation.first_stage import retrieve

        ranked = retrieve(first_stage, queries, corpus, depth)
        stage = first_stage
    candidates = {
        q: [Candidate(d, corpus[d]) for d in ranked.get(q, []) if d in corpus] for q in queries
    }
    return EvalDataset(
        name=name, queries=queries, candidates=candidates, qrels=qrels,
        first_stage=stage, info=dict(info, depth=depth),
    )


def read_queries(path: str | Path) -> dict[str, str]:
    """Questions from a file: ``.jsonl`` of ``{"_id"|"id", "text"}``, ``.tsv`` of
    ``id<TAB>text``, or plain text, one question per line (ids ``q0001``, ``q0002``, ...)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        rows = list(_read_jsonl(path))
        try:
            return {str(r.get("_id", r.get("id"))): str(r["text"]) for r in rows}
        except KeyError as exc:
            raise InvalidInputError(f"{path}: every line needs a 'text' key") from exc
    lines = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line.strip()]
    if path.suffix == ".tsv":
        pairs = [line.split("\t", 1) for line in lines]
        if any(len(p) != 2 for p in pairs):
            raise InvalidInputError(f"{path}: every line must be id<TAB>question")
        return {p[0].strip(): p[1].strip() for p in pairs}
    return {f"q{i:04d}": line.strip() for i, line in enumerate(lines, start=1)}


def sample_dataset(*, first_stage: str = "bm25", depth: int = 20) -> EvalDataset:
    """The bundled sample corpus as an :class:`EvalDataset` (the corpus itself, 89 passages
    and 16 judged queries, is :func:`rag_rerankers.sample.load_sample`), with a computed first
    stage over it (passages as the demo indexes them: ``title. text``).

    Example:
        >>> ds = sample_dataset(depth=10)
        >>> len(ds.evaluated_qids), len(ds.candidates[ds.evaluated_qids[0]])
        (16, 10)
    """
    from rag_rerankers.sample import load_sample

    sample = load_sample()
    corpus = {d.id: d.content for d in sample.documents}
    queries = {q.id: q.text for q in sample.queries}
    return with_first_stage(
        name="sample", queries=queries, corpus=corpus, qrels=sample.qrels(), run=None,
        first_stage=first_stage, depth=depth, info={"source": "rag_rerankers.sample"},
    )


def load_ir_datasets(
    dataset_id: str,
    *,
    run: str | Path | None = None,
    first_stage: str = "bm25",
    depth: int = 100,
) -> EvalDataset:
    """Load an ``ir_datasets`` id (needs the package and, the first time, the network).

    The candidates are the dataset's own ``scoreddocs`` when it has them (e.g. the BM25 top
    1000 of ``msmarco-passage/trec-dl-2019/judged``), else ``run``, else ``first_stage``
    retrieval over its documents (fine for small corpora only).
    """
    try:
        import ir_datasets
    except ImportError as exc:
        from rag_rerankers.errors import MissingDependencyError

        raise MissingDependencyError("ir_datasets loader", "eval", "ir_datasets") from exc
    ds = ir_datasets.load(dataset_id)
    qrels: dict[str, dict[str, int]] = {}
    for row in ds.qrels_iter():
        qrels.setdefault(str(row.query_id), {})[str(row.doc_id)] = int(row.relevance)
    queries = {
        str(q.query_id): q.default_text() for q in ds.queries_iter() if str(q.query_id) in qrels
    }
    info = {"source": f"ir_datasets:{dataset_id}"}
    if run is None and ds.has_scoreddocs():
        scored: dict[str, list[tuple[float, str]]] = {}
        for row in ds.scoreddocs_iter():
            if str(row.query_id) in queries:
                scored.setdefault(str(row.query_id), []).append((float(row.score), str(row.doc_id)))
        ranked = {
            q: [d for _, d in sorted(rows, reverse=True)][:depth] for q, rows in scored.items()
        }
        store = ds.docs_store()
        needed = {d for docs in ranked.values() for d in docs}
        corpus = {d: doc.default_text() for d, doc in store.get_many(needed).items()}
        candidates = {
            q: [Candidate(d, corpus[d]) for d in ranked.get(q, []) if d in corpus] for q in queries
        }
        return EvalDataset(
            name=dataset_id, queries=queries, candidates=candidates, qrels=qrels,
            first_stage="scoreddocs", info=dict(info, depth=depth),
        )
    corpus = {str(d.doc_id): d.default_text() for d in ds.docs_iter()}
    return with_first_stage(
        name=dataset_id, queries=queries, corpus=corpus, qrels=qrels, run=run,
        first_stage=first_stage, depth=depth, info=info,
    )


def load_dataset(
    source: str | Path,
    *,
    qrels: str | Path | None = None,
    run: str | Path | None = None,
    first_stage: str = "bm25",
    depth: int | None = None,
    split: str = "test",
) -> EvalDataset:
    """Open any supported dataset from one string.

    - ``"sample"``: the bundled sample corpus (first stage computed, depth 20 by default);
    - ``"irds:<id>"`` (or ``"ir_datasets:<id>"``): an ``ir_datasets`` id;
    - a ``.json`` file of candidates (``qrels`` required unless a ``qrels*`` file sits next to it:
      then that one is used, and named in the dataset's ``stats()["qrels"]``);
    - a BEIR folder (has ``corpus.jsonl``);
    - a folder with one candidates ``.json`` and one ``qrels*`` file (e.g. ``../shared/data/trec-dl19``).
    """
    text = str(source)
    if text == "sample":
        return sample_dataset(first_stage=first_stage, depth=depth or 20)
    for prefix in ("irds:", "ir_datasets:"):
        if text.startswith(prefix):
            return load_ir_datasets(
                text[len(prefix):], run=run, first_stage=first_stage, depth=depth or 100
            )
    path = Path(text).expanduser()
    if path.is_dir() and (path / "corpus.jsonl").exists():
        return load_beir(path, split=split, run=run, first_stage=first_stage, depth=depth or 100)
    if path.is_dir():
        jsons = sorted(path.glob("*.json"))
        if len(jsons) != 1:
            raise ConfigError(
                f"{path} is neither a BEIR folder (corpus.jsonl) nor a folder with exactly one "
                f"candidates .json file (found {len(jsons)})"
            )
        path = jsons[0]
    if path.suffix == ".json" and path.exists():
        if qrels is None:
            found = sorted(path.parent.glob("qrels*"))
            if len(found) != 1:
                raise ConfigError(f"pass the qrels file for {path} (--qrels)")
            qrels = found[0]
            logger.info("using the qrels file %s, found beside %s", qrels, path)
        ds = load_candidates_json(path, qrels, name=path.parent.name if path.parent.name else None)
        if depth is not None:
            ds.candidates = {q: c[:depth] for q, c in ds.candidates.items()}
        return ds
    raise ConfigError(
        f"unknown dataset {text!r}: use 'sample', 'irds:<ir_datasets id>', a candidates .json "
        "file, a BEIR folder, or a folder with a candidates .json and a qrels file"
    )
