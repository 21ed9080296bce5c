"""``cross-encoder`` (alias ``bge``): a query-document cross-encoder (sentence-transformers).

The model is loaded once per process through sentence-transformers' ``CrossEncoder`` (hub
name, local folder or HF cache), then scored by our own loop: every pair is tokenized once,
pairs are sorted by token length and batched (each batch padded only to its own longest pair, and on a CPU capped at
1,024 padded tokens, which keeps padding under 10%),
and the forward pass runs under ``torch.inference_mode`` and the model's lock.

Scores are logits (:attr:`ScoreType.LOGIT`; a sigmoid turns them into probabilities):

- one-logit heads (ms-marco MiniLM, bge-reranker): the logit itself;
- two-logit heads (``[not relevant, relevant]``): ``logit[1] - logit[0]``, whose sigmoid is
  the softmax probability of "relevant". Taking ``logit[1]`` alone (as LangChain's
  ``HuggingFaceCrossEncoder`` does) can misorder documents.

Opt-in fast CPU paths, from the config string:

- ``?quantize=int8``: dynamic int8 quantization of the linear layers (``torch.ao``);
- ``?engine=onnx``: export to ONNX once per process and run with ONNX Runtime;
- ``?engine=onnx&quantize=int8``: ONNX Runtime with dynamically quantized int8 weights;
- ``?dtype=bfloat16``: bfloat16 weights (fast on CPUs with AVX512-BF16 or AMX);
- ``?amp=bfloat16``: mixed precision (``torch.autocast``): matrix products in bfloat16,
  float32 weights, norms and residual sums, so scores stay closer to float32's. The weights
  are the float32 model's, shared with float32 rerankers of the same model.

Example:
    >>> from rag_rerankers.registry import get_backend
    >>> get_backend("bge")[1], get_backend("cross-encoder")[1]
    ('BAAI/bge-reranker-v2-m3', 'cross-encoder/ms-marco-MiniLM-L-6-v2')
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_rerankers.backends._local import (
    AMP_DTYPES,
    DTYPES,
    TokenBudgetReranker,
    TruncationWarner,
    max_length_option,
    split_groups,
    torch_dtype,
)
from rag_rerankers.errors import ConfigError
from rag_rerankers.hub import SENTENCE_TRANSFORMERS_FILES, local_source
from rag_rerankers.models import MODEL_CACHE, LoadedModel, ModelSource, load_error, resolve_model
from rag_rerankers.options import Option
from rag_rerankers.registry import Alias, BackendInfo
from rag_rerankers.types import ScoreType

ENGINES = ("torch", "onnx")
QUANTIZE = ("int8",)


@dataclass
class CrossEncoderRuntime:
    """A loaded cross-encoder: its tokenizer and a function from padded inputs to logits."""

    tokenizer: Any
    run: Callable[..., Any]  # (numpy int64 arrays, amp=None) -> numpy [batch, labels]
    num_labels: int
    max_length: int
    input_names: tuple[str, ...]
    pad_token_id: int
    engine: str
    device_type: str  # "cpu", "cuda", "mps": picks the automatic batch token budget
    keep: list[Any] = field(default_factory=list)  # objects that must outlive ``run``


def _load_st_cross_encoder(
    source: ModelSource, *, device: str | None, offline: bool, dtype: str | None
) -> Any:
    from sentence_transformers import CrossEncoder

    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["model_kwargs"] = {"dtype": torch_dtype(dtype)}
    # A hub name becomes its cache folder first: bounded wait, no retries (rag_rerankers.hub).
    local = local_source(source, CrossEncoderReranker.hub_files, backend="cross-encoder",
                         offline=offline)
    try:
        return CrossEncoder(local.location, device=device, local_files_only=True, **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise load_error(local, offline, exc) from exc


def _st_max_length(ce: Any) -> int | None:
    # sentence-transformers 6 renamed ``max_length`` to ``max_seq_length`` (the old name warns).
    if "max_seq_length" in dir(type(ce)):
        return ce.max_seq_length
    return getattr(ce, "max_length", None)


def _torch_runner(model: Any, device: Any) -> Callable[..., Any]:
    import contextlib

    import torch

    def run(features: dict[str, Any], amp: str | None = None) -> Any:
        inputs = {k: torch.from_numpy(v).to(device) for k, v in features.items()}
        mixed = (
            torch.autocast(torch.device(device).type, dtype=getattr(torch, amp))
            if amp
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), mixed:
            return model(**inputs).logits.float().cpu().numpy()

    return run


def export_onnx(model: Any, input_names: Sequence[str], path: str) -> None:
    """Export a ``...ForSequenceClassification`` model to ONNX with one output, ``logits``.

    Batch and sequence axes are dynamic. The model is copied, so ``model`` is left as it was.
    """
    import copy

    import torch

    export_model = copy.deepcopy(model).float().cpu().eval()
    # The TorchScript exporter traces eager attention reliably (SDPA masks do not trace).
    export_model.config._attn_implementation = "eager"
    names = tuple(input_names)

    class _Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args, strict=True))).logits

    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in names}
    dynamic["logits"] = {0: "batch"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Logits(export_model),
            example,
            path,
            input_names=list(names),
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )


def _onnx_runner(
    model: Any, input_names: tuple[str, ...], quantize: str | None, keep: list[Any]
) -> Callable[[dict[str, Any]], Any]:
    """Export ``model`` to ONNX (once per process) and return an ONNX Runtime runner."""
    import os

    import torch

    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from rag_rerankers.errors import MissingDependencyError

        raise MissingDependencyError("cross-encoder", "onnx", exc.name or "onnxruntime") from exc

    folder = tempfile.TemporaryDirectory(prefix="rag-rerankers-onnx-")
    keep.append(folder)
    path = os.path.join(folder.name, "model.onnx")
    export_onnx(model, input_names, path)
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = os.path.join(folder.name, "model.int8.onnx")
        quantize_dynamic(path, quantized, weight_type=QuantType.QInt8)
        path = quantized
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(features: dict[str, Any]) -> Any:
        return session.run(["logits"], {k: features[k] for k in input_names})[0]

    return run


def load_cross_encoder(
    name: str,
    *,
    device: str | None = None,
    offline: bool = False,
    dtype: str | None = None,
    engine: str = "torch",
    quantize: str | None = None,
) -> LoadedModel[CrossEncoderRuntime]:
    """Load (once per process and settings) a cross-encoder runtime."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"quantize must be one of {list(QUANTIZE)} or None, got {quantize!r}")
    if (engine == "onnx" or quantize) and device not in (None, "cpu"):
        raise ConfigError(
            "the fast paths (engine=onnx, quantize=int8) are CPU paths: drop them or use device=cpu"
        )
    if (engine == "onnx" or quantize) and dtype not in (None, "float32"):
        raise ConfigError("engine=onnx and quantize=int8 start from float32 weights: drop dtype")
    source = resolve_model(name)
    if engine == "onnx" or quantize:
        device = "cpu"

    def loader() -> CrossEncoderRuntime:
        ce = _load_st_cross_encoder(source, device=device, offline=offline, dtype=dtype)
        model = ce.model.eval()
        tokenizer = ce.tokenizer
        num_labels = int(model.config.num_labels)
        if num_labels not in (1, 2):
            raise ConfigError(
                f"model {name!r} has a {num_labels}-label head; a reranker needs one logit "
                "(relevance) or two ([not relevant, relevant])"
            )
        input_names = tuple(
            n for n in tokenizer.model_input_names
            if n in ("input_ids", "attention_mask", "token_type_ids")
        )
        keep: list[Any] = []
        if engine == "onnx":
            run = _onnx_runner(model, input_names, quantize, keep)
        elif quantize == "int8":
            import torch
            from torch.ao.quantization import quantize_dynamic

            with warnings.catch_warnings():  # torch.ao announces its move to torchao
                warnings.simplefilter("ignore")
                qmodel = quantize_dynamic(model.float(), {torch.nn.Linear}, dtype=torch.qint8)
            run = _torch_runner(qmodel, "cpu")
        else:
            run = _torch_runner(model, model.device)
        device_type = "cpu" if engine == "onnx" or quantize else model.device.type
        pad = tokenizer.pad_token_id
        return CrossEncoderRuntime(
            tokenizer=tokenizer,
            run=run,
            num_labels=num_labels,
            max_length=int(_st_max_length(ce) or tokenizer.model_max_length),
            input_names=input_names,
            pad_token_id=int(pad if pad is not None else 0),
            engine=engine if quantize is None else f"{engine}+{quantize}",
            device_type=device_type,
            keep=keep,
        )

    key = ("cross-encoder", source.location, device, dtype, engine, quantize)
    return MODEL_CACHE.get(key, loader)


