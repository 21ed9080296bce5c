"""Read a folder of documents (or a JSONL file) and cut it into chunks, the passages that
``rag-rerankers dataset generate`` asks questions about and that a reranker sees.

Readers: plain text and markdown (read as text), HTML (BeautifulSoup's text, scripts and styles
dropped) and PDF (pypdf, page by page). Chunking is delegated to LangChain's
``RecursiveCharacterTextSplitter`` when ``langchain-text-splitters`` is installed, else to
LlamaIndex's ``SentenceSplitter``: one of them does it, never code of ours.

Example:
    >>> docs = [SourceDocument("a.txt", "Cats purr. " * 30, "a.txt")]
    >>> chunks = chunk_documents(docs, chunk_size=120, chunk_overlap=0)
    >>> chunks[0].id, chunks[0].doc_id, len(chunks) > 1
    ('a.txt#0', 'a.txt', True)
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_rerankers.errors import ConfigError, InvalidInputError, MissingDependencyError

logger = logging.getLogger("rag_rerankers.evaluation")

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One document as read: its id (path relative to the folder, or the JSONL ``id``), its
    text and where it came from."""

    id: str
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of a document: ``id`` is ``"<document id>#<n>"``."""

    id: str
    text: str
    doc_id: str
    source: str


def read_documents(path: str | Path) -> list[SourceDocument]:
    """Every readable document under ``path`` (a folder, searched recursively, in path order),
    or in ``path`` itself: one text/markdown/HTML/PDF file, or a JSONL file of
    ``{"id"|"_id", "text"|"content", "title"?}`` objects.

    Files of other types are skipped (logged); an HTML or PDF file whose reader is not
    installed raises :class:`~rag_rerankers.errors.MissingDependencyError`.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"{path} does not exist: pass a folder of documents or a .jsonl file")
    if path.is_file() and path.suffix == ".jsonl":
        return _read_jsonl(path)
    if path.is_file():
        return [SourceDocument(path.name, read_file(path), str(path))]
    docs = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        if any(part.startswith(".") for part in file.relative_to(path).parts):
            continue  # hidden files and folders (.git, .ipynb_checkpoints)
        if file.suffix.lower() not in SUFFIXES:
            logger.info("skipped %s: not a text, markdown, HTML or PDF file", rel)
            continue
        text = read_file(file)
        if text.strip():
            docs.append(SourceDocument(rel, text, str(file)))
    if not docs:
        raise InvalidInputError(
            f"no readable documents in {path} (looked for {', '.join(sorted(SUFFIXES))})")
    return docs


def read_file(path: Path) -> str:
    """The text of one file, chosen by its suffix."""
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return html_text(path.read_text(encoding="utf-8", errors="replace"))
    if suffix in PDF_SUFFIXES:
        return pdf_text(path)
    return path.read_text(encoding="utf-8", errors="replace")


def html_text(html: str) -> str:
    """Visible text of an HTML page (BeautifulSoup), one block per line.

    Example:
        >>> html_text("<html><script>x=1</script><h1>Title</h1><p>Body text.</p></html>")
        'Title\\nBody text.'
    """
    try:
        from bs4 import BeautifulSoup
    except ImportError as exc:
        raise MissingDependencyError("HTML reader", "datagen", "beautifulsoup4") from exc
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def pdf_text(path: Path) -> str:
    """Text of every page of a PDF (pypdf), pages separated by blank lines."""
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise MissingDependencyError("PDF reader", "datagen", "pypdf") from exc
    reader = PdfReader(str(path))
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()


def _read_jsonl(path: Path) -> list[SourceDocument]:
    docs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{n} is not JSON: {exc}") from exc
            doc_id = row.get("id", row.get("_id"))
            text = row.get("text", row.get("content"))
            if doc_id is None or text is None:
                raise InvalidInputError(
                    f"{path}:{n} needs 'id' (or '_id') and 'text' (or 'content') keys")
            title = row.get("title")
            body = f"{title}\n\n{text}" if title else str(text)
            docs.append(SourceDocument(str(doc_id), body, f"{path}:{n}"))
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"{path}: document ids must be unique")
    return docs


def splitter_name() -> str:
    """Which installed library chunks: ``"langchain"`` or ``"llamaindex"``."""
    try:
        import langchain_text_splitters  # noqa: F401
        return "langchain"
    except ImportError:
        pass
    try:
        _llamaindex_splitter_class()
        return "llamaindex"
    except ImportError as exc:
        raise MissingDependencyError(
            "document chunking", "datagen", "langchain-text-splitters") from exc


def split_text(text: str, chunk_size: int, chunk_overlap: int, *, splitter: str = "auto") -> list[str]:
    """Cut one text into chunks of at most about ``chunk_size`` characters with LangChain's
    ``RecursiveCharacterTextSplitter`` (``splitter="langchain"``) or LlamaIndex's
    ``SentenceSplitter`` (``"llamaindex"``, sizes in its tokens); ``"auto"``: the first
    installed."""
    if chunk_size < 1 or chunk_overlap < 0 or chunk_overlap >= chunk_size:
        raise ConfigError(
            f"need chunk_size >= 1 and 0 <= chunk_overlap < chunk_size, got {chunk_size} and "
            f"{chunk_overlap}")
    which = splitter_name() if splitter == "auto" else splitter
    if which == "langchain":
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        return RecursiveCharacterTextSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap).split_text(text)
    if which == "llamaindex":
        splitter_cls = _llamaindex_splitter_class()
        return splitter_cls(chunk_size=chunk_size, chunk_overlap=chunk_overlap).split_text(text)
    raise ConfigError(f"unknown splitter {splitter!r}: use 'auto', 'langchain' or 'llamaindex'")


def _llamaindex_splitter_class() -> Any:
    # Looked up by module name, as the registry finds backends: the core never imports a
    # framework (tests/packaging/test_architecture.py); LlamaIndex is only the fallback
    # chunker, used when it is installed and LangChain's splitters are not.
    return importlib.import_module("llama_index.core.node_parser").SentenceSplitter


def chunk_documents(
    docs: Iterable[SourceDocument],
    *,
    chunk_size: int = 1000,
    chunk_overlap: int = 100,
    splitter: str = "auto",
) -> list[Chunk]:
    """Every document's chunks, in document order (see :func:`split_text`)."""
    chunks = []
    for doc in docs:
        pieces = [p.strip() for p in split_text(doc.text, chunk_size, chunk_overlap,
                                                splitter=splitter)]
        for n, piece in enumerate(p for p in pieces if p):
            chunks.append(Chunk(f"{doc.id}#{n}", piece, doc.id, doc.source))
    return chunks


def load_chunks(
    path: str | Path, *, chunk_size: int = 1000, chunk_overlap: int = 100, splitter: str = "auto"
) -> list[Chunk]:
    """:func:`read_documents` then :func:`chunk_documents`."""
    return chunk_documents(read_documents(path), chunk_size=chunk_size,
                           chunk_overlap=chunk_overlap, splitter=splitter)


def corpus_of(chunks: Sequence[Chunk]) -> dict[str, str]:
    """Chunk id -> text (what the first stages and the rerankers see)."""
    return {c.id: c.text for c in chunks}
