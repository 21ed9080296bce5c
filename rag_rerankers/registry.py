"""The explicit backend registry: every backend name and alias, its class, default model,
options, extra and kind.

Nothing is guessed from a model name: ``init_reranker("cross-encoder:BAAI/bge-reranker-v2-m3")``
uses the ``cross-encoder`` backend because the string says so.

Adding a backend means adding one :class:`BackendInfo` to ``_BUILTIN`` below (or calling
:func:`register_backend` for your own class).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rag_rerankers.backends._local import AMP_DTYPES, DTYPES
from rag_rerankers.config import format_value
from rag_rerankers.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from rag_rerankers.base import Reranker

OptionType = Literal["int", "float", "bool", "str", "list"]
Kind = Literal["lexical", "local", "api"]


@dataclass(frozen=True)
class Option:
    """One option a backend accepts, from a config string, a dict or keyword arguments."""

    name: str
    type: OptionType
    default: Any = None
    help: str = ""
    nullable: bool = True
    env: tuple[str, ...] = ()
    secret: bool = False
    choices: tuple[Any, ...] | None = None

    def coerce(self, value: Any, backend: str) -> Any:
        """Check and convert a value (already typed by the config parser) to this option's type."""
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"option {self.name!r} of backend {backend!r} cannot be None")
        ok: bool
        if self.type == "bool":
            ok = isinstance(value, bool)
        elif self.type == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.type == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
            if ok and not math.isfinite(value):  # "1e999" parses as inf; NaN/inf break scoring
                raise ConfigError(
                    f"option {self.name!r} of backend {backend!r} must be a finite number, "
                    f"got {value!r}"
                )
        elif self.type == "list":  # a list/tuple, or a str the option itself splits
            ok = isinstance(value, (str, list, tuple))
            value = tuple(value) if isinstance(value, list) else value
        else:  # str: the config parser may have typed "1" as 1; take the text back
            if isinstance(value, (bool, int, float)):
                value = format_value(value)
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(
                f"option {self.name!r} of backend {backend!r} must be {self.type}, "
                f"got {type(value).__name__}"
            )
        if self.choices is not None and value not in self.choices:
            raise ConfigError(
                f"option {self.name!r} of backend {backend!r} must be one of "
                f"{list(self.choices)}, got {value!r}"
            )
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": None if self.secret else self.default,
            "help": self.help,
            "env": list(self.env),
            "choices": list(self.choices) if self.choices is not None else None,
        }


@dataclass(frozen=True)
class Alias:
    """Another name for a backend, optionally with its own default model (``bge``)."""

    name: str
    default_model: str | None = None


@dataclass(frozen=True)
class BackendInfo:
    """A registry entry.

    ``target`` is ``"module:Class"``, imported only when the backend is built.
    ``requires`` lists ``(import name, PyPI distribution)`` pairs checked before the import.
    """

    name: str
    target: str
    kind: Kind
    extra: str
    description: str
    score_type: str
    default_model: str | None = None
    aliases: tuple[Alias, ...] = ()
    options: tuple[Option, ...] = ()
    requires: tuple[tuple[str, str], ...] = ()
    docs_url: str | None = None

    def all_options(self) -> tuple[Option, ...]:
        """The constructor's options: ``top_n`` and this backend's own."""
        return COMMON_OPTIONS + self.options

    def accepted_options(self) -> tuple[Option, ...]:
        """Everything a spec may set: :meth:`all_options` plus the ranking controls."""
        return self.all_options() + CONTROL_OPTIONS

    def option_map(self) -> dict[str, Option]:
        return {opt.name: opt for opt in self.accepted_options()}

    def check_dependencies(self) -> None:
        """Raise :class:`MissingDependencyError` naming the extra if a requirement is missing."""
        for module, distribution in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise MissingDependencyError(self.name, self.extra, distribution)

    def load_class(self) -> type[Reranker]:
        self.check_dependencies()
        module_name, _, class_name = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # a requirement imported by the backend module itself
            missing = exc.name or str(exc)
            raise MissingDependencyError(self.name, self.extra, missing) from exc
        cls: type[Reranker] = getattr(module, class_name)
        return cls

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": [a.name for a in self.aliases],
            "alias_models": {a.name: a.default_model for a in self.aliases if a.default_model},
            "default_model": self.default_model,
            "kind": self.kind,
            "extra": self.extra,
            "install": f'pip install "rag-rerankers[{self.extra}]"',
            "score_type": self.score_type,
            "description": self.description,
            "options": [opt.as_dict() for opt in self.accepted_options()],
            "docs_url": self.docs_url,
        }


