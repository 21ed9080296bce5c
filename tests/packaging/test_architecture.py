"""The package's import structure: no cycles (lazy imports included), layers that point one way."""

from __future__ import annotations

import grimp
import networkx as nx
import pytest

PACKAGES = ("rag_rerankers", "langchain_rerankers", "llamaindex_rerankers", "rag_rerankers_demo")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # grimp reads every import statement, those inside functions and TYPE_CHECKING blocks too.
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def _internal(graph: grimp.ImportGraph) -> nx.DiGraph:
    edges = nx.DiGraph()
    for module in graph.modules:
        if module.split(".")[0] not in PACKAGES:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.split(".")[0] in PACKAGES:
                edges.add_edge(module, imported)
    return edges


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = [sorted(c) for c in nx.strongly_connected_components(_internal(graph)) if len(c) > 1]
    assert cycles == []


def test_the_core_imports_no_framework(graph: grimp.ImportGraph) -> None:
    for other in ("langchain_rerankers", "llamaindex_rerankers", "rag_rerankers_demo", "langchain_core",
                  "langchain_classic", "llama_index"):
        if other in graph.modules:
            chain = graph.find_shortest_chain("rag_rerankers", other, as_packages=True)
            assert chain is None, chain


def test_lower_layers_do_not_import_higher_ones(graph: grimp.ImportGraph) -> None:
    """The registry imports no backend (it reads their declarations by module name); the
    controls build on a protocol, not on the base class or the factory."""
    backends = {m for m in graph.modules if m.startswith("rag_rerankers.backends.")}
    assert not graph.find_modules_directly_imported_by("rag_rerankers.registry") & backends
    for low in ("rag_rerankers.controls", "rag_rerankers.options", "rag_rerankers.config",
                "rag_rerankers.types", "rag_rerankers.errors"):
        for high in ("rag_rerankers.base", "rag_rerankers.factory", "rag_rerankers.registry",
                     "rag_rerankers.backends"):
            assert graph.find_shortest_chain(low, high, as_packages=True) is None, (low, high)


def test_every_shipped_backend_module_declares_itself() -> None:
    import importlib

    from rag_rerankers.registry import BACKEND_MODULES, list_backends

    names = [importlib.import_module(m).BACKEND.name for m in BACKEND_MODULES]
    assert names == [b["name"] for b in list_backends()][: len(names)]
