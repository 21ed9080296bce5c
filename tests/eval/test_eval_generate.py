"""``dataset generate``: reading documents, chunking, sampling, question generation with a
scripted model, the written set, determinism, resuming, and failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_rerankers.errors import InvalidInputError
from rag_rerankers.evaluation import load_dataset
from rag_rerankers.evaluation.corpus import (
    chunk_documents,
    load_chunks,
    read_documents,
    split_text,
)
from rag_rerankers.evaluation.generate import PROMPT, generate_dataset, parse_questions
from rag_rerankers.testing.fake_llm import FakeQuestionWriter

from eval.helpers import ROOT

KB = ROOT / "notebooks" / "data" / "kestrel-support"


@pytest.fixture(scope="module")
def chunks():
    return load_chunks(KB, chunk_size=500, chunk_overlap=0)


class Scripted:
    """A scripted model: the fake question writer, plus token counts, failures and
    interruptions on demand."""

    def __init__(self, *, interrupt_after: int | None = None, fail_on: str | None = None,
                 reply: str | None = None) -> None:
        self.writer = FakeQuestionWriter()
        self.calls = 0
        self.interrupt_after = interrupt_after
        self.fail_on = fail_on
        self.reply = reply

    def __call__(self, prompt: str):
        from rag_rerankers.evaluation.generate import Completion

        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls += 1
        if self.fail_on and self.fail_on in prompt:
            raise RuntimeError("provider exploded")
        text = self.reply if self.reply is not None else self.writer(prompt)
        return Completion(text, input_tokens=100, output_tokens=10, cost_usd=0.001)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_reads_text_markdown_and_html(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("Plain text here.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Title\n\nMarkdown body.")
    (tmp_path / "c.html").write_text(
        "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><h1>Page</h1><p>Visible words.</p></body></html>")
    (tmp_path / "d.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "e.txt").write_text("never read")
    docs = read_documents(tmp_path)
    assert [d.id for d in docs] == ["a.txt", "c.html", "sub/b.md"]
    html = docs[1].text
    assert html == "Page\nVisible words." and "var x" not in html and "color" not in html


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (Helvetica), written by hand with correct offsets."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def test_reads_pdf_with_pypdf(tmp_path) -> None:
    pytest.importorskip("pypdf")
    (tmp_path / "manual.pdf").write_bytes(_minimal_pdf("Torque sensor calibration steps"))
    docs = read_documents(tmp_path)
    assert docs[0].id == "manual.pdf" and "Torque sensor calibration steps" in docs[0].text


def test_reads_jsonl_documents(tmp_path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "x1", "title": "T", "text": "body one"}\n\n{"_id": "x2", "content": "two"}\n')
    docs = read_documents(path)
    assert [(d.id, d.text) for d in docs] == [("x1", "T\n\nbody one"), ("x2", "two")]
    path.write_text('{"id": "x1", "text": "a"}\n{"id": "x1", "text": "b"}\n')
    with pytest.raises(InvalidInputError, match="unique"):
        read_documents(path)


def test_empty_folder_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x00")
    with pytest.raises(InvalidInputError, match="no readable documents"):
        read_documents(tmp_path)


@pytest.mark.parametrize("splitter", ["langchain", "llamaindex"])
def test_both_splitters_cut_long_texts(splitter) -> None:
    pytest.importorskip("langchain_text_splitters" if splitter == "langchain"
                        else "llama_index.core")
    text = " ".join(f"Sentence number {i} talks about gears and chains." for i in range(80))
    pieces = split_text(text, 200, 0, splitter=splitter)  # llamaindex: tokens
    assert len(pieces) > 3
    assert all(p.strip() for p in pieces)
    # Nothing is lost or repeated (no overlap asked): the chunks' words are the text's.
    assert " ".join(pieces).split() == text.split()


def test_sample_corpus_is_about_fifty_documents(chunks) -> None:
    docs = read_documents(KB)
    assert 45 <= len(docs) <= 60
    assert {Path(d.id).suffix for d in docs} == {".md", ".txt", ".html"}
    assert len({c.id for c in chunks}) == len(chunks) > len(docs)


def test_generated_set_is_well_formed_and_loads_like_any_dataset(tmp_path, chunks) -> None:
    model = Scripted()
    report = generate_dataset(chunks, model, tmp_path, questions=30, seed=3, progress=False)
    assert report.questions == 30 and report.sampled == 30 and model.calls == 30
    assert report.input_tokens == 3000 and report.output_tokens == 300
    assert report.cost_usd == pytest.approx(0.03)
    corpus = {row["_id"]: row["text"] for row in read_jsonl(tmp_path / "corpus.jsonl")}
    assert corpus == {c.id: c.text for c in chunks}  # every chunk, as distractors too
    queries = read_jsonl(tmp_path / "queries.jsonl")
    assert len({q["_id"] for q in queries}) == 30
    qrels = (tmp_path / "qrels" / "test.tsv").read_text().splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    pairs = [line.split("\t") for line in qrels[1:]]
    assert len(pairs) == 30
    by_query = {q["_id"]: q for q in queries}
    for qid, cid, grade in pairs:
        assert cid in corpus and grade == "1"  # the relevant chunk is in the corpus
        assert by_query[qid]["metadata"]["chunk_id"] == cid
        assert not any(len(s) > 40 and s in by_query[qid]["text"] for s in corpus[cid].split(". "))
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert manifest["questions"] == 30 and manifest["settings"]["seed"] == 3

    ds = load_dataset(tmp_path, depth=20)
    assert len(ds.evaluated_qids) == 30 and ds.first_stage == "bm25"
    # The fake's questions use the chunk's own rare words: BM25 finds most sources.
    found = sum(1 for q in ds.evaluated_qids
                if any(c.docid in ds.qrels[q] for c in ds.candidates[q][:20]))
    assert found >= 24


def test_same_seed_same_set_other_seed_other_sample(tmp_path, chunks) -> None:
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        generate_dataset(chunks, Scripted(), tmp_path / name, questions=12, seed=seed,
                         progress=False)
    files = ("queries.jsonl", "qrels/test.tsv", "corpus.jsonl")
    assert all((tmp_path / "a" / f).read_text() == (tmp_path / "b" / f).read_text() for f in files)
    assert (tmp_path / "a" / "qrels/test.tsv").read_text() != (
        tmp_path / "c" / "qrels/test.tsv").read_text()


def test_interrupted_run_resumes_without_asking_again(tmp_path, chunks) -> None:
    whole = tmp_path / "whole"
    generate_dataset(chunks, Scripted(), whole, questions=15, progress=False)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(chunks, Scripted(interrupt_after=6), part, questions=15, progress=False)
    assert len(read_jsonl(part / "generation.jsonl")) == 6
    with open(part / "generation.jsonl", "a") as f:
        f.write('{"key": "torn')  # the interruption cut a line in half
    again = Scripted()
    report = generate_dataset(chunks, again, part, questions=15, progress=False)
    assert again.calls == 9 and report.resumed == 6 and report.questions == 15
    for f in ("queries.jsonl", "qrels/test.tsv"):
        assert (part / f).read_text() == (whole / f).read_text()
    # Tokens of the earlier, interrupted part are counted too.
    assert report.input_tokens == 1500
    fresh = Scripted()
    generate_dataset(chunks, fresh, part, questions=15, progress=False, resume=False)
    assert fresh.calls == 15


def test_failed_chunks_are_reported_and_retried(tmp_path, chunks) -> None:
    target = sorted(chunks, key=lambda c: c.id)[0]
    sample_ids = set()
    report = generate_dataset(chunks, Scripted(), tmp_path / "probe", questions=len(chunks),
                              min_chars=0, progress=False)
    sample_ids = {q["metadata"]["chunk_id"] for q in read_jsonl(tmp_path / "probe/queries.jsonl")}
    assert target.id in sample_ids and report.failed == 0
    out = tmp_path / "run"
    broken = Scripted(fail_on=target.text[:60])
    report = generate_dataset(chunks, broken, out, questions=len(chunks), min_chars=0,
                              progress=False)
    assert report.failed == 1 and report.questions == len(chunks) - 1
    retry = Scripted()
    report = generate_dataset(chunks, retry, out, questions=len(chunks), min_chars=0,
                              progress=False)
    assert retry.calls == 1 and report.failed == 0 and report.questions == len(chunks)


def test_copied_sentences_are_rejected(tmp_path, chunks) -> None:
    chunk = chunks[0]
    copy = chunk.text.split("\n\n")[1].split(". ")[0]
    reply = f"{copy}?\nWhat do riders ask about this topic most often?"
    assert len(copy.split()) >= 8
    qs, rejected = parse_questions(reply, chunk.text, 2)
    assert qs == ["What do riders ask about this topic most often?"] and rejected == 1
    report = generate_dataset([chunk], Scripted(reply=copy + "?"), tmp_path, questions=1,
                              min_chars=0, progress=False)
    assert report.questions == 0 and report.rejected == 1


def test_too_few_chunks_asks_more_questions_of_each(tmp_path) -> None:
    docs = read_documents(KB)[:2]
    small = chunk_documents(docs, chunk_size=2000, chunk_overlap=0)
    report = generate_dataset(small, Scripted(), tmp_path, questions=5, min_chars=0,
                              progress=False)
    assert report.sampled == 2 and report.questions == 5
    assert report.settings["questions_per_chunk"] == 3


def test_prompt_names_the_rules() -> None:
    prompt = PROMPT.format(n=2, source="x.md", text="body")
    assert "Write 2 question(s)" in prompt and "own words" in prompt and "body" in prompt


def test_cli_generate_with_the_offline_fake(tmp_path) -> None:
    from rag_rerankers.cli import main

    out = tmp_path / "set"
    code = main(["dataset", "generate", "--docs", str(KB), "--llm", "fake", "--questions", "10",
                 "--out", str(out), "--chunk-size", "500", "--chunk-overlap", "0",
                 "--no-progress"])
    assert code == 0
    assert len(read_jsonl(out / "queries.jsonl")) == 10
    assert json.loads((out / "dataset.json").read_text())["settings"]["splitter"] in (
        "langchain", "llamaindex")
    assert main(["dataset", "generate", "--docs", str(tmp_path / "missing"), "--llm", "fake",
                 "--out", str(out)]) == 2


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_chat_models_of_both_frameworks_write_the_questions(tmp_path, chunks, framework) -> None:
    from rag_rerankers.evaluation.pricing import llm_cost

    from llm.helpers import ScriptedChatModel, ScriptedLlamaLLM

    writer = FakeQuestionWriter()

    def answer(messages):
        return writer(messages[-1][1])

    if framework == "langchain":
        model = ScriptedChatModel(answer=answer, model_name="gpt-4.1-mini")
    else:
        model = ScriptedLlamaLLM(answer=answer)
    report = generate_dataset(chunks, model, tmp_path, questions=8, progress=False)
    rec = model.recorder
    assert report.questions == 8 and len(rec.calls) == 8
    assert (report.input_tokens, report.output_tokens) == (rec.input_tokens, rec.output_tokens)
    assert rec.calls[0][0][-1][1].startswith("You write search questions")
    if framework == "langchain":  # a priced model name: the estimate follows the price table
        assert report.cost_usd == pytest.approx(
            llm_cost("gpt-4.1-mini", rec.input_tokens, rec.output_tokens))
    else:
        assert report.cost_usd is None  # no price known: tokens only


def test_concurrent_calls_write_the_same_set(tmp_path, chunks) -> None:
    generate_dataset(chunks, Scripted(), tmp_path / "one", questions=20, progress=False)
    model = Scripted()
    generate_dataset(chunks, model, tmp_path / "four", questions=20, progress=False,
                     concurrency=4)
    assert model.calls == 20
    for f in ("queries.jsonl", "qrels/test.tsv"):
        assert (tmp_path / "one" / f).read_text() == (tmp_path / "four" / f).read_text()
