"""The example notebooks run top to bottom, offline, and are stored without outputs.

Outputs are stripped (not stored) so that a notebook can never show results the code no longer
produces: CI executes every notebook instead. ``pytest --nbmake notebooks/`` runs them too
(with the package installed).

Run one by hand and see its outputs:
``python tests/docs/test_notebooks.py notebooks/01_langchain_quickstart.ipynb``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# Provider keys are removed from the kernel's environment: in CI the API notebook must talk to
# the fake server, never to a real provider.
PROVIDER_KEYS = (
    "COHERE_API_KEY", "CO_API_KEY", "VOYAGE_API_KEY", "JINA_API_KEY", "MXBAI_API_KEY",
    "MIXEDBREAD_API_KEY", "MIXEDBREAD_BASE_URL", "TEI_BASE_URL", "RERANKER", "OPENAI_API_KEY",
)


def kernel_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
    # The kernel imports the checkout's packages whether or not the project is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    # The "choosing a reranker" notebook also runs on TREC DL19 when the data is here
    # (../shared/data/trec-dl19 next to the checkout, or next to the main checkout of a worktree).
    if "RAG_RERANKERS_TREC_DL19" not in env:
        try:
            from eval.helpers import trec_dl19_dir
        except ImportError:  # pragma: no cover - a checkout without the evaluation tests
            trec_dl19_dir = None
        found = trec_dl19_dir() if trec_dl19_dir else None
        if found is not None:
            env["RAG_RERANKERS_TREC_DL19"] = str(found)
    return env


def execute(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel (cwd: its folder) and return it with outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    # Keyword arguments of execute() reach the kernel manager's start_kernel (env included).
    client.execute(env=kernel_env())
    return nb


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_langchain_quickstart.ipynb",
        "02_llamaindex_quickstart.ipynb",
        "03_choosing_a_reranker.ipynb",
        "04_api_providers.ipynb",
        "05_labels_from_your_documents.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_stripped(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have stored outputs; notebooks are kept stripped "
        "(clear all outputs before committing)"
    )
    assert "widgets" not in nb.metadata


# What a notebook must never show: progress bars of model loading, tqdm's complaint about
# ipywidgets, and deprecation warnings (langchain-community's sunset notice among them).
NOISE = ("Loading weights", "TqdmWarning", "IProgress not found", "DeprecationWarning",
         "is being sunset")


def noise(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(cell index, text) of every output of an executed notebook that shows :data:`NOISE`."""
    found = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            # stderr text, or a widget's text form (tqdm.auto draws widget bars with ipywidgets)
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            if any(mark in text for mark in NOISE):
                found.append((i, text[:300]))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_offline(path: Path) -> None:
    nb = execute(path)
    errors = [
        output for cell in nb.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "error"
    ]
    assert not errors
    assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    assert not noise(nb), f"{path.name} prints progress bars or warnings: {noise(nb)}"


if __name__ == "__main__":  # print a notebook's outputs, for writing and reviewing notebooks
    sys.path.insert(0, str(ROOT / "tests"))  # as pytest's pythonpath does: eval.helpers
    for arg in sys.argv[1:]:
        executed = execute(Path(arg).resolve())
        for cell in executed.cells:
            if cell.cell_type != "code":
                continue
            print(f"\n>>> {cell.source.splitlines()[0] if cell.source else ''}")
            for output in cell.outputs:
                if output.output_type == "stream":
                    print(output.text, end="")
                elif output.output_type in ("execute_result", "display_data"):
                    data = output.get("data", {})
                    print(data.get("text/plain", "") if "image/png" not in data else "[image/png]")
