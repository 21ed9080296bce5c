"""The ``infinity`` backend against a real Infinity server process (``infinity-emb`` from PyPI).

Infinity pins an older transformers/sentence-transformers stack, so it lives in its own virtual
environment: ``make test`` builds ``.venv-infinity`` (``make infinity-venv``) and points
``RAG_RERANKERS_INFINITY_VENV`` at it. The server runs on CPU with ``--engine torch`` and
``HF_HUB_OFFLINE=1``, serving a tiny random-weight BERT cross-encoder that the test builds in a
temporary folder with that environment's own transformers (no hub access).

What is checked: the ranks and scores through our backend equal the server's raw HTTP answer
to the documented request, sync and async, through the config string
``infinity?base_url=http://127.0.0.1:PORT`` (Infinity started with no URL prefix); request
splitting at the server's real client batch limit; the key (the server runs with
``--api-key``) sent as a bearer token, and the server's errors typed.

Without the environment the test fails under CI (``CI`` set) and is skipped elsewhere, saying
how to build it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.errors import APIAuthenticationError, APIBadRequestError

from local.helpers import copy_bert_tokenizer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("RAG_RERANKERS_INFINITY_VENV") or ROOT / ".venv-infinity")
KEY = "sk-infinity-test-0123"  # the server's --api-key
CLIENT_BATCH_LIMIT = 16  # INFINITY_MAX_CLIENT_BATCH_SIZE for this server (default 2048)
START_TIMEOUT = 240.0  # seconds; about 30 s on a laptop CPU

QUERY = "how do i fix a flat bicycle tyre"
DOCS = [
    "Patch the inner tube after finding the puncture with soapy water.",
    "Bake the bread at 200 degrees for forty minutes.",
    "A flat tyre is fixed by replacing or patching the tube.",
    "The stock market fell sharply on Tuesday.",
    "Bicycle maintenance: oil the chain, check the brakes, pump the tyres.",
    "tyre",
    "Paris is the capital of France and a popular destination for tourists.",
    "Tubeless tyres seal small punctures by themselves.",
]

# Run with the Infinity environment's python: its transformers writes the folder it reads.
BUILD_MODEL = """
import sys, torch
from transformers import BertConfig, BertForSequenceClassification
torch.manual_seed(0)
config = BertConfig(vocab_size=30522, max_position_embeddings=512, num_labels=1, hidden_size=32,
                    num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                    initializer_range=0.4)
BertForSequenceClassification(config).eval().save_pretrained(sys.argv[1])
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def infinity_url() -> Iterator[str]:
    """Start Infinity on a free loopback port, wait for /health, stop it at the end."""
    import httpx

    server = VENV / "bin" / "infinity_emb"
    if not server.exists():
        message = (f"no Infinity environment at {VENV} (build it with `make infinity-venv`, or "
                   "point RAG_RERANKERS_INFINITY_VENV at one with infinity-emb[server,torch])")
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="rag-rerankers-infinity-") as tmp:
        folder = Path(tmp) / "tiny-bert-reranker"
        subprocess.run([str(VENV / "bin" / "python"), "-c", BUILD_MODEL, str(folder)],
                       check=True, timeout=300, capture_output=True)
        copy_bert_tokenizer(folder)
        port = _free_port()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "INFINITY_MAX_CLIENT_BATCH_SIZE": str(CLIENT_BATCH_LIMIT),
               "INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1"}
        log_path = Path(tmp) / "infinity.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(server), "v2", "--model-id", str(folder), "--host", "127.0.0.1",
                 "--port", str(port), "--engine", "torch", "--device", "cpu",
                 "--no-bettertransformer", "--api-key", KEY],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"Infinity exited with {proc.returncode}:\n"
                                f"{log_path.read_text(errors='replace')[-3000:]}")
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"Infinity not healthy after {START_TIMEOUT:g} s:\n"
                                f"{log_path.read_text(errors='replace')[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def raw_answer(url: str, documents: list[str]) -> list[tuple[int, float]]:
    """The server's own answer to the documented request: (index, relevance_score), best first."""
    import httpx

    response = httpx.post(url + "/rerank", json={"query": QUERY, "documents": documents,
                                                  "raw_scores": False},
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "rerank"
    return [(r["index"], r["relevance_score"]) for r in body["results"]]


def pairs(items) -> list[tuple[int, float]]:
    return [(i.index, i.score) for i in items]


async def test_ranks_and_scores_equal_the_servers_answer(infinity_url):
    want = raw_answer(infinity_url, DOCS)
    assert sorted(i for i, _ in want) == list(range(len(DOCS)))
    assert all(0.0 <= s <= 1.0 for _, s in want)  # raw_scores false: sigmoid, as declared
    rr = init_reranker(f"infinity?base_url={infinity_url}", api_key=KEY)  # no URL prefix
    assert pairs(rr.rank(QUERY, DOCS)) == want
    assert pairs(await rr.arank(QUERY, DOCS)) == want
    assert pairs(rr.rank(QUERY, DOCS, top_n=3)) == want[:3]  # top_n asked of the server
    assert pairs(await rr.arank(QUERY, DOCS, top_n=3)) == want[:3]
    assert rr.score(QUERY, DOCS) == [s for _, s in sorted(want)]
    out = rr.rank(QUERY, DOCS)
    assert [i.metadata["raw_score"] for i in out] == [s for _, s in want]  # passed through
    await rr.aclose()


async def test_requests_split_at_the_servers_client_batch_limit(infinity_url):
    docs = [f"{d} ({k})" for k in range(3) for d in DOCS][:20]  # 20 > the limit of 16
    over = init_reranker("infinity", base_url=infinity_url, api_key=KEY, max_retries=0)
    with pytest.raises(APIBadRequestError) as info:  # the server refuses 20 in one request
        over.rank(QUERY, docs)
    assert info.value.status == 422 and info.value.attempts == 1
    rr = init_reranker("infinity", base_url=infinity_url, api_key=KEY,
                       max_documents_per_request=CLIENT_BATCH_LIMIT)
    first = raw_answer(infinity_url, docs[:16])
    second = [(i + 16, s) for i, s in raw_answer(infinity_url, docs[16:])]
    want = sorted(first + second, key=lambda p: (-p[1], p[0]))
    assert pairs(rr.rank(QUERY, docs)) == want
    got = pairs(await rr.arank(QUERY, docs))  # the two requests go out together
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
    await rr.aclose()


def test_a_missing_or_wrong_key_is_typed_and_never_shown(infinity_url, monkeypatch):
    monkeypatch.delenv("INFINITY_API_KEY", raising=False)
    for key in (None, "sk-wrong-key-42"):
        rr = init_reranker("infinity", base_url=infinity_url, api_key=key, max_retries=3)
        for call in (rr.rank, lambda q, d, rr=rr: asyncio.run(rr.arank(q, d))):
            with pytest.raises(APIAuthenticationError) as info:
                call(QUERY, DOCS)
            err = info.value
            assert (err.status, err.attempts, err.provider) == (401, 1, "infinity")
            assert "Unauthorized" in err.message and "sk-wrong-key-42" not in str(err)
