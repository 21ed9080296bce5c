"""Getting models from the Hugging Face hub onto this machine, within a bounded time.

Local backends declare which files of a hub repository they open (:class:`HubFiles`, the
``hub_files`` of :class:`~rag_rerankers.backends._local.LocalReranker`). Before a backend
opens a hub name, :func:`local_source` turns it into a folder of the Hugging Face cache:

- with ``offline=true``, ``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1`` the network is
  never touched: the cached snapshot is used, or :class:`~rag_rerankers.ModelNotFoundError`
  says what to do;
- otherwise one request asks the hub (``HF_ENDPOINT``, a mirror, or huggingface.co) for the
  repository's files, waiting at most :func:`hub_timeout` seconds
  (``RAG_RERANKERS_HUB_TIMEOUT``, default 5) and never retrying. A hub that answers gets the
  declared files fetched by ``huggingface_hub.snapshot_download`` (its cache, its progress
  bars); one that does not falls back to the cached snapshot, or fails in seconds with an
  error naming the model, the folder searched and the fixes.

``rag-rerankers download SPEC`` (:mod:`rag_rerankers.download`) fetches the same files ahead
of time through :func:`fetch`.

Example:
    >>> files = HubFiles()
    >>> files.select(["config.json", "model.safetensors", "pytorch_model.bin",
    ...               "onnx/model.onnx", "onnx/config.json", "vocab.txt", "README.md"])
    ['config.json', 'model.safetensors', 'vocab.txt']
    >>> files.select(["config.json", "pytorch_model.bin"])
    ['config.json', 'pytorch_model.bin']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from rag_rerankers.errors import ConfigError, ModelNotFoundError
from rag_rerankers.models import ModelSource, hf_cache_dir

logger = logging.getLogger("rag_rerankers")

TIMEOUT_ENV = "RAG_RERANKERS_HUB_TIMEOUT"
"""Environment variable: seconds to wait for the hub's first answer before giving up."""

DEFAULT_TIMEOUT = 5.0

OFFLINE_ENVS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")

# Configuration and tokenizer files, at the top of the repository ("*" never crosses a "/").
CONFIG_FILES = ("*.json", "*.txt", "*.model", "*.tiktoken", "*.py")
# Sentence-transformers module folders (1_Pooling/, 2_Dense/, ...): their files too.
ST_MODULE_FILES = ("[0-9]_*/*",)
# Weights, in order of preference: the first format present in a folder is fetched, the others not.
WEIGHTS = (
    ("model.safetensors", "model-*-of-*.safetensors"),
    ("pytorch_model.bin", "pytorch_model-*-of-*.bin"),
)


def _matches(path: str, pattern: str) -> bool:
    """Glob match per path segment, so ``*.json`` matches ``config.json``, not ``onnx/config.json``.

    Example:
        >>> _matches("1_Pooling/config.json", "[0-9]_*/*"), _matches("onnx/config.json", "*.json")
        (True, False)
    """
    parts, globs = path.split("/"), pattern.split("/")
    return len(parts) == len(globs) and all(fnmatchcase(p, g) for p, g in zip(parts, globs, strict=True))


@dataclass(frozen=True)
class HubFiles:
    """The files of a hub repository that a backend opens.

    ``patterns`` are globs matched per path segment (``*`` never crosses ``/``). ``weights``
    lists alternative weight formats in order of preference: in each folder that holds
    selected files (and at the top), only the first format present is fetched, so a repository
    publishing safetensors, PyTorch, ONNX and OpenVINO copies costs one download.

    Example:
        >>> HubFiles(ST_MODULE_FILES).select(["1_Pooling/config.json", "2_Dense/model.safetensors",
        ...                                   "2_Dense/pytorch_model.bin", "model.safetensors"])
        ['1_Pooling/config.json', '2_Dense/model.safetensors', 'model.safetensors']
    """

    patterns: tuple[str, ...] = CONFIG_FILES
    weights: tuple[tuple[str, ...], ...] = WEIGHTS

    def __add__(self, more: tuple[str, ...]) -> HubFiles:
        """These files plus ``more`` patterns (e.g. ``HubFiles() + ("artifact.metadata",)``)."""
        return HubFiles(self.patterns + tuple(more), self.weights)

    def select(self, files: Iterable[str]) -> list[str]:
        """The files to fetch among a repository's ``files`` (sorted)."""
        files = list(files)
        weight_names = {p for group in self.weights for p in group}

        def folder(f: str) -> str:
            return f.rpartition("/")[0]

        def is_weight(f: str, names: Iterable[str]) -> bool:
            return any(fnmatchcase(f.rpartition("/")[2], p) for p in names)

        matched = [f for f in files if any(_matches(f, p) for p in self.patterns)]
        chosen = {f for f in matched if not is_weight(f, weight_names)}
        # Weights of the top folder and of every folder the patterns reach (2_Dense/, ...).
        for where in {""} | {folder(f) for f in matched}:
            for group in self.weights:
                found = [f for f in files if folder(f) == where and is_weight(f, group)]
                if found:
                    chosen.update(found)
                    break
        return sorted(chosen)