def encode_pairs(
    tokenizer: Any, query: str, documents: Sequence[str], max_length: int, input_names: Sequence[str]
) -> tuple[dict[str, list[list[int]]], int]:
    """Tokenize ``(query, document)`` pairs once; returns the encodings and how many were cut.

    Pairs are first encoded in full (which gives their true length); only those longer than
    ``max_length`` are encoded again with truncation (``longest_first``, like
    sentence-transformers).
    """
    queries = [query] * len(documents)
    enc = tokenizer(queries, list(documents), truncation=False, padding=False, verbose=False)
    columns = {name: list(enc[name]) for name in input_names}
    long = [i for i, ids in enumerate(columns["input_ids"]) if len(ids) > max_length]
    if long:
        cut = tokenizer(
            [query] * len(long),
            [documents[i] for i in long],
            truncation=True,
            max_length=max_length,
            padding=False,
        )
        for name in input_names:
            for j, i in enumerate(long):
                columns[name][i] = cut[name][j]
    return columns, len(long)


def pad_batch(
    columns: dict[str, list[list[int]]], batch: Sequence[int], pad_token_id: int
) -> dict[str, Any]:
    """Right-pad one batch to its longest member, as int64 numpy arrays."""
    import numpy as np

    width = max(len(columns["input_ids"][i]) for i in batch)
    out: dict[str, Any] = {}
    for name, rows in columns.items():
        fill = pad_token_id if name == "input_ids" else 0
        array = np.full((len(batch), width), fill, dtype=np.int64)
        for r, i in enumerate(batch):
            row = rows[i]
            array[r, : len(row)] = row
        out[name] = array
    return out


