"""Helpers for the reliability tests: one way to call the core and both adapters.

Each *surface* takes a reranker, a query and candidate texts, runs them through the core
(sync or async), the LangChain compressor or the LlamaIndex postprocessor, and answers the
same thing: ``[(input index, score), ...]`` best first. So one test checks all four paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from rag_rerankers.base import UNSET, Reranker

Result = list[tuple[int, float]]
INDEX_KEY = "_rel_index"


def core(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    return [(i.index, i.score) for i in rr.rank(query, texts, top_n)]


def core_async(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    return [(i.index, i.score) for i in asyncio.run(rr.arank(query, texts, top_n))]


def langchain(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    from langchain_core.documents import Document

    from langchain_rerankers import RerankCompressor

    comp = RerankCompressor(reranker=rr, top_n=None if top_n is UNSET else top_n)
    docs = (
        texts
        if not isinstance(texts, (list, tuple))
        else [
            Document(page_content=t, metadata={INDEX_KEY: i})
            if isinstance(t, str)
            else Document.model_construct(page_content=t, metadata={INDEX_KEY: i})
            for i, t in enumerate(texts)
        ]
    )
    out = comp.compress_documents(docs, query)
    return [(d.metadata[INDEX_KEY], d.metadata["relevance_score"]) for d in out]


def llamaindex(rr: Reranker, query: Any, texts: Any, top_n: Any = UNSET) -> Result:
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from llamaindex_rerankers import RerankPostprocessor

    post = RerankPostprocessor(
        reranker=rr, top_n=None if top_n is UNSET else top_n, metadata_mode="none"
    )
    nodes = [
        NodeWithScore(
            node=TextNode(text=t, id_=str(i))
            if isinstance(t, str)
            else TextNode.model_construct(text=t, id_=str(i), metadata={}),
            score=0.0,
        )
        for i, t in enumerate(texts)
    ]
    out = post.postprocess_nodes(nodes, query_bundle=QueryBundle(query_str=query))
    return [(int(n.node.node_id), n.score) for n in out]


SURFACES: dict[str, Callable[..., Result]] = {
    "core": core,
    "core-async": core_async,
    "langchain": langchain,
    "llamaindex": llamaindex,
}


def indices(result: Result) -> list[int]:
    return [i for i, _ in result]


def scores(result: Result) -> list[float]:
    return [s for _, s in result]


def is_permutation(result: Result, n: int) -> bool:
    return sorted(indices(result)) == list(range(n))


def sorted_desc(values: Sequence[float]) -> bool:
    return all(a >= b for a, b in zip(values, values[1:], strict=False))


# --------------------------------------------------------------------------- scripted provider
def provider_body(provider: str, pairs: list[tuple[Any, Any]]) -> Any:
    """A 200 answer in ``provider``'s wire format carrying exactly ``pairs`` (index, score)."""
    if provider == "tei":
        return [{"index": i, "score": s} for i, s in pairs]
    if provider == "cohere":
        return {"id": "x", "results": [{"index": i, "relevance_score": s} for i, s in pairs],
                "meta": {"billed_units": {"search_units": 1}}}
    if provider == "voyage":
        return {"object": "list", "model": "m", "usage": {"total_tokens": 1},
                "data": [{"index": i, "relevance_score": s} for i, s in pairs]}
    if provider in {"jina", "vllm", "infinity", "llama-cpp", "localai"}:  # Jina's shape
        return {"model": "m", "usage": {"total_tokens": 1},
                "results": [{"index": i, "relevance_score": s} for i, s in pairs]}
    return {"object": "list", "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1},
            "top_k": len(pairs), "return_input": False,
            "data": [{"index": i, "score": s, "object": "rank_result"} for i, s in pairs]}


class ScriptedServer:
    """A loopback server answering every POST with one fixed JSON body (``payload``).

    For answers the fake provider server never gives: extra, repeated or out-of-range
    indices, non-numeric or non-finite scores.
    """

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.payload: Any = None
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length") or 0))
                owner.requests += 1
                data = json.dumps(owner.payload).encode()  # NaN/inf as JS literals
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def base_url(self, provider: str) -> str:
        return self.url + "/v1" if provider == "voyage" else self.url

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def adapter_surfaces(rr: Reranker, top_n: int = 3) -> list[Callable[[str, list[str]], Any]]:
    """The LangChain compressor and the LlamaIndex postprocessor around ``rr``, each as a
    function of (query, texts), for ``rag_rerankers.testing.load.memory_over_calls``."""
    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, TextNode

    from langchain_rerankers import RerankCompressor
    from llamaindex_rerankers import RerankPostprocessor

    comp = RerankCompressor(reranker=rr, top_n=top_n)
    post = RerankPostprocessor(reranker=rr, top_n=top_n)

    def compress(query: str, texts: list[str]) -> Any:
        docs = [Document(t, metadata={"i": i}) for i, t in enumerate(texts)]
        return comp.compress_documents(docs, query)

    def postprocess(query: str, texts: list[str]) -> Any:
        nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in texts]
        return post.postprocess_nodes(nodes, query_str=query)

    return [compress, postprocess]


def exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception shows, its causes and contexts included: the formatted
    traceback, ``str``, ``repr``, and the ``args`` and attributes of each link of the chain."""
    import traceback

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return [
        "".join(traceback.format_exception(exc)), str(exc), repr(exc),
        *(repr(vars(e)) for e in chain if hasattr(e, "__dict__")),
        *(repr(e.args) for e in chain),
    ]