# Stopword lists bm25s knows (checked here so a typo is a ConfigError when the reranker is
# built, not a ValueError from bm25s at the first query). "no" parses as False in config
# strings: write "norwegian".
BM25_STOPWORDS: tuple[str, ...] = (
    "en", "english", "en_plus", "english_plus", "de", "german", "nl", "dutch", "fr", "french",
    "es", "spanish", "pt", "portuguese", "it", "italian", "ru", "russian", "sv", "swedish",
    "no", "norwegian", "zh", "chinese", "tr", "turkish", "ko", "korean", "da", "danish",
)

CONTROL_OPTIONS: tuple[Option, ...] = (
    Option("normalize", "str", "auto",
           "Score mapping: 'auto' (sigmoid for logits, similarity to [0,1], 0-1 scores kept), "
           "'none' (raw), 'sigmoid', 'minmax' (per list; makes thresholds meaningless).",
           choices=("auto", "none", "sigmoid", "minmax")),
    Option("score_threshold", "float", None,
           "Drop candidates whose (normalized) score is below this; applied before top_n."),
    Option("fallbacks", "list", None,
           "Rerankers tried in order when this one fails (config strings, dicts or Rerankers); "
           "also written 'cohere:rerank-v3.5 | flashrank'."),
    Option("on_error", "str", None,
           "On a backend error: 'raise', 'fallback' (try the fallbacks; the default when there "
           "are some) or 'passthrough' (then keep the retrieval order, reranked=False).",
           choices=("raise", "fallback", "passthrough")),
    Option("cache", "str", None,
           "Cache raw scores: 'memory' (LRU) or 'disk' (diskcache); none by default.",
           choices=("memory", "disk", "none")),
    Option("cache_size", "int", 10_000, "Most cache entries (disk: about 1 KiB each).",
           nullable=False),
    Option("cache_path", "str", None,
           "Folder of the disk cache (default $RAG_RERANKERS_CACHE_DIR or "
           "~/.cache/rag-rerankers/scores)."),
    Option("long_docs", "str", "truncate",
           "'truncate' (the model or chunk_size cuts long documents) or 'chunk' (overlapping "
           "windows, each scored, pooled).", nullable=False, choices=("truncate", "chunk")),
    Option("chunk_size", "int", None,
           "Tokens (words without a tokenizer) per window; default: the model's window."),
    Option("chunk_overlap", "int", None, "Tokens shared by neighbouring windows (default: a quarter)."),
    Option("pooling", "str", "max", "Document score from its windows: 'max', 'mean' or 'first'.",
           nullable=False, choices=("max", "mean", "first")),
    Option("rank_fields", "list", None,
           "Metadata fields the reranker reads before the content ('title,author'), or a "
           "template ('{title}: {content}')."),
    Option("dedup", "str", "keep",
           "Identical contents are scored once; 'keep' returns every copy, 'collapse' only the "
           "first (listing the others in metadata).", nullable=False, choices=("keep", "collapse")),
)
"""Ranking controls every backend accepts (declared once here), applied by
:meth:`Reranker.rank` through :meth:`Reranker.configure`; never passed to backend
constructors (see :mod:`rag_rerankers.controls`)."""

CONTROL_OPTION_NAMES: frozenset[str] = frozenset(opt.name for opt in CONTROL_OPTIONS)

COMMON_OPTIONS: tuple[Option, ...] = (
    Option("top_n", "int", None, "Keep the best N candidates (None keeps all)."),
)
"""Constructor options every backend takes (the ranking controls are in CONTROL_OPTIONS)."""

_LOCAL_OPTIONS: tuple[Option, ...] = (
    Option("device", "str", None, "Torch device ('cpu', 'cuda', 'cuda:1', 'mps'); default: best available."),
    Option("batch_size", "int", 32, "Documents per forward pass.", nullable=False),
    Option(
        "offline",
        "bool",
        False,
        "Never contact the model hub: use a local folder, a packaged model or the HF cache.",
        nullable=False,
    ),
)

_BATCH_TOKENS = Option(
    "batch_tokens",
    "int",
    None,
    "Max padded tokens (pairs x longest pair) per forward pass, so long pairs go in smaller "
    "batches with less padding; default: 1024 on a CPU, no cap on a GPU; 0: no cap.",
)