SENTENCE_TRANSFORMERS_FILES = HubFiles(CONFIG_FILES + ST_MODULE_FILES)
"""A sentence-transformers model: configuration, tokenizer, module folders and weights."""


def hub_timeout(value: float | None = None) -> float:
    """Seconds to wait for the hub's first answer: ``value``, else ``$RAG_RERANKERS_HUB_TIMEOUT``,
    else 5.

    Example:
        >>> hub_timeout(2)
        2.0
    """
    raw: Any = value if value is not None else os.environ.get(TIMEOUT_ENV, "").strip() or DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not seconds > 0:
        raise ConfigError(f"the hub timeout must be > 0 seconds, got {raw!r}")
    return seconds


def hub_endpoint() -> str:
    """The hub in use: ``$HF_ENDPOINT`` (read now, so a mirror set at run time counts) or
    huggingface_hub's default."""
    value = os.environ.get("HF_ENDPOINT", "").strip()
    if value:
        return value.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT


def offline_reason(offline: bool = False) -> str | None:
    """Why the hub must not be contacted (``"offline=true"``, ``"HF_HUB_OFFLINE=1"``), or ``None``.

    Example:
        >>> offline_reason(True)
        'offline=true'
    """
    if offline:
        return "offline=true"
    for name in OFFLINE_ENVS:
        if os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return f"{name}={os.environ[name].strip()}"
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub comes with every local extra
        return None
    # huggingface_hub reads the variable once, at import: it refuses every request if it was set.
    return "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else None


def storage_folder(repo_id: str, cache_dir: str | None = None) -> Path:
    """The cache folder of a model repository (``models--org--name``)."""
    from huggingface_hub.file_download import repo_folder_name

    return Path(cache_dir or hf_cache_dir()) / repo_folder_name(repo_id=repo_id, repo_type="model")


@dataclass(frozen=True)
class Fetched:
    """Where a model went: the ``folder`` and the ``files`` fetched into it (or found there)."""

    model: str
    folder: Path
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        """Bytes on disk of :attr:`files`."""
        return sum((self.folder / f).stat().st_size for f in self.files if (self.folder / f).exists())


def download_hint(backend: str | None, model: str) -> str:
    """The ways to get a model onto a machine, for error messages."""
    spec = f"{backend}:{model}" if backend else model
    return (
        f"To fix it: run `rag-rerankers download \"{spec}\"` where the hub is reachable (then "
        "copy that cache folder here, or point HF_HUB_CACHE/HF_HOME at it); or give a local "
        f"folder as the model (\"{backend or 'backend'}:/path/to/model\"); or set HF_ENDPOINT "
        "to a reachable hub mirror."
    )


def _not_found(repo_id: str, backend: str | None, folder: Path, reason: str,
               files: HubFiles, revision: str | None = None) -> ModelNotFoundError:
    missing = missing_files(repo_id, files, revision=revision, cache_dir=str(folder.parent))
    where = (f"is not complete in the Hugging Face cache ({str(folder)!r} lacks "
             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})" if missing else
             f"is not in the Hugging Face cache (searched {str(folder)!r})")
    return ModelNotFoundError(f"model {repo_id!r} {where} and {reason}. {download_hint(backend, repo_id)}")


