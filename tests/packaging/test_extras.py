"""The local extras install no surprise: ``[colbert]`` needs nothing beyond ``[cross-encoder]``
(no PyLate, fast-plaid or a CUDA torch), and every extra's whole dependency tree is satisfied
by the versions this environment resolved (so installing one downgrades nothing here)."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
LOCAL = ["cross-encoder", "onnx", "flashrank", "mxbai", "causal-lm", "colbert"]


def _closure(extra: str) -> dict[str, str]:
    """Every distribution the extra pulls in (transitively), with the installed version.

    Fails with the requirement that this environment does not satisfy.
    """
    todo = [Requirement(r) for r in EXTRAS[extra]]
    seen: dict[str, str] = {}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == "rag-rerankers":  # an extra that includes another
            todo += [Requirement(r) for e in req.extras for r in EXTRAS[e]]
            continue
        if name in seen:
            continue
        version = metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), f"{req} but {version} is installed"
        seen[name] = version
        for sub in metadata.requires(req.name) or []:
            dep = Requirement(sub)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                todo.append(dep)
    return seen


@pytest.mark.parametrize("extra", LOCAL)
def test_local_extra_is_satisfied_without_changes(extra: str) -> None:
    tree = _closure(extra)
    assert not any(name.startswith("nvidia-") for name in tree), "a CUDA build would be pulled in"
    if "torch" in tree:
        assert "+cu" not in tree["torch"]


def test_colbert_adds_nothing_beyond_the_cross_encoder_extra() -> None:
    extra_packages = set(_closure("colbert")) - set(_closure("cross-encoder"))
    assert extra_packages == set()
    assert not {"pylate", "fast-plaid", "ragatouille", "colbert-ai"} & set(_closure("colbert"))