_MAX_LENGTH = Option(
    "max_length", "int", None, "Max tokens per scored input (longer ones are truncated, with a warning); default: the model's."
)


def _api_options(
    env: tuple[str, ...], max_documents: int, *, base_url_env: tuple[str, ...] = ()
) -> tuple[Option, ...]:
    """Options shared by every API backend (see rag_rerankers.backends._api)."""
    return (
        Option("api_key", "str", None, "API key (held as a SecretStr; never logged).",
               env=env, secret=True),
        Option("base_url", "str", None, "Server URL (self-hosted or compatible servers).",
               env=base_url_env),
        Option("timeout", "float", 30.0, "Read timeout per request, seconds.", nullable=False),
        Option("connect_timeout", "float", 5.0, "Connect timeout, seconds.", nullable=False),
        Option("max_retries", "int", 3,
               "Retries on 429/408/5xx/timeouts/connection errors (0 disables).", nullable=False),
        Option("backoff", "float", 0.5, "First backoff ceiling, seconds (doubles, full jitter).",
               nullable=False),
        Option("max_backoff", "float", 20.0,
               "Longest wait between attempts; a longer Retry-After fails at once.",
               nullable=False),
        Option("max_documents_per_request", "int", max_documents,
               "Larger candidate lists are split into several requests and merged."),
    )


