"""Config strings, the registry and the factory."""

from __future__ import annotations

import inspect
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag_rerankers import (
    ConfigError,
    MissingDependencyError,
    Reranker,
    init_reranker,
    list_backends,
    reranker_from_env,
)
from rag_rerankers.config import Spec, format_spec, parse_spec, parse_value
from rag_rerankers.registry import BackendInfo, Option, backend_names, get_backend, register_backend


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bm25", Spec("bm25", None, {})),
        ("BM25", Spec("bm25", None, {})),
        ("cohere:rerank-v3.5", Spec("cohere", "rerank-v3.5", {})),
        ("cohere:rerank-v3.5?top_n=5", Spec("cohere", "rerank-v3.5", {"top_n": 5})),
        (
            "cross-encoder:BAAI/bge-reranker-v2-m3?max_length=512&device=cuda:0&fp16=true",
            Spec("cross-encoder", "BAAI/bge-reranker-v2-m3",
                 {"max_length": 512, "device": "cuda:0", "fp16": True}),
        ),
        ("embedding:/models/my folder?offline=yes", Spec("embedding", "/models/my folder", {"offline": True})),
        ("tei?base_url=http://127.0.0.1:8080/v1", Spec("tei", None, {"base_url": "http://127.0.0.1:8080/v1"})),
        ("x?a=0.5&b=-3&c=1e-3&d=none&e=off", Spec("x", None, {"a": 0.5, "b": -3, "c": 0.001, "d": None, "e": False})),
        ("x?q=a%26b%3Dc", Spec("x", None, {"q": "a&b=c"})),
        ("  bm25 ?top_n=2 ", Spec("bm25", None, {"top_n": 2})),
    ],
)
def test_parse_valid(text: str, expected: Spec) -> None:
    assert parse_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty config string"),
        ("   ", "empty config string"),
        (":model", "backend name"),
        ("9lives", "backend name"),
        ("bm25:", "nothing after ':'"),
        ("bm25?", "nothing after '?'"),
        ("bm25?top_n", "key=value"),
        ("bm25?top_n=1&top_n=2", "given twice"),
        ("bm25?Top-N=1", "malformed option name"),
        ("bm25?model=x", "after ':'"),
    ],
)
def test_parse_invalid(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        parse_spec(text)
    assert isinstance(info.value, ValueError)  # also a ValueError for generic handlers


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ConfigError, match="must be a str"):
        parse_spec(42)  # type: ignore[arg-type]


def test_value_typing() -> None:
    assert parse_value("10") == 10 and isinstance(parse_value("10"), int)
    assert parse_value("1.5") == 1.5
    assert parse_value("TRUE") is True and parse_value("false") is False
    assert parse_value("null") is None
    assert parse_value("rerank-v3.5") == "rerank-v3.5"
    assert parse_value("cuda:0") == "cuda:0"


_names = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=0, max_size=12)
_backend = st.builds(lambda a, b: a + b, st.sampled_from(string.ascii_lowercase), _names)
_model = st.none() | st.text(
    alphabet=string.ascii_letters + string.digits + "-_./:", min_size=1, max_size=30
).filter(lambda s: s.strip() == s)
_key = st.builds(lambda a, b: a + b, st.sampled_from(string.ascii_lowercase), st.text(
    alphabet=string.ascii_lowercase + string.digits + "_", max_size=10)).filter(lambda k: k != "model")
_value = (
    st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=32).map(float)
    | st.booleans()
    | st.none()
    | st.text(alphabet=string.printable, min_size=1, max_size=20).filter(
        lambda s: s.strip() == s and not _looks_typed(s)
    )
)


def _looks_typed(text: str) -> bool:
    return not isinstance(parse_value(text), str)


@given(_backend, _model, st.dictionaries(_key, _value, max_size=5))
def test_round_trip(backend: str, model: str | None, options: dict) -> None:
    spec = Spec(backend, model, options)
    assert parse_spec(format_spec(spec)) == spec


# ----------------------------------------------------------------------------- registry
def test_unknown_backend_lists_choices() -> None:
    with pytest.raises(ConfigError) as info:
        init_reranker("no-such-backend")
    for name in ("bm25", "embedding"):
        assert name in str(info.value)


def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'k3'.*Valid options: .*k1") as info:
        init_reranker("bm25?k3=1")
    assert "top_n" in str(info.value)


def test_wrong_option_type() -> None:
    with pytest.raises(ConfigError, match="'k1' of backend 'bm25' must be float"):
        init_reranker("bm25?k1=fast")
    with pytest.raises(ConfigError, match="must be int"):
        init_reranker("bm25?top_n=2.5")
    with pytest.raises(ConfigError, match="must be one of"):
        init_reranker("bm25?method=bogus")


