"""Regenerate the pictures and figures of docs/choosing-a-reranker.md and docs/evaluation.md
from real runs of ``compare`` (never drawn by hand).

    python tools/docs_plots.py                 # the bundled sample, and TREC DL19 when present
    python tools/docs_plots.py --no-dl19       # the sample only (seconds)

Writes ``docs/img/<dataset>-quality_vs_latency.png``, ``docs/img/<dataset>-metrics.png`` (the
plots ``compare`` draws, copied as they are) and ``docs/img/figures.json`` (the numbers the
pages quote, with the date, the machine and the command). TREC DL19 is read from
``RAG_RERANKERS_TREC_DL19`` or ``../shared/data/trec-dl19`` next to the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
RERANKERS = ["bm25", "embedding?offline=true&batch_size=64"]


def dl19_dir() -> Path | None:
    env = os.environ.get("RAG_RERANKERS_TREC_DL19")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "data" / "trec-dl19",
                   Path("/work/shared/data/trec-dl19")]
    return next((p for p in candidates if (p / "qrels.dl19-passage.txt").exists()), None)


def run(name: str, dataset, metrics: list[str], rel: int) -> dict:
    from rag_rerankers.evaluation import compare

    with tempfile.TemporaryDirectory() as tmp:
        cmp = compare(RERANKERS, dataset, metrics, rel=rel, out_dir=tmp, progress=True)
        for plot in ("quality_vs_latency", "metrics"):
            shutil.copy(cmp.files[plot], IMG / f"{name}-{plot}.png")
    return {
        "dataset": cmp.dataset,
        "rel": rel,
        "runs": [{k: v for k, v in row.items()} for row in cmp.rows()],
    }


def api_prices(dataset) -> dict:
    """Estimated price of 1,000 queries of 100 candidates from the providers' published prices
    (:mod:`rag_rerankers.evaluation.pricing`), with this dataset's own query and passage
    lengths."""
    from rag_rerankers.evaluation.pricing import PRICES, estimate_cost

    qids = dataset.evaluated_qids
    out = {}
    for backend, models in PRICES.items():
        for model, price in models.items():
            costs = [estimate_cost(backend, None if model == "*" else model, dataset.queries[q],
                                   [c.text for c in dataset.candidates[q][:100]]) for q in qids]
            if any(c is None for c in costs):
                out[f"{backend}:{model}"] = {"usd_per_1000": None, "note": price.note}
                continue
            out[f"{backend}:{model}"] = {
                "usd_per_1000": round(statistics.mean(costs) * 1000, 4),
                "unit": price.unit, "source": price.source, "checked": price.checked,
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-dl19", action="store_true", help="skip TREC DL19")
    args = parser.parse_args()
    from rag_rerankers.evaluation import load_dataset, sample_dataset

    IMG.mkdir(parents=True, exist_ok=True)
    figures = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python tools/docs_plots.py" + (" --no-dl19" if args.no_dl19 else ""),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "rerankers": RERANKERS,
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
    }
    figures["sample"] = run("sample", sample_dataset(depth=20), ["nDCG@10", "MRR@10", "Recall@10"], 1)
    found = None if args.no_dl19 else dl19_dir()
    if found is not None:
        dl19 = load_dataset(found)
        figures["dl19"] = run("dl19", dl19, ["nDCG@10", "MRR@10", "MAP"], 2)
        figures["api_price_dl19"] = api_prices(dl19)
    elif not args.no_dl19:
        print("TREC DL19 not found: only the sample was run", file=sys.stderr)
    figures["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    (IMG / "figures.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"wrote {IMG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