def _present(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _snapshot(repo_id: str, revision: str | None, cache_dir: str | None) -> tuple[Path, str]:
    storage = storage_folder(repo_id, cache_dir)
    revision = revision or "main"
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    return storage / "snapshots" / commit, commit


def missing_files(repo_id: str, files: HubFiles, *, revision: str | None = None,
                  cache_dir: str | None = None) -> list[str]:
    """Declared files that a partly cached snapshot lacks (``[]``: complete, or none cached)."""
    folder, commit = _snapshot(repo_id, revision, cache_dir)
    if not folder.is_dir():
        return []
    listing = _tree_listing(storage_folder(repo_id, cache_dir), commit)
    present = set(_present(folder))
    wanted = files.select(listing if listing is not None else present)
    return sorted(set(wanted) - present)


def cached(repo_id: str, files: HubFiles, *, revision: str | None = None,
           cache_dir: str | None = None) -> Fetched | None:
    """The cached snapshot of ``repo_id`` holding the declared files, or ``None``; never
    touches the network. Which files the snapshot should hold comes from the repository listing
    huggingface_hub caches beside it (else from the files present)."""
    folder, commit = _snapshot(repo_id, revision, cache_dir)
    if not folder.is_dir():
        return None
    present = _present(folder)
    listing = _tree_listing(storage_folder(repo_id, cache_dir), commit)
    wanted = files.select(listing if listing is not None else present)
    if not wanted or set(wanted) - set(present):
        return None  # an interrupted download, or another backend's subset of the files
    return Fetched(repo_id, folder, tuple(wanted))


def _tree_listing(storage: Path, commit: str) -> list[str] | None:
    """The repository's file list that huggingface_hub cached with the snapshot, if any."""
    try:
        from huggingface_hub._tree_cache import read_tree_cache
    except ImportError:  # pragma: no cover - older huggingface_hub: trust the files present
        return None
    entries = read_tree_cache(str(storage), commit)
    return None if entries is None else list(entries)


def _quiet_tqdm() -> type:
    from huggingface_hub.utils import tqdm as hf_tqdm

    class Quiet(hf_tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Quiet


def fetch(
    repo_id: str,
    files: HubFiles,
    *,
    backend: str | None = None,
    revision: str | None = None,
    offline: bool = False,
    timeout: float | None = None,
    progress: bool | None = None,
    cache_dir: str | None = None,
) -> Fetched:
    """Make ``repo_id``'s declared files available in the Hugging Face cache; return where.

    Offline (``offline`` or ``HF_HUB_OFFLINE``): the cached snapshot, without any request.
    Online: one request of at most ``timeout`` seconds lists the repository's files (no
    retries); then ``snapshot_download`` fetches those :meth:`HubFiles.select` picks. A hub that
    does not answer in time falls back to the cache. ``progress``: ``None`` leaves
    huggingface_hub's progress bars as configured, ``False`` hides them.

    Raises:
        ModelNotFoundError: not cached and the hub is off limits, unreachable, or has no such
            model; the message names the folder searched and the fixes.
    """
    revision = revision or "main"
    cache = cache_dir or hf_cache_dir()
    storage = storage_folder(repo_id, cache)
    reason = offline_reason(offline)
    if reason is not None:
        found = cached(repo_id, files, revision=revision, cache_dir=cache)
        if found is None:
            raise _not_found(repo_id, backend, storage,
                             f"{reason} forbids contacting the hub (no request was made)",
                             files, revision)
        return found

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    seconds = hub_timeout(timeout)
    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, timeout=seconds)
    except (GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        found = cached(repo_id, files, revision=revision, cache_dir=cache)
        if found is not None:
            return found
        what = "is gated or private: accept its terms on the hub and set HF_TOKEN" if isinstance(
            exc, GatedRepoError) else f"has no revision {revision!r}" if isinstance(
            exc, RevisionNotFoundError) else "does not exist or is private (then set HF_TOKEN)"
        raise ModelNotFoundError(
            f"model {repo_id!r} {what} on the hub at {endpoint} (cache searched: "
            f"{str(storage)!r}). {download_hint(backend, repo_id)}"
        ) from None
    except Exception as exc:  # no answer in time, refused, reset, 5xx: the hub is unreachable
        found = cached(repo_id, files, revision=revision, cache_dir=cache)
        if found is not None:
            logger.info("hub %s unreachable (%s): using the cached %s", endpoint,
                        type(exc).__name__, found.folder)
            return found
        raise _not_found(
            repo_id, backend, storage,
            f"the hub at {endpoint} could not be reached ({type(exc).__name__}: {_short(exc)}; "
            f"it is given {seconds:g} s to answer, set by {TIMEOUT_ENV})",
            files, revision,
        ) from None
    names = [s.rfilename for s in (info.siblings or [])]
    wanted = files.select(names)
    if not wanted:
        raise ModelNotFoundError(
            f"model {repo_id!r} on the hub at {endpoint} has none of the files "
            f"{backend or 'this backend'} loads ({', '.join(files.patterns)}); its files: "
            f"{', '.join(names[:20]) or 'none'}"
        )
    import glob

    kwargs: dict[str, Any] = {"tqdm_class": _quiet_tqdm()} if progress is False else {}
    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=cache, endpoint=endpoint,
            allow_patterns=[glob.escape(f) for f in wanted], **kwargs,
        )
    except Exception as exc:  # the hub answered, then failed mid-download
        found = cached(repo_id, files, revision=revision, cache_dir=cache)
        if found is not None:
            return found
        raise _not_found(repo_id, backend, storage,
                         f"fetching it from the hub at {endpoint} failed ({type(exc).__name__}: "
                         f"{_short(exc)})", files, revision) from None
    return Fetched(repo_id, Path(folder), tuple(wanted))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
    return text[:200]


def local_source(source: ModelSource, files: HubFiles, *, backend: str, offline: bool) -> ModelSource:
    """``source`` as a local folder: a hub name becomes its snapshot in the Hugging Face cache
    (fetched if needed, see :func:`fetch`); a folder stays as it is. The loader then opens it
    with ``local_files_only=True``, so no library retries the hub behind our back.

    Example:
        >>> local_source(ModelSource("x", "/models/x", local=True), HubFiles(),
        ...              backend="cross-encoder", offline=True).location
        '/models/x'
    """
    if source.local:
        return source
    found = fetch(source.location, files, backend=backend, offline=offline)
    return ModelSource(name=source.name, location=str(found.folder), local=True)
