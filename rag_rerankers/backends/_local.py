"""What the local (in-process model) backends share.

- :class:`LocalReranker`: their base class, declaring the options they all take once
  (``device``, ``batch_size``, ``offline``); :class:`TokenBudgetReranker` adds the padded-token
  cap per forward pass (``batch_tokens``) of the pair scorers; :func:`max_length_option` for
  the option whose default differs per backend.

- :func:`length_sorted_batches`: dynamic batching. Sorting pairs by token length puts
  similar lengths together, so each batch is padded only to its own longest member; a padded
  token budget (:func:`batch_token_budget`) keeps batches of long pairs small.
- :class:`TruncationWarner`: one warning per reranker, saying how many documents were cut.
- :func:`torch_dtype`: the ``dtype`` option as a ``torch.dtype``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

from rag_rerankers.base import Reranker
from rag_rerankers.errors import ConfigError
from rag_rerankers.hub import Fetched, HubFiles, fetch, local_source
from rag_rerankers.models import MODEL_CACHE, LoadedModel, ModelSource, load_error, resolve_model
from rag_rerankers.options import Option
from rag_rerankers.quiet import quiet_loading

logger = logging.getLogger("rag_rerankers")

DTYPES = ("float32", "float16", "bfloat16")
AMP_DTYPES = ("bfloat16", "float16")  # torch.autocast on float32 weights (cross-encoder)


# Padded tokens per forward pass on a CPU. Measured on TREC DL19 top-100 (MiniLM-L6, 2 cores):
# matrix products run as fast on ~400 rows as on ~3,000, while fixed batches of 32 pairs carry
# 31% padding; a 1,024-token budget cuts it to under 10% and reranks ~1.3x faster.
CPU_BATCH_TOKENS = 1024


def split_groups(flat: Sequence[float], sizes: Sequence[int]) -> list[list[float]]:
    """Cut the flat scores of several groups' documents back into one list per group
    (``score_groups`` of the backends that batch across requests).

    Example:
        >>> split_groups([0.1, 0.2, 0.3], [2, 1])
        [[0.1, 0.2], [0.3]]
    """
    out, at = [], 0
    for size in sizes:
        out.append(list(flat[at : at + size]))
        at += size
    return out


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
) -> Iterator[list[int]]:
    """Yield batches of indices, longest first.

    Each batch holds at most ``batch_size`` items and, when ``max_tokens`` is set, at most
    ``max_tokens`` padded tokens (items x its longest item); an item longer than ``max_tokens``
    forms a batch of its own.

    Example:
        >>> list(length_sorted_batches([3, 9, 1, 7], 2))
        [[1, 3], [0, 2]]
        >>> list(length_sorted_batches([3, 9, 1, 7], 4, max_tokens=12))
        [[1], [3], [0, 2]]
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1 or None, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batch: list[int] = []
    for i in order:
        # Sorted longest first, so the batch's first item sets its padded width.
        if batch and (
            len(batch) >= batch_size
            or (max_tokens is not None and lengths[batch[0]] * (len(batch) + 1) > max_tokens)
        ):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def check_batch_size(batch_size: object) -> int:
    """Validate the ``batch_size`` option: an integer >= 1.

    Example:
        >>> check_batch_size(16)
        16
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def check_batch_tokens(batch_tokens: object) -> int | None:
    """Validate the ``batch_tokens`` option: ``None`` (automatic), ``0`` (no cap) or >= 1.

    Example:
        >>> check_batch_tokens(2048), check_batch_tokens(None)
        (2048, None)
    """
    if batch_tokens is None:
        return None
    if isinstance(batch_tokens, bool) or not isinstance(batch_tokens, int) or batch_tokens < 0:
        raise ConfigError(
            f"batch_tokens must be an integer >= 0 (0: no cap) or None (automatic), got {batch_tokens!r}"
        )
    return batch_tokens


def batch_token_budget(batch_tokens: int | None, device_type: str) -> int | None:
    """The padded-token cap per forward pass: the user's (``0``: none), else 1,024 on a CPU.

    Accelerators get no automatic cap: they run large padded batches in parallel.

    Example:
        >>> batch_token_budget(None, "cpu"), batch_token_budget(None, "cuda")
        (1024, None)
        >>> batch_token_budget(0, "cpu"), batch_token_budget(4096, "cuda")
        (None, 4096)
    """
    if batch_tokens is None:
        return CPU_BATCH_TOKENS if device_type == "cpu" else None
    return batch_tokens or None


class TruncationWarner:
    """Warn once (per reranker) that documents were truncated, with how many.

    Example:
        >>> w = TruncationWarner("cross-encoder:demo", 512)
        >>> w.report(0, 10)
        False
        >>> w.report(2, 10)
        True
        >>> w.report(3, 10)  # already warned
        False
    """

    def __init__(self, name: str, max_length: int, scope: str = "query + document") -> None:
        self.name = name
        self.max_length = max_length
        self.scope = scope
        self._warned = False
        self._lock = threading.Lock()

    def report(self, cut: int, total: int) -> bool:
        if cut <= 0:
            return False
        with self._lock:
            if self._warned:
                return False
            self._warned = True
        logger.warning(
            "%s: %d of %d documents were truncated to max_length=%d tokens (%s); "
            "raise max_length or split long documents to score their full text. "
            "This warning is shown once per reranker.",
            self.name,
            cut,
            total,
            self.max_length,
            self.scope,
        )
        return True


def torch_dtype(dtype: str | None) -> Any:
    """``"float16"`` -> ``torch.float16``; ``None`` -> ``None`` (the model's own dtype)."""
    if dtype is None:
        return None
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    import torch

    return getattr(torch, dtype)


BATCH_TOKENS = Option(
    "batch_tokens",
    "int",
    None,
    "Max padded tokens (pairs x longest pair) per forward pass, so long pairs go in smaller "
    "batches with less padding; default: 1024 on a CPU, no cap on a GPU; 0: no cap.",
)


def max_length_option(default: int | None, help: str, nullable: bool = True) -> Option:
    """The ``max_length`` option, whose default and meaning differ per backend."""
    return Option("max_length", "int", default, help, nullable=nullable)


_THREADS_LOCK = threading.Lock()
_threads_set: int | None = None


def set_torch_threads(threads: int) -> None:
    """Set torch's intra-op threads (``torch.set_num_threads``) for the whole process.

    The setting is process-wide: every model of the process (and any other torch code) uses
    it from the next forward pass on. It is applied under a lock, and a change of a value set
    before by another reranker is logged. Without torch installed it does nothing.
    """
    global _threads_set
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1 or None, got {threads!r}")
    try:
        import torch
    except ImportError:  # pragma: no cover - a local backend without torch (flashrank)
        return
    with _THREADS_LOCK:
        if _threads_set is not None and _threads_set != threads:
            logger.warning("threads=%d replaces threads=%d for the whole process (torch's "
                           "setting is process-wide)", threads, _threads_set)
        torch.set_num_threads(threads)
        _threads_set = threads


class LocalReranker(Reranker):
    """Base of the backends that run a model in this process.

    Declares and checks the options every local backend takes; a subclass adds its own.
    """

    kind = "local"
    hub_files: ClassVar[HubFiles] = HubFiles()
    """The files of a hub repository this backend opens: ``rag-rerankers download`` fetches
    them, and loading a hub name fetches (or finds) them first (see :mod:`rag_rerankers.hub`)."""
    options = (
        Option("device", "str", None,
               "Torch device ('cpu', 'cuda', 'cuda:1', 'mps'); default: best available."),
        Option("batch_size", "int", 32, "Documents per forward pass.", nullable=False),
        Option("offline", "bool", False,
               "Never contact the model hub: use a local folder, a packaged model or the HF cache.",
               nullable=False),
        Option("progress", "bool", False,
               "Show the progress bars of model loading (downloads, weights); default: quiet.",
               nullable=False),
        Option("threads", "int", None,
               "torch intra-op CPU threads (torch.set_num_threads). Process-wide: it applies "
               "to every model of the process; default: torch's (one per core)."),
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        top_n: int | None = None,
        device: str | None = None,
        batch_size: int = 32,
        offline: bool = False,
        progress: bool = False,
        threads: int | None = None,
    ) -> None:
        super().__init__(model=model, top_n=top_n)
        self.device = device
        self.batch_size = check_batch_size(batch_size)
        self.offline = offline
        self.progress = progress
        self.threads = threads
        if threads is not None:  # before the subclass loads its model (ONNX reads it at load)
            set_torch_threads(threads)

    def loading(self) -> AbstractContextManager[None]:
        """Where a subclass loads its model: quiet unless ``progress=true`` (see :mod:`rag_rerankers.quiet`)."""
        return quiet_loading(self.progress)

    @classmethod
    def download(cls, model: str | None = None, *, progress: bool | None = True,
                 timeout: float | None = None, **options: Any) -> Fetched:
        """Fetch ``model`` (default: the backend's) into the Hugging Face cache, as
        ``rag-rerankers download`` does; ``options`` are the spec's (unused here). A local
        folder is returned as it is. ``timeout``: see :func:`rag_rerankers.hub.hub_timeout`."""
        name = model or cls.default_model
        if not name:
            raise ConfigError(f"backend {cls.backend!r} needs a model name to download")
        source = resolve_model(name)
        if source.local:
            return Fetched(name, Path(source.location), ())
        return fetch(source.location, cls.hub_files, backend=cls.backend, progress=progress,
                     timeout=timeout)


class TokenBudgetReranker(LocalReranker):
    """A local backend that batches (query, document) pairs under a padded-token cap.

    Declares ``batch_tokens`` once; a subclass calls :meth:`set_token_budget` with its model's
    device once the model is loaded and batches with ``self.token_budget``.
    """

    options = (BATCH_TOKENS,)

    def __init__(self, model: str | None = None, *, batch_tokens: int | None = None,
                 **common: Any) -> None:
        super().__init__(model, **common)
        self.batch_tokens = check_batch_tokens(batch_tokens)
        self.token_budget: int | None = None

    def set_token_budget(self, device_type: str) -> None:
        """The cap for this device: the user's, else 1,024 on a CPU (see :func:`batch_token_budget`)."""
        self.token_budget = batch_token_budget(self.batch_tokens, device_type)
        self.device_type = device_type

    def batches(self, lengths: Sequence[int]) -> Iterator[list[int]]:
        """Indices of the pairs, in length-sorted batches of at most ``batch_size`` pairs and
        ``token_budget`` padded tokens (see :func:`length_sorted_batches`)."""
        return length_sorted_batches(lengths, self.batch_size, self.token_budget)


def load_sentence_transformers(
    class_name: str,
    name: str,
    *,
    device: str | None = None,
    offline: bool = False,
    errors: tuple[type[BaseException], ...] = (OSError, ValueError),
    hub_files: HubFiles | None = None,
    backend: str = "embedding",
) -> LoadedModel[Any]:
    """Load (once per process) a sentence-transformers model class (``SentenceTransformer``,
    ``MultiVectorEncoder``) from a folder, packaged model or hub name.

    ``errors`` are the loading failures reported as
    :class:`~rag_rerankers.ModelNotFoundError` (naming where the model was looked for). A hub
    name is fetched (or found) in the Hugging Face cache first: ``hub_files`` of ``backend``.
    """
    source = resolve_model(name)

    def loader() -> Any:
        import sentence_transformers

        cls = getattr(sentence_transformers, class_name)
        local = local_source(source, hub_files or HubFiles(), backend=backend, offline=offline)
        try:
            return cls(local.location, device=device, local_files_only=True)
        except errors as exc:
            raise load_error(local, offline, exc) from exc
        except RuntimeError as exc:  # torch: "Expected one of cpu, cuda, ... device type"
            if device is not None and "device" in str(exc):
                raise ConfigError(f"invalid device {device!r}: {exc}") from exc
            raise

    return MODEL_CACHE.get((class_name, source.location, device), loader)


def best_device() -> Any:
    """CUDA, else MPS, else the CPU (a ``torch.device``)."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_causal_lm_parts(
    source: ModelSource, *, backend: str, hub_files: HubFiles, offline: bool, dtype: str | None,
    device: str | None,
) -> tuple[Any, Any]:
    """The tokenizer (padding on the left) and ``AutoModelForCausalLM`` of a model, for the
    causal-LM rerankers (``mxbai``, ``causal-lm``, ``bge-gemma``), the model in eval mode on
    ``device`` (default :func:`best_device`).

    A hub name becomes its cache folder first (bounded wait, no retries: :mod:`rag_rerankers.hub`),
    then both are opened from that folder only; a failure is a ``ModelNotFoundError``, an
    unknown device a ``ConfigError``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = local_source(source, hub_files, backend=backend, offline=offline)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            local.location, padding_side="left", local_files_only=True
        )
        model = AutoModelForCausalLM.from_pretrained(
            local.location, dtype=torch_dtype(dtype) or "auto", local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise load_error(local, offline, exc) from exc
    try:
        model = model.to(torch.device(device) if device else best_device()).eval()
    except RuntimeError as exc:  # "Expected one of cpu, cuda, ... device type"
        raise ConfigError(f"invalid device {device!r}: {exc}") from exc
    return tokenizer, model
