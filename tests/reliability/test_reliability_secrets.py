"""Secret hygiene: a canary API key never shows up anywhere a user or a log could see it.

Checked for every API backend, with the key given as an option, in a config string and in the
provider's environment variable: ``repr``/``str`` of the reranker and both adapters,
``model_dump``/``to_json``, LangChain ``dumpd``/``dumps``, DEBUG logs of every library,
exception messages, ``repr``, attributes and full tracebacks (with their causes), pickles,
and the CLI's output.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle

import pytest

from rag_rerankers import init_reranker, list_backends
from rag_rerankers.base import describe
from rag_rerankers.errors import ConfigError, RerankerError
from rag_rerankers.testing import FakeRerankServer

from reliability.helpers import exception_texts

CANARY = "sk-CANARY-d3adb33f-4e1c"
SERVER_KEY = "server-side-key"  # the fake server accepts only this one
API = tuple(b["name"] for b in list_backends() if b["kind"] == "api")
ENV = {"cohere": "COHERE_API_KEY", "voyage": "VOYAGE_API_KEY", "jina": "JINA_API_KEY",
       "mixedbread": "MXBAI_API_KEY", "vllm": "VLLM_API_KEY", "infinity": "INFINITY_API_KEY",
       "llama-cpp": "LLAMA_API_KEY", "localai": "LOCALAI_API_KEY"}


def clean(*texts: object) -> bool:
    return all(CANARY not in (t if isinstance(t, str) else repr(t)) for t in texts)


def clean_bytes(data: bytes) -> bool:
    return CANARY.encode() not in data and CANARY.encode("utf-16-le") not in data


@pytest.fixture(scope="module")
def server():
    with FakeRerankServer(api_key=CANARY) as srv:
        yield srv


@pytest.fixture
def all_logs():
    """Every record of every logger at DEBUG, formatted with its arguments."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def _build(provider: str, server: FakeRerankServer, how: str, monkeypatch, **extra):
    base = server.base_url(provider)
    opts = {"base_url": base, "max_retries": 1, "backoff": 0.001, "timeout": 0.5, **extra}
    if how == "option":
        return init_reranker(provider, api_key=CANARY, **opts)
    if how == "config-string":
        return init_reranker(f"{provider}?api_key={CANARY}", **opts)
    if provider == "tei":
        pytest.fail("tei has no key variable")  # not parametrized below
    monkeypatch.setenv(ENV[provider], CANARY)
    return init_reranker(provider, **opts)


def _cases():
    for provider in API:
        for how in ("option", "config-string", "env"):
            if not (provider == "tei" and how == "env"):
                yield provider, how


@pytest.mark.parametrize(("provider", "how"), list(_cases()))
def test_objects_and_serializations_never_show_the_key(provider, how, server, monkeypatch):
    from langchain_core.load import dumpd, dumps

    from langchain_rerankers import RerankCompressor
    from llamaindex_rerankers import RerankPostprocessor

    rr = _build(provider, server, how, monkeypatch)
    out = rr.rank("red apple", ["a red apple", "blue sky"])  # the key really works
    assert out[0].index == 0
    assert rr.api_key is not None and rr.api_key.get_secret_value() == CANARY
    comp = RerankCompressor(reranker=rr)
    post = RerankPostprocessor(reranker=rr)
    assert clean(repr(rr), str(rr), rr.name, describe(rr), repr(vars(rr)), repr(rr.api_key),
                 str(rr.api_key), repr(out), repr(comp), str(comp), comp.model_dump_json(),
                 repr(comp.model_dump()), repr(post), str(post), post.to_json(),
                 repr(post.to_dict()), repr(dumpd(comp)), dumps(comp))
    for obj in (out, describe(rr), comp.model_dump(), post.to_dict()):
        assert clean_bytes(pickle.dumps(obj))
    # The reranker itself holds clients and locks: it does not pickle (and so cannot leak).
    with pytest.raises((TypeError, AttributeError, pickle.PicklingError)):
        pickle.dumps(rr)


