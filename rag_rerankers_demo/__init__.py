"""The ``rag-rerankers demo`` command: an application of the core and the LangChain adapter.

Not part of either: the core (:mod:`rag_rerankers`) and the adapters never import it. It is
found by the command line through the ``rag_rerankers.commands`` entry point
``demo = "rag_rerankers_demo.cli:DEMO"``.

- :mod:`rag_rerankers_demo.cli`: the command (arguments and handler; imports nothing heavy);
- :mod:`rag_rerankers_demo.demo`: the pipeline (``LSAEmbeddings``, ``FaissRetriever``,
  ``run_demo``); needs ``pip install "rag-rerankers[demo]"``.
"""
