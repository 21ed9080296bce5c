"""``flashrank``: FlashRank's small ONNX cross-encoders, loaded by ``flashrank.Ranker`` itself.

The model is opened by ``flashrank.Ranker(model_name, cache_dir, max_length)`` -- the real
loading code, tokenizer set-up included -- and scored with its ONNX Runtime session, but in
length-sorted batches (FlashRank pads every candidate to the longest one in a single batch).
Scores equal ``Ranker.rerank``'s: the sigmoid of a one-logit head, the softmax probability of
"relevant" for a two-logit head (:attr:`ScoreType.PROBABILITY`).

No download happens when ``cache_dir/model_name/`` exists (the option has FlashRank's own
name; the result cache's folder is the separate ``cache_path`` control). A missing folder is
fetched by :func:`fetch_flashrank` (through ``huggingface_hub``: ``HF_ENDPOINT``, a bounded
wait; FlashRank's own download has no timeout); with ``offline=true`` it raises
:class:`~rag_rerankers.ModelNotFoundError` naming it instead. ``model`` may
also be a folder: its parent is the cache and its name the model (a FlashRank model name, or
any name when the folder holds exactly one ``.onnx`` file).

Example:
    >>> from rag_rerankers.registry import get_backend
    >>> get_backend("flashrank")[1]
    'ms-marco-TinyBERT-L-2-v2'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_rerankers.backends._local import (
    TokenBudgetReranker,
    TruncationWarner,
    max_length_option,
)
from rag_rerankers.errors import ConfigError, ModelNotFoundError
from rag_rerankers.hub import Fetched, HubFiles, download_hint, fetch, offline_reason
from rag_rerankers.models import MODEL_CACHE, LoadedModel, ModelSource, load_error
from rag_rerankers.options import Option
from rag_rerankers.registry import BackendInfo
from rag_rerankers.types import ScoreType


@dataclass
class FlashRankRuntime:
    """A loaded ``flashrank.Ranker`` plus a copy of its tokenizer without truncation/padding."""

    ranker: Any
    full_tokenizer: Any  # measures true lengths (and counts truncated documents)
    cut_tokenizer: Any  # FlashRank's truncation, no padding: we pad per batch
    input_names: tuple[str, ...]
    pad_token_id: int
    max_length: int


def _locate(model: str, cache_dir: str | None) -> tuple[str, Path]:
    """``(flashrank model name, cache folder)`` for a model name or a model folder."""
    from flashrank.Config import default_cache_dir, model_file_map

    expanded = Path(os.path.expanduser(model))
    if expanded.is_dir():
        name = expanded.name
        if name not in model_file_map:
            onnx = sorted(p.name for p in expanded.glob("*.onnx"))
            if len(onnx) != 1:
                raise ModelNotFoundError(
                    f"flashrank model folder {str(expanded)!r} is not named after a FlashRank model "
                    f"({', '.join(sorted(model_file_map))}) and holds {len(onnx)} .onnx files "
                    "(need exactly one)"
                )
            # FlashRank finds the ONNX file through this map; a new name only adds an entry.
            model_file_map.setdefault(name, onnx[0])
        return name, expanded.parent.resolve()
    if "/" in model or model.startswith((".", "~")):
        raise ModelNotFoundError(f"flashrank model folder {model!r} does not exist")
    if model not in model_file_map:
        raise ConfigError(
            f"unknown FlashRank model {model!r}; known: {', '.join(sorted(model_file_map))} "
            "(or pass a model folder)"
        )
    return model, Path(os.path.expanduser(cache_dir or default_cache_dir)).resolve()


def load_flashrank(
    model: str, *, cache_dir: str | None = None, max_length: int = 512, offline: bool = False
) -> LoadedModel[FlashRankRuntime]:
    """Load (once per process and settings) a FlashRank model."""
    name, cache = _locate(model, cache_dir)
    folder = cache / name
    source = ModelSource(name=model, location=str(folder), local=True)
    if not folder.is_dir():
        # Fetched through huggingface_hub (HF_ENDPOINT, bounded wait), not flashrank's own
        # download, which has no timeout and ignores mirrors.
        fetch_flashrank(name, cache, offline=offline, progress=None)

    def loader() -> FlashRankRuntime:
        import flashrank
        from tokenizers import Tokenizer

        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            ranker = flashrank.Ranker(
                model_name=name, cache_dir=str(cache), max_length=max_length, log_level="WARNING"
            )
        except Exception as exc:  # download or ONNX load failure: say where we looked
            raise load_error(source, offline, exc) from exc
        finally:
            # flashrank calls logging.basicConfig: undo its changes to the root logger.
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        tok = ranker.tokenizer
        cut = Tokenizer.from_str(tok.to_str())
        cut.no_padding()
        full = Tokenizer.from_str(tok.to_str())
        full.no_padding()
        full.no_truncation()
        names = tuple(i.name for i in ranker.session.get_inputs())
        return FlashRankRuntime(
            ranker=ranker,
            full_tokenizer=full,
            cut_tokenizer=cut,
            input_names=names,
            pad_token_id=int(tok.padding["pad_id"]) if tok.padding else 0,
            max_length=int(tok.truncation["max_length"]) if tok.truncation else max_length,
        )

    return MODEL_CACHE.get(("flashrank", str(folder), max_length), loader)


FLASHRANK_REPO = "prithivida/flashrank"
"""The hub repository FlashRank downloads its models from, as ``<model>.zip``."""


def fetch_flashrank(name: str, cache: Path, *, offline: bool = False,
                    progress: bool | None = True, timeout: float | None = None) -> Fetched:
    """Put FlashRank model ``name`` in its folder ``cache/name`` (where ``flashrank.Ranker``
    looks): its zip is fetched into the Hugging Face cache (see :func:`rag_rerankers.hub.fetch`)
    and unpacked there."""
    import zipfile

    folder = cache / name
    if not folder.is_dir():
        reason = offline_reason(offline)
        if reason is not None:
            raise ModelNotFoundError(
                f"flashrank model {name!r} is not in {str(folder)!r} and {reason} forbids the "
                f"download. {download_hint('flashrank', name)} Or set cache_dir to the folder "
                f"holding {name}/."
            )
        archive = fetch(FLASHRANK_REPO, HubFiles((f"{name}.zip",), weights=()),
                        backend="flashrank", progress=progress, timeout=timeout)
        cache.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive.folder / f"{name}.zip") as zipped:
            zipped.extractall(cache)  # the archive holds <name>/...
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"the FlashRank archive {name}.zip from {FLASHRANK_REPO} did not unpack to {str(folder)!r}"
            )
    files = tuple(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()))
    return Fetched(name, folder, files)


class FlashRankReranker(TokenBudgetReranker):
    """FlashRank's ONNX cross-encoders on ONNX Runtime (CPU), scored in length-sorted batches."""

    backend = "flashrank"
    default_model = "ms-marco-TinyBERT-L-2-v2"
    score_type = ScoreType.PROBABILITY
    options = (
        max_length_option(512, "Max tokens of query + document (longer ones are truncated, "
                          "with a warning).", nullable=False),
        Option("cache_dir", "str", None,
               "FlashRank's cache_dir: the folder holding <model>/ (default: /tmp)."),
    )

    @classmethod
    def download(cls, model: str | None = None, *, progress: bool | None = True,
                 timeout: float | None = None, cache_dir: str | None = None,
                 **options: Any) -> Fetched:
        """Fetch a FlashRank model into its folder (``cache_dir``, default FlashRank's)."""
        name, cache = _locate(model or str(cls.default_model), cache_dir)
        return fetch_flashrank(name, cache, progress=progress, timeout=timeout)

    def __init__(
        self,
        model: str | None = None,
        *,
        max_length: int = 512,
        cache_dir: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        if self.device not in (None, "cpu"):
            raise ConfigError("flashrank runs on the CPU (ONNX Runtime): drop device or use cpu")
        self.cache_dir = cache_dir
        self.set_token_budget("cpu")
        self._loaded = load_flashrank(
            self.model, cache_dir=cache_dir, max_length=max_length, offline=self.offline
        )
        self.max_length = self._loaded.model.max_length
        self._truncation = TruncationWarner(self.name, self.max_length)

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        import numpy as np

        rt = self._loaded.model
        pairs = [[query, doc] for doc in documents]
        scores = [0.0] * len(documents)
        with self._loaded.lock:
            full = rt.full_tokenizer.encode_batch(pairs)
            long = [i for i, e in enumerate(full) if len(e.ids) > rt.max_length]
            self._truncation.report(len(long), len(documents))
            encodings = list(full)
            if long:
                for i, e in zip(long, rt.cut_tokenizer.encode_batch([pairs[i] for i in long]), strict=True):
                    encodings[i] = e
            lengths = [len(e.ids) for e in encodings]
            for batch in self.batches(lengths):
                width = max(lengths[i] for i in batch)
                ids = np.full((len(batch), width), rt.pad_token_id, dtype=np.int64)
                types = np.zeros((len(batch), width), dtype=np.int64)
                mask = np.zeros((len(batch), width), dtype=np.int64)
                for r, i in enumerate(batch):
                    e = encodings[i]
                    ids[r, : len(e.ids)] = e.ids
                    types[r, : len(e.ids)] = e.type_ids
                    mask[r, : len(e.ids)] = e.attention_mask
                feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
                logits = rt.ranker.session.run(None, {k: feed[k] for k in rt.input_names})[0]
                if logits.shape[1] == 1:
                    probs = 1.0 / (1.0 + np.exp(-logits[:, 0]))
                else:  # FlashRank's softmax probability of "relevant"
                    exp = np.exp(logits)
                    probs = exp[:, 1] / exp.sum(axis=1)
                for i, p in zip(batch, probs, strict=True):
                    scores[i] = float(p)
        return scores


BACKEND = BackendInfo(
    FlashRankReranker,
    "FlashRank: small ONNX cross-encoders on ONNX Runtime (CPU), no torch needed.",
    requires=(("flashrank", "flashrank"), ("onnxruntime", "onnxruntime")),
)