def _failures(provider: str, server: FakeRerankServer, monkeypatch):
    """(name, callable) pairs that each raise a typed error while the canary key is set."""
    good = _build(provider, server, "option", monkeypatch, max_retries=0)

    def wrong_key():
        init_reranker(provider, api_key=CANARY + "-revoked", base_url=server.base_url(provider),
                      max_retries=0).rank("q", ["a"])

    def fault(kind: str, **kw):
        def run():
            server.inject(kind, **kw)
            good.rank("q", ["a", "b"])
        return run

    def refused():
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        init_reranker(provider, api_key=CANARY, base_url=f"http://127.0.0.1:{port}",
                      max_retries=0).rank("q", ["a"])

    return [
        ("wrong-key", wrong_key),
        ("500", fault("status", status=500)),
        ("429", fault("status", status=429, retry_after=0)),
        ("400", fault("status", status=400)),
        ("malformed", fault("malformed")),
        ("wrong-length", fault("wrong_length")),
        ("reset", fault("reset")),
        ("timeout", fault("timeout", seconds=1.0)),
        ("refused", refused),
    ]


def _check_exception(exc: BaseException) -> None:
    assert clean(*exception_texts(exc))
    assert clean_bytes(pickle.dumps(exc))


@pytest.mark.parametrize("provider", API)
def test_errors_tracebacks_and_debug_logs_never_show_the_key(provider, server, monkeypatch,
                                                             all_logs):
    for name, run in _failures(provider, server, monkeypatch):
        with pytest.raises(RerankerError) as info:
            run()
        _check_exception(info.value)
        assert server.pending_faults == 0, name
    good = _build(provider, server, "option", monkeypatch)
    good.rank("red apple", ["a red apple", "blue sky"])
    logs = all_logs.getvalue()
    assert logs, "DEBUG logging captured nothing: the check would be empty"
    assert clean(logs)


@pytest.mark.parametrize("provider", API)
async def test_async_errors_never_show_the_key(provider, server, monkeypatch, all_logs):
    rr = _build(provider, server, "option", monkeypatch, max_retries=0)
    for kind, kw in [("status", {"status": 503}), ("reset", {}), ("malformed", {})]:
        server.inject(kind, **kw)
        with pytest.raises(RerankerError) as info:
            await rr.arank("q", ["a", "b"])
        _check_exception(info.value)
    await rr.aclose()
    assert clean(all_logs.getvalue())


@pytest.mark.parametrize(
    "spec",
    [
        "cohere?api_key={k}&top_n=1&top_n=2",
        "cohere?api_key={k}&&top_n=1",
        "cohere?api_key={k}&model=x",
        "co here?api_key={k}",
        "cohere?api_key={k}&BAD=1",
        "cohere?api_key={k}&nope=1",
        "cohere?api_key={k}&top_n=abc",
        "jina?token={k}",
        "cohere?api_key={k} | ",
        "cohere?api_key={k}&dedup=keep | bm25?dedup=collapse",
    ],
)
def test_config_errors_never_echo_the_key(spec) -> None:
    with pytest.raises(ConfigError) as info:
        init_reranker(spec.format(k=CANARY))
    _check_exception(info.value)


def _cli(argv: list[str]) -> str:
    from rag_rerankers.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code
    return f"{code}\n{out.getvalue()}\n{err.getvalue()}"


def test_cli_output_never_shows_the_key(server, monkeypatch) -> None:
    for variable in ENV.values():
        monkeypatch.setenv(variable, CANARY)
    texts = [_cli(["backends"]), _cli(["backends", "--json"])]
    demo = ["demo", "--k", "4", "--show", "2", "--reranker"]
    ok = _cli([*demo, f"cohere?api_key={CANARY}&base_url={server.url}&max_retries=0"])
    assert ok.startswith("0\n") and "ndcg" in ok.lower(), ok[-500:]
    texts.append(ok)
    for spec in (
        f"cohere?api_key={CANARY}-revoked&base_url={server.url}&max_retries=0",  # 401
        f"cohere?base_url={server.url}&max_retries=0&timeout=0.5",  # key from the environment
        f"cohere?api_key={CANARY}&top_n=1&top_n=2",  # malformed config string
        f"cohere?api_key={CANARY}&nope=1",
    ):
        server.inject("status", status=500) if "revoked" not in spec else None
        texts.append(_cli([*demo, spec]))
    server.clear_faults()
    assert clean(*texts)
    assert any("error:" in t for t in texts)  # the failures really were reported