_BUILTIN: tuple[BackendInfo, ...] = (
    BackendInfo(
        name="bm25",
        target="rag_rerankers.backends.bm25:BM25Reranker",
        kind="lexical",
        extra="bm25",
        description="Okapi BM25 over the candidate set (bm25s); no model, no download.",
        score_type="unbounded",
        default_model=None,
        options=(
            Option("k1", "float", 1.5, "BM25 term-frequency saturation.", nullable=False),
            Option("b", "float", 0.75, "BM25 length normalization.", nullable=False),
            Option("method", "str", "lucene", "BM25 variant.", nullable=False,
                   choices=("lucene", "robertson", "atire", "bm25l", "bm25+")),
            Option("stopwords", "str", "en", "Stopword list ('en', ..., or none to keep all).",
                   choices=BM25_STOPWORDS),
        ),
        requires=(("bm25s", "bm25s"),),
    ),
    BackendInfo(
        name="embedding",
        target="rag_rerankers.backends.embedding:EmbeddingReranker",
        kind="local",
        extra="embedding",
        description="Bi-encoder: cosine similarity of sentence-transformers embeddings.",
        score_type="similarity",
        default_model="sentence-transformers/all-MiniLM-L6-v2",
        aliases=(Alias("bi-encoder"), Alias("sentence-transformers")),
        options=_LOCAL_OPTIONS
        + (
            Option("query_prefix", "str", "", "Text put before the query (e.g. 'query: ' for e5).", nullable=False),
            Option("document_prefix", "str", "", "Text put before each document (e.g. 'passage: ').", nullable=False),
        ),
        requires=(("sentence_transformers", "sentence-transformers"), ("torch", "torch")),
    ),
    BackendInfo(
        name="cross-encoder",
        target="rag_rerankers.backends.cross_encoder:CrossEncoderReranker",
        kind="local",
        extra="cross-encoder",
        description="Cross-encoder (sentence-transformers): query and document read jointly; "
        "one- or two-logit heads; optional ONNX/int8 CPU fast path.",
        score_type="logit",
        default_model="cross-encoder/ms-marco-MiniLM-L-6-v2",
        aliases=(Alias("bge", "BAAI/bge-reranker-v2-m3"),),
        options=_LOCAL_OPTIONS
        + (
            _BATCH_TOKENS,
            _MAX_LENGTH,
            Option("dtype", "str", None, "Weights dtype (default: the model's).",
                   choices=DTYPES),
            Option("engine", "str", "torch", "Inference engine: torch, or onnx (ONNX Runtime, CPU).",
                   nullable=False, choices=("torch", "onnx")),
            Option("quantize", "str", None, "int8: dynamic int8 quantization (CPU fast path).",
                   choices=("int8",)),
            Option("amp", "str", None,
                   "Mixed precision (torch.autocast) on float32 weights: matrix products in this "
                   "dtype, norms and residuals in float32 (closer to float32 scores than dtype).",
                   choices=AMP_DTYPES),
        ),
        requires=(("sentence_transformers", "sentence-transformers"), ("torch", "torch")),
    ),
    BackendInfo(
        name="flashrank",
        target="rag_rerankers.backends.flashrank:FlashRankReranker",
        kind="local",
        extra="flashrank",
        description="FlashRank: small ONNX cross-encoders on ONNX Runtime (CPU), no torch needed.",
        score_type="probability",
        default_model="ms-marco-TinyBERT-L-2-v2",
        options=_LOCAL_OPTIONS
        + (
            _BATCH_TOKENS,
            Option("max_length", "int", 512, "Max tokens of query + document (longer ones are truncated, with a warning).", nullable=False),
            Option("cache_dir", "str", None, "FlashRank's cache_dir: the folder holding <model>/ (default: /tmp)."),
        ),
        requires=(("flashrank", "flashrank"), ("onnxruntime", "onnxruntime")),
    ),
    BackendInfo(
        name="mxbai",
        target="rag_rerankers.backends.mxbai:MxbaiReranker",
        kind="local",
        extra="mxbai",
        description="mxbai-rerank-v2: a Qwen2 causal LM scoring relevance as the '1' vs '0' logit.",
        score_type="logit",
        default_model="mixedbread-ai/mxbai-rerank-base-v2",
        aliases=(Alias("mxbai-rerank"),),
        options=_LOCAL_OPTIONS
        + (
            _BATCH_TOKENS,
            Option("max_length", "int", 8192, "Max tokens of query + document (capped by the model; longer ones are truncated, with a warning).", nullable=False),
            Option("dtype", "str", None, "Weights dtype (default: the checkpoint's).",
                   choices=DTYPES),
            Option("instruction", "str", None, "Optional task instruction put before the query."),
        ),
        requires=(("transformers", "transformers"), ("torch", "torch")),
    ),
    BackendInfo(
        name="colbert",
        target="rag_rerankers.backends.colbert:ColBERTReranker",
        kind="local",
        extra="colbert",
        description="ColBERTv2 late interaction (MaxSim) via sentence-transformers' MultiVectorEncoder.",
        score_type="unbounded",
        default_model="colbert-ir/colbertv2.0",
        aliases=(Alias("late-interaction"),),
        options=_LOCAL_OPTIONS
        + (
            Option("max_length", "int", None, "Max document tokens (default: the checkpoint's doc_maxlen; longer ones are truncated, with a warning)."),
        ),
        requires=(("sentence_transformers", "sentence-transformers"), ("torch", "torch")),
    ),
    BackendInfo(
        name="cohere",
        target="rag_rerankers.backends.cohere:CohereReranker",
        kind="api",
        extra="cohere",
        description="Cohere Rerank v2 API via the official cohere SDK (also vLLM's /v2/rerank).",
        score_type="relevance",
        default_model="rerank-v5.0-pro",
        options=_api_options(("COHERE_API_KEY", "CO_API_KEY"), 1000)
        + (
            Option("max_tokens_per_doc", "int", None,
                   "Truncate each document to this many tokens (API default 4096)."),
        ),
        requires=(("cohere", "cohere"), ("tenacity", "tenacity"), ("pydantic", "pydantic")),
        docs_url="https://docs.cohere.com/reference/rerank",
    ),
    BackendInfo(
        name="voyage",
        target="rag_rerankers.backends.voyage:VoyageReranker",
        kind="api",
        extra="voyage",
        description="Voyage AI rerank API via the official voyageai SDK.",
        score_type="relevance",
        default_model="rerank-2.5",
        aliases=(Alias("voyageai"),),
        options=_api_options(("VOYAGE_API_KEY",), 1000)
        + (
            Option("truncation", "bool", True,
                   "Truncate over-long query/documents instead of failing.", nullable=False),
        ),
        requires=(("voyageai", "voyageai"), ("tenacity", "tenacity"), ("pydantic", "pydantic")),
        docs_url="https://docs.voyageai.com/reference/reranker-api",
    ),
    BackendInfo(
        name="jina",
        target="rag_rerankers.backends.jina:JinaReranker",
        kind="api",
        extra="jina",
        description="Jina AI rerank API over httpx (also vLLM and Infinity /v1/rerank).",
        score_type="relevance",
        default_model="jina-reranker-v3",
        options=_api_options(("JINA_API_KEY",), 1000),
        requires=(("httpx", "httpx"), ("tenacity", "tenacity"), ("pydantic", "pydantic")),
        docs_url="https://jina.ai/reranker/",
    ),
    BackendInfo(
        name="mixedbread",
        target="rag_rerankers.backends.mixedbread:MixedbreadReranker",
        kind="api",
        extra="mixedbread",
        description="Mixedbread rerank API via the official mixedbread SDK.",
        score_type="relevance",
        default_model="mixedbread-ai/mxbai-rerank-large-v2",
        options=_api_options(("MXBAI_API_KEY", "MIXEDBREAD_API_KEY"), 1000,
                             base_url_env=("MIXEDBREAD_BASE_URL",)),
        requires=(("mixedbread", "mixedbread"), ("tenacity", "tenacity"),
                  ("pydantic", "pydantic")),
        docs_url="https://www.mixedbread.com/api-reference",
    ),
    BackendInfo(
        name="tei",
        target="rag_rerankers.backends.tei:TEIReranker",
        kind="api",
        extra="tei",
        description="Hugging Face Text Embeddings Inference /rerank server (base_url required).",
        score_type="probability",
        default_model=None,
        aliases=(Alias("text-embeddings-inference"),),
        options=_api_options((), 32, base_url_env=("TEI_BASE_URL",))
        + (
            Option("truncate", "bool", True, "Let TEI truncate over-long inputs.",
                   nullable=False),
        ),
        requires=(("httpx", "httpx"), ("tenacity", "tenacity"), ("pydantic", "pydantic")),
        docs_url="https://huggingface.github.io/text-embeddings-inference/",
    ),
)

