"""Backend implementations, one module per backend.

Modules here import their heavy dependencies (torch, SDKs) lazily, so importing a module is
cheap; the registry (:mod:`rag_rerankers.registry`) maps names to these classes.
"""