def test_dict_and_overrides() -> None:
    rr = init_reranker({"backend": "bm25", "k1": 1, "top_n": 4}, b=0.5)
    assert (rr.k1, rr.b, rr.top_n) == (1.0, 0.5, 4)
    assert isinstance(rr.k1, float)
    assert init_reranker("bm25?top_n=4", top_n=2).top_n == 2
    with pytest.raises(ConfigError, match="'backend' key"):
        init_reranker({"model": "x"})


def test_reranker_instance_returned_as_is() -> None:
    rr = init_reranker("bm25")
    assert init_reranker(rr) is rr
    with pytest.raises(ConfigError, match="already built"):
        init_reranker(rr, top_n=3)


def test_bad_spec_type() -> None:
    with pytest.raises(ConfigError, match="config string"):
        init_reranker(3.14)  # type: ignore[arg-type]


def test_aliases_resolve_to_their_backend() -> None:
    info, model = get_backend("bi-encoder")
    assert info.name == "embedding" and model == "sentence-transformers/all-MiniLM-L6-v2"
    assert "sentence-transformers" in backend_names()


def test_list_backends_is_data() -> None:
    backends = {b["name"]: b for b in list_backends()}
    emb = backends["embedding"]
    assert emb["default_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert emb["extra"] == "embedding" and emb["kind"] == "local"
    assert emb["install"] == 'pip install "rag-rerankers[embedding]"'
    assert {"top_n", "device", "batch_size", "offline"} <= {o["name"] for o in emb["options"]}
    assert "bi-encoder" in emb["aliases"]


def _constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """Keyword parameters a class accepts, following ``**common`` up to the base classes."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        for name, p in params.items():
            if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                found.setdefault(name, p)
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    return found


@pytest.mark.parametrize("name", [b["name"] for b in list_backends()])
def test_declared_options_match_the_constructor(name: str) -> None:
    """Every declared option is a constructor keyword with the same default.

    An option whose constructor default is None but whose declaration shows the value the
    class resolves it to (API backends' max_documents_per_request) is checked on an instance.
    """
    info, _ = get_backend(name)
    params = _constructor_parameters(info.cls)
    for opt in info.all_options():
        assert opt.name in params, (name, opt.name)
        default = params[opt.name].default
        if default is None and opt.default is not None:
            built = info.cls(base_url="http://127.0.0.1:9", api_key="k")
            assert getattr(built, opt.name) == opt.default, (name, opt.name)
        else:
            assert default == opt.default, (name, opt.name, default, opt.default)
    if "model" in params:  # the default model is the class's default_model, declared once
        assert params["model"].default is None, name


def test_configure_takes_built_fallbacks_only() -> None:
    """The factory builds fallbacks from config strings; configure() gets rerankers."""
    with pytest.raises(ConfigError, match="init_reranker"):
        init_reranker("bm25").configure(fallbacks=["bm25"])
    rr = init_reranker("bm25").configure(fallbacks=[init_reranker("bm25?k1=1.2")])
    assert [f.k1 for f in rr.ranking_setup.fallbacks] == [1.2]
    assert len(init_reranker("bm25", fallbacks="bm25,bm25").ranking_setup.fallbacks) == 2


def test_missing_dependency_names_pip_command() -> None:
    from rag_rerankers.backends.bm25 import BM25Reranker

    class NeedsMissing(BM25Reranker):
        backend = "needs-missing"

    register_backend(
        BackendInfo(
            NeedsMissing, "test entry", extra="flashrank",
            requires=(("surely_not_installed_pkg_xyz", "surely-not-installed"),),
        ),
        replace=True,
    )
    with pytest.raises(MissingDependencyError) as info:
        init_reranker("needs-missing")
    err = info.value
    assert isinstance(err, ImportError)
    assert err.install_command == 'pip install "rag-rerankers[flashrank]"'
    assert 'pip install "rag-rerankers[flashrank]"' in str(err)
    assert "surely-not-installed" in str(err)


def test_register_backend_refuses_silent_overwrite() -> None:
    from rag_rerankers.backends.bm25 import BM25Reranker

    with pytest.raises(ConfigError, match="already registered"):
        register_backend(BackendInfo(BM25Reranker, "dup"))


def test_option_coercion() -> None:
    opt = Option("name", "str", nullable=False)
    assert opt.coerce(12, "b") == "12"
    with pytest.raises(ConfigError, match="cannot be None"):
        opt.coerce(None, "b")
    assert Option("f", "float").coerce(2, "b") == 2.0
    with pytest.raises(ConfigError):
        Option("i", "int").coerce(True, "b")


def test_reranker_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANKER", "bm25?top_n=7")
    rr = reranker_from_env()
    assert isinstance(rr, Reranker) and rr.top_n == 7
    monkeypatch.delenv("RERANKER")
    with pytest.raises(ConfigError, match="RERANKER is not set"):
        reranker_from_env()
    assert reranker_from_env(default="bm25").backend == "bm25"
    monkeypatch.setenv("MY_RR", "bm25")
    assert reranker_from_env("MY_RR", top_n=1).top_n == 1