def head_scores(logits: Any, num_labels: int) -> list[float]:
    """One relevance logit per row: the logit, or ``relevant - not relevant`` for two labels."""
    if num_labels == 1:
        return [float(x) for x in logits[:, 0]]
    return [float(x) for x in logits[:, 1] - logits[:, 0]]


class CrossEncoderReranker(TokenBudgetReranker):
    """Score each (query, document) pair jointly with a cross-encoder.

    Options: ``options`` below and the local backends' shared ones (``rag-rerankers backends``
    lists them all, with their help).
    """

    backend = "cross-encoder"
    default_model = "cross-encoder/ms-marco-MiniLM-L-6-v2"
    score_type = ScoreType.LOGIT
    hub_files = SENTENCE_TRANSFORMERS_FILES
    options = (
        max_length_option(None, "Max tokens per scored input (longer ones are truncated, with a "
                          "warning); default: the model's."),
        Option("dtype", "str", None, "Weights dtype (default: the model's).", choices=DTYPES),
        Option("engine", "str", "torch", "Inference engine: torch, or onnx (ONNX Runtime, CPU).",
               nullable=False, choices=ENGINES),
        Option("quantize", "str", None, "int8: dynamic int8 quantization (CPU fast path).",
               choices=QUANTIZE),
        Option("amp", "str", None,
               "Mixed precision (torch.autocast) on float32 weights: matrix products in this "
               "dtype, norms and residuals in float32 (closer to float32 scores than dtype).",
               choices=AMP_DTYPES),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        max_length: int | None = None,
        dtype: str | None = None,
        engine: str = "torch",
        quantize: str | None = None,
        amp: str | None = None,
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        if amp is not None and amp not in AMP_DTYPES:
            raise ConfigError(f"amp must be one of {list(AMP_DTYPES)} or None, got {amp!r}")
        if amp is not None and (engine != "torch" or quantize or dtype not in (None, "float32")):
            raise ConfigError(
                "amp mixes precisions on float32 torch weights: drop engine, quantize and dtype "
                "(or drop amp)"
            )
        if max_length is not None and max_length < 8:
            raise ConfigError(f"max_length must be >= 8 tokens, got {max_length!r}")
        self.dtype = dtype
        self.engine = engine
        self.quantize = quantize
        self.amp = amp
        with self.loading():
            self._loaded = load_cross_encoder(
                self.model, device=self.device, offline=self.offline, dtype=dtype, engine=engine,
                quantize=quantize,
            )
        runtime = self._loaded.model
        self.max_length = max_length or runtime.max_length
        self.set_token_budget(runtime.device_type)
        self._truncation = TruncationWarner(self.name, self.max_length)

    def token_window(self) -> Any:
        """The model's window, shared by query and document (for ``long_docs``)."""
        from rag_rerankers.types import TokenWindow

        tokenizer = self._loaded.model.tokenizer
        return TokenWindow(
            max_tokens=self.max_length,
            tokenizer=tokenizer,
            pair_with_query=True,
            reserved=int(tokenizer.num_special_tokens_to_add(pair=True)),
            lock=self._loaded.lock,
        )

    @property
    def num_labels(self) -> int:
        """1 or 2: the size of the model's classification head."""
        return self._loaded.model.num_labels

    def _score(self, query: str, documents: Sequence[str]) -> list[float]:
        return self.score_groups([(query, documents)])[0]

    def score_groups(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """Raw scores of several ``(query, documents)`` groups, their pairs sharing forward passes.

        The pairs of every group are tokenized, length-sorted and batched together (under
        ``batch_size`` and the token budget), then the scores are split back per group. The
        server's cross-request batching (:mod:`rag_rerankers.serve.batcher`) calls this with
        the pairs of concurrent requests; a score differs from scoring its group alone only by
        float rounding (a different batch pads the pair differently, masked out).

        Example:
            >>> from rag_rerankers.backends.cross_encoder import CrossEncoderReranker
            >>> callable(CrossEncoderReranker.score_groups)
            True
        """
        runtime = self._loaded.model
        sizes = [len(docs) for _, docs in groups]
        flat: list[float] = [0.0] * sum(sizes)
        with self._loaded.lock:
            columns: dict[str, list[list[int]]] = {name: [] for name in runtime.input_names}
            cut = 0
            for query, documents in groups:
                encoded, n_cut = encode_pairs(
                    runtime.tokenizer, query, documents, self.max_length, runtime.input_names
                )
                cut += n_cut
                for name in runtime.input_names:
                    columns[name].extend(encoded[name])
            self._truncation.report(cut, len(flat))
            lengths = [len(ids) for ids in columns["input_ids"]]
            for batch in self.batches(lengths):
                features = pad_batch(columns, batch, runtime.pad_token_id)
                logits = runtime.run(features, amp=self.amp) if self.amp else runtime.run(features)
                for i, s in zip(batch, head_scores(logits, runtime.num_labels), strict=True):
                    flat[i] = s
        return split_groups(flat, sizes)

BACKEND = BackendInfo(
    CrossEncoderReranker,
    "Cross-encoder (sentence-transformers): query and document read jointly; one- or "
    "two-logit heads; optional ONNX/int8 CPU fast path.",
    aliases=(Alias("bge", "BAAI/bge-reranker-v2-m3"),),
    requires=(("sentence_transformers", "sentence-transformers"), ("torch", "torch")),
)
