"""The adapters as objects: pickling and copying, any iterable of nodes, and constructor arguments.

- ``pickle``/``copy``/``deepcopy`` treat ``RerankCompressor`` and ``RerankPostprocessor`` alike:
  an adapter whose reranker can be pickled (deep-copied) can be too; otherwise a ``ConfigError``,
  and the original is never changed (LlamaIndex's ``__getstate__`` used to delete the reranker
  from the live postprocessor);
- the LlamaIndex postprocessor accepts any iterable of ``NodeWithScore`` (a generator used to
  fail with a raw ``TypeError`` or "0 metadata entries"), like the LangChain compressor;
- the constructors apply ranking controls and backend options exactly like ``init_compressor``
  / ``init_postprocessor`` (they used to ignore them), refuse unknown names with the closest
  valid one, and assigning a bad ``top_n`` is an ``InvalidInputError``.

The table in docs/reliability.md ("Adapters as objects") lists the same cases.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import traceback

import pytest
from langchain_core.documents import Document
from llama_index.core.instrumentation.events.rerank import ReRankStartEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from langchain_rerankers import RerankCompressor, init_compressor
from llamaindex_rerankers import RerankPostprocessor, init_postprocessor
from rag_rerankers import init_reranker
from rag_rerankers.base import check_top_n
from rag_rerankers.errors import ConfigError, InvalidInputError, RerankerError

QUERY = "bicycle chain"
TEXTS = ["baking bread", "oil the bicycle chain", "a chain of shops", "bicycle chain bicycle chain"]


def _docs() -> list[Document]:
    return [Document(page_content=t, metadata={"i": i}) for i, t in enumerate(TEXTS)]


def _nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}", metadata={"i": i}), score=0.5)
        for i, t in enumerate(TEXTS)
    ]


def _compress(comp: RerankCompressor) -> list[int]:
    return [d.metadata["i"] for d in comp.compress_documents(_docs(), QUERY)]


def _post(post: RerankPostprocessor) -> list[int]:
    return [n.node.metadata["i"] for n in post.postprocess_nodes(_nodes(), query_str=QUERY)]


def _adapter(kind: str, reranker, **kwargs):
    kwargs.setdefault("top_n", None)
    if kind == "langchain":
        return RerankCompressor(reranker=reranker, **kwargs)
    return RerankPostprocessor(reranker=reranker, metadata_mode="none", **kwargs)


def _run(adapter) -> list[int]:
    return _compress(adapter) if isinstance(adapter, RerankCompressor) else _post(adapter)


ADAPTERS = ["langchain", "llamaindex"]


# --------------------------------------------------------------------------- 8: pickle and copies
def _unpicklable(which: str):
    if which == "bm25-cache":  # a memory cache holds a threading.Lock
        return init_reranker("bm25?cache=memory")
    # an API backend holds HTTP clients (never contacted here)
    return init_reranker("jina", api_key="not-a-real-key", base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("which", ["bm25-cache", "api"])
@pytest.mark.parametrize("kind", ADAPTERS)
def test_pickling_with_an_unpicklable_reranker_is_a_config_error_and_changes_nothing(kind, which):
    rr = _unpicklable(which)
    adapter = _adapter(kind, rr)
    fields = dict(vars(adapter))
    with pytest.raises(ConfigError, match="cannot be pickled") as info:
        pickle.dumps(adapter)
    assert isinstance(info.value, RerankerError)
    assert type(adapter).__name__ in str(info.value) and "config string" in str(info.value)
    if which == "api":  # the key is in no part of the error
        assert "not-a-real-key" not in "".join(traceback.format_exception(info.value))
    # the original is untouched: same fields, same reranker object, still usable
    assert vars(adapter) == fields and adapter.reranker is rr
    if which == "bm25-cache":
        assert _run(adapter)[0] == 3


@pytest.mark.parametrize("kind", ADAPTERS)
def test_pickling_with_a_picklable_reranker_round_trips(kind):
    adapter = _adapter(kind, "bm25?k1=1.2", top_n=2)
    want = _run(adapter)
    clone = pickle.loads(pickle.dumps(adapter))
    assert type(clone) is type(adapter) and clone.top_n == 2 and clone.reranker.k1 == 1.2
    assert clone.reranker is not adapter.reranker
    assert _run(clone) == want == _run(adapter)


@pytest.mark.parametrize("kind", ADAPTERS)
def test_deepcopy_follows_the_reranker_and_copy_shares_it(kind):
    adapter = _adapter(kind, "bm25", top_n=2)
    deep = copy.deepcopy(adapter)
    assert deep.reranker is not adapter.reranker and _run(deep) == _run(adapter)
    assert adapter.model_copy(deep=True).reranker is not adapter.reranker

    locked = _adapter(kind, "bm25?cache=memory")
    fields = dict(vars(locked))
    with pytest.raises(ConfigError, match="cannot be deep-copied"):
        copy.deepcopy(locked)
    with pytest.raises(ConfigError, match="cannot be deep-copied"):
        locked.model_copy(deep=True)
    assert vars(locked) == fields
    shallow = copy.copy(locked)  # a shallow copy shares the reranker: always possible
    assert shallow.reranker is locked.reranker and _run(shallow) == _run(locked)


# --------------------------------------------------------------------------- 9: any iterable of nodes
@pytest.fixture
def starts(events):
    """The rerank start events sent while the test runs."""
    return _StartsView(events)


class _StartsView:
    def __init__(self, events: list) -> None:
        self._events = events

    def __iter__(self):
        return (e for e in self._events if isinstance(e, ReRankStartEvent))


def _iterables():
    return {
        "generator": lambda nodes: (n for n in nodes),
        "iterator": lambda nodes: iter(nodes),
        "tuple": tuple,
        "dict values": lambda nodes: {n.node.node_id: n for n in nodes}.values(),
    }


@pytest.mark.parametrize("top_n", [None, 2])
@pytest.mark.parametrize("how", list(_iterables()))
def test_llamaindex_accepts_any_iterable_of_nodes(how, top_n, starts):
    post = RerankPostprocessor(reranker="bm25", top_n=top_n, metadata_mode="none")
    want = [n.node.node_id for n in post.postprocess_nodes(_nodes(), query_str=QUERY)]
    make = _iterables()[how]
    got = [n.node.node_id for n in post.postprocess_nodes(make(_nodes()), query_str=QUERY)]
    agot = [
        n.node.node_id
        for n in asyncio.run(
            post.apostprocess_nodes(make(_nodes()), query_bundle=QueryBundle(QUERY))
        )
    ]
    assert got == agot == want and len(want) == (top_n or len(TEXTS))
    assert [len(e.nodes) for e in starts] == [len(TEXTS)] * 3  # the event sees the whole list


def test_llamaindex_generator_with_a_bad_item_names_it_and_empty_generator_is_empty():
    post = RerankPostprocessor(reranker="bm25")
    mixed = (x for x in [_nodes()[0], TextNode(text="bare")])
    with pytest.raises(InvalidInputError, match="node 1 is TextNode, not NodeWithScore"):
        post.postprocess_nodes(mixed, query_str=QUERY)
    assert post.postprocess_nodes((n for n in []), query_str=QUERY) == []
    with pytest.raises(InvalidInputError, match="query is empty"):
        post.postprocess_nodes((n for n in []), query_str=" ")


@pytest.mark.parametrize("bad", ["one string", None, {"a": 1}, 42, b"bytes"])
def test_llamaindex_nodes_that_are_not_an_iterable(bad):
    post = RerankPostprocessor(reranker="bm25")
    with pytest.raises(InvalidInputError, match="nodes must be a sequence"):
        post.postprocess_nodes(bad, query_str=QUERY)
    with pytest.raises(InvalidInputError, match="nodes must be a sequence"):
        asyncio.run(post.apostprocess_nodes(bad, query_str=QUERY))


# --------------------------------------------------------------------------- 10: constructor arguments
def _construct(entry: str, spec, **kwargs):
    if entry == "RerankCompressor":
        return RerankCompressor(reranker=spec, **kwargs)
    if entry == "init_compressor":
        return init_compressor(spec, **kwargs)
    if entry == "RerankPostprocessor":
        return RerankPostprocessor(reranker=spec, **kwargs)
    return init_postprocessor(spec, **kwargs)


ENTRIES = ["RerankCompressor", "init_compressor", "RerankPostprocessor", "init_postprocessor"]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("topn", "top_n"), ("score_treshold", "score_threshold"), ("normalise", "normalize"),
     ("k_1", "k1"), ("fallback", "fallbacks")],
)
def test_unknown_arguments_are_refused_with_the_closest_name(entry, name, suggestion):
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'\\?") as info:
        _construct(entry, "bm25", **{name: 1})
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("entry", ["RerankPostprocessor", "init_postprocessor"])
def test_llamaindex_field_typos_are_refused_too(entry):
    with pytest.raises(ConfigError, match="did you mean 'keep_retrieval_score'"):
        _construct(entry, "bm25", keep_retrival_score=True)
    with pytest.raises(ConfigError, match="did you mean 'metadata_mode'"):
        _construct(entry, "bm25", metadata_mod="none")


@pytest.mark.parametrize("entry", ["RerankCompressor", "RerankPostprocessor"])
def test_langchain_has_no_llamaindex_fields(entry):
    if entry == "RerankCompressor":
        with pytest.raises(ConfigError, match="'keep_retrieval_score'"):
            _construct(entry, "bm25", keep_retrieval_score=True)
    else:
        assert _construct(entry, "bm25", keep_retrieval_score=True).keep_retrieval_score


CONTROLS = [
    {"score_threshold": 100.0},
    {"normalize": "minmax"},
    {"fallbacks": ["bm25?k1=0.9"]},
    {"dedup": "collapse", "rank_fields": "title"},
    {"k1": 1.2, "b": 0.5},
]


def _facts(adapter) -> tuple:
    rr = adapter.reranker
    setup = rr.ranking_setup
    return (type(rr), rr.k1, rr.b, setup.controls, [f.name for f in setup.fallbacks], adapter.top_n)


@pytest.mark.parametrize("options", CONTROLS, ids=lambda o: ",".join(o))
@pytest.mark.parametrize("pair", [("RerankCompressor", "init_compressor"),
                                  ("RerankPostprocessor", "init_postprocessor")])
def test_constructor_applies_controls_and_options_like_init(pair, options):
    constructor, init = pair
    built = _construct(constructor, "bm25", top_n=2, **options)
    want = _construct(init, "bm25", top_n=2, **options)
    reference = init_reranker("bm25", **options)
    assert _facts(built) == _facts(want)
    assert _facts(built)[:5] == _facts(type(built)(reranker=reference, top_n=2))[:5]


@pytest.mark.parametrize("entry", ENTRIES)
def test_score_threshold_given_to_any_entry_point_filters(entry):
    kwargs = {"metadata_mode": "none"} if "ostprocessor" in entry else {}
    adapter = _construct(entry, "bm25", top_n=None, score_threshold=100.0, **kwargs)
    assert adapter.reranker.ranking_setup.controls.score_threshold == 100.0
    assert _run(adapter) == []


@pytest.mark.parametrize("entry", ENTRIES)
def test_options_with_a_built_reranker_are_refused_by_every_entry_point(entry):
    with pytest.raises(ConfigError, match="already built Reranker"):
        _construct(entry, init_reranker("bm25"), score_threshold=0.5)


@pytest.mark.parametrize("entry", ENTRIES)
def test_top_n_from_the_spec_and_explicit_top_n_agree_everywhere(entry):
    assert _construct(entry, "bm25?top_n=5").top_n == 5
    assert _construct(entry, "bm25?top_n=5", top_n=1).top_n == 1
    assert _construct(entry, "bm25").top_n == 3
    with pytest.raises(InvalidInputError, match="top_n must be None"):
        _construct(entry, "bm25", top_n=0)


@pytest.mark.parametrize("kind", ADAPTERS)
@pytest.mark.parametrize("bad", [2.5, 0, -1, True, "3"])
def test_assigning_a_bad_top_n_is_a_typed_error(kind, bad):
    adapter = _adapter(kind, "bm25", top_n=2)
    with pytest.raises(InvalidInputError) as info:
        adapter.top_n = bad
    with pytest.raises(InvalidInputError) as expected:
        check_top_n(bad)
    assert str(info.value) == str(expected.value)
    assert adapter.top_n == 2  # unchanged
    adapter.top_n = 1
    assert len(_run(adapter)) == 1
    adapter.top_n = None
    assert len(_run(adapter)) == len(TEXTS)


@pytest.mark.parametrize("kind", ADAPTERS)
def test_assigning_a_reranker_builds_it(kind):
    adapter = _adapter(kind, "bm25")
    adapter.reranker = "bm25?k1=0.7"
    assert adapter.reranker.k1 == 0.7
    with pytest.raises(ConfigError, match="unknown backend"):
        adapter.reranker = "nope"
    assert adapter.reranker.k1 == 0.7