_lock = threading.Lock()
_BACKENDS: dict[str, BackendInfo] = {}
_NAMES: dict[str, tuple[BackendInfo, str | None]] = {}


def register_backend(info: BackendInfo, *, replace: bool = False) -> None:
    """Add a backend (and its aliases) to the registry.

    Example:
        >>> from rag_rerankers.registry import BackendInfo, register_backend
        >>> register_backend(BackendInfo(
        ...     name="my-backend", target="my_pkg.rerank:MyReranker", kind="local",
        ...     extra="all", description="Mine.", score_type="logit"))  # doctest: +SKIP
    """
    with _lock:
        names = [info.name] + [a.name for a in info.aliases]
        for name in names:
            if name in _NAMES and not replace and _NAMES[name][0].name != info.name:
                raise ConfigError(f"backend name {name!r} is already registered")
        if info.name in _BACKENDS and not replace:
            raise ConfigError(f"backend {info.name!r} is already registered (pass replace=True)")
        _BACKENDS[info.name] = info
        _NAMES[info.name] = (info, info.default_model)
        for alias in info.aliases:
            _NAMES[alias.name] = (info, alias.default_model or info.default_model)


def _register_builtins(infos: Iterable[BackendInfo]) -> None:
    for info in infos:
        register_backend(info)


_register_builtins(_BUILTIN)


def backend_names() -> list[str]:
    """Every accepted backend name and alias, sorted."""
    return sorted(_NAMES)


def get_backend(name: str) -> tuple[BackendInfo, str | None]:
    """Look up a backend name or alias: ``(info, default model for that name)``."""
    try:
        return _NAMES[name.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r}. Valid backends: {', '.join(backend_names())}"
        ) from None


def list_backends() -> list[dict[str, Any]]:
    """The registry as data (name, aliases, default model, options, extra, kind).

    Example:
        >>> "bm25" in [b["name"] for b in list_backends()]
        True
    """
    return [info.as_dict() for info in _BACKENDS.values()]


def backends_markdown() -> str:
    """The built-in backends as the Markdown table shown in the README and the docs.

    Example:
        >>> backends_markdown().splitlines()[0]
        '| backend (aliases) | kind | default model | extra | scores |'
    """
    rows = [
        "| backend (aliases) | kind | default model | extra | scores |",
        "|---|---|---|---|---|",
    ]
    shipped = {info.name for info in _BUILTIN}  # the README lists what the package ships,
    for b in list_backends():  # not backends registered at run time (plugins, tests)
        if b["name"] not in shipped:
            continue
        aliases = ", ".join(
            f"`{a}`" + (f" = `{b['alias_models'][a]}`" if a in b["alias_models"] else "")
            for a in b["aliases"]
        )
        name = f"`{b['name']}`" + (f" ({aliases})" if aliases else "")
        model = f"`{b['default_model']}`" if b["default_model"] else "–"
        rows.append(f"| {name} | {b['kind']} | {model} | `{b['extra']}` | {b['score_type']} |")
    return "\n".join(rows)
