"""Where the benchmarks find TREC DL19 (``../shared/data/trec-dl19``, never copied into the repo).

Imported by the benchmark scripts (run as ``python benchmarks/NAME.py``, so this folder is on
``sys.path``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def find_dl19_candidates() -> Path:
    """``bm25_top100_dl19.json``: from ``TREC_DL19_DIR``, else ``shared/data/trec-dl19`` beside
    the repository or above it (a git worktree below it); the expected path when absent."""
    if os.environ.get("TREC_DL19_DIR"):
        return Path(os.environ["TREC_DL19_DIR"]) / "bm25_top100_dl19.json"
    for parent in ROOT.parents:
        candidate = parent / "shared" / "data" / "trec-dl19" / "bm25_top100_dl19.json"
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "data" / "trec-dl19" / "bm25_top100_dl19.json"
