"""Quiet by default: loading a local model prints no progress bars (transformers' "Loading
weights", huggingface_hub's downloads) unless ``progress=true``; the switches are scoped to the
loading thread where the libraries allow it and restored afterwards."""

from __future__ import annotations

import os
import threading

import pytest

from rag_rerankers import init_reranker
from rag_rerankers.quiet import quiet_loading

from local.helpers import minilm_folder, tiny_model

# Each spec loads its folder through the backend's real loading code.
SPECS = {
    "cross-encoder": ("bert", "cross-encoder:{}"),
    "mxbai": ("mxbai", "mxbai:{}"),
    "colbert": ("colbert", "colbert:{}"),
    "embedding": (None, "embedding:{}"),
    "causal-lm": ("qwen3", "causal-lm:{}"),
    "bge-gemma": ("qwen3-bos", "bge-gemma:{}"),
}

# huggingface_hub's switch is fixed by this variable, when set: the restore checks need it unset.
hub_switch = pytest.mark.skipif(
    os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") is not None,
    reason="HF_HUB_DISABLE_PROGRESS_BARS fixes huggingface_hub's progress-bar switch",
)

BAR_MARKS = ("Loading weights", "it/s]", "%|")


def _fresh_folder(tmp_path, kind):
    """A link to the model folder with a name of its own, so the process-wide model cache
    (keyed by folder) cannot answer and the model is really loaded."""
    link = tmp_path / "model"
    link.symlink_to(minilm_folder() if kind is None else tiny_model(kind), target_is_directory=True)
    return link


@pytest.mark.parametrize("backend", list(SPECS))
def test_loading_a_model_prints_no_progress_bar(backend, tmp_path, capfd):
    kind, spec = SPECS[backend]
    folder = _fresh_folder(tmp_path, kind)
    capfd.readouterr()
    reranker = init_reranker(spec.format(folder))
    out, err = capfd.readouterr()
    for mark in BAR_MARKS:
        assert mark not in err and mark not in out, err[-500:]
    assert "LOAD REPORT" not in err  # colbert: the report every ColBERTv2 folder triggers
    assert reranker.progress is False


def test_progress_true_brings_the_bars_back(tmp_path, capfd):
    folder = _fresh_folder(tmp_path, "bert")
    capfd.readouterr()
    init_reranker(f"cross-encoder:{folder}?progress=true")
    assert "Loading weights" in capfd.readouterr().err


def _hub_state():
    import importlib

    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")
    return dict(hub_tqdm.progress_bar_states)


@hub_switch
def test_other_threads_keep_their_transformers_bars_and_everything_is_restored():
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )
    from transformers.utils import logging as tf_logging

    disable_progress_bars("some.group")  # a user's own setting, which must survive
    try:
        before = _hub_state()
        seen: dict[str, object] = {}

        def elsewhere() -> None:
            bar = tf_logging.tqdm(range(3), disable=True)
            seen["other"] = "silent" if isinstance(bar, tf_logging.EmptyTqdm) else "bar"

        with quiet_loading():
            bar = tf_logging.tqdm(range(3))
            seen["here"] = "silent" if isinstance(bar, tf_logging.EmptyTqdm) else "bar"
            worker = threading.Thread(target=elsewhere)
            worker.start()
            worker.join()
            assert are_progress_bars_disabled()  # downloads: the global switch, for the load
        assert seen == {"here": "silent", "other": "bar"}
        assert tf_logging.set_tqdm_hook(None) is None  # our hook was removed
        assert tf_logging.is_progress_bar_enabled()
        assert _hub_state() == before
        assert are_progress_bars_disabled("some.group") and not are_progress_bars_disabled()
    finally:
        enable_progress_bars()


@hub_switch
def test_overlapping_quiet_loads_restore_once_the_last_ends():
    from huggingface_hub.utils import are_progress_bars_disabled

    first_in, second_done, release = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with quiet_loading():
            first_in.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert first_in.wait(10)
    with quiet_loading():
        pass
    second_done.set()
    assert are_progress_bars_disabled()  # the first load is still running
    release.set()
    t.join(10)
    assert not are_progress_bars_disabled()


def test_a_user_hook_set_during_a_quiet_load_is_kept():
    from transformers.utils import logging as tf_logging

    def mine(factory, args, kwargs):
        return factory(*args, **kwargs)

    try:
        with quiet_loading():
            tf_logging.set_tqdm_hook(mine)
        assert tf_logging.set_tqdm_hook(None) is mine
    finally:
        tf_logging.set_tqdm_hook(None)


def test_a_colbert_load_report_that_lists_a_real_problem_is_still_logged():
    import logging

    from rag_rerankers.backends.colbert import expected_load_report

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    source = logging.getLogger("transformers.modeling_utils")
    kept = Keep()
    source.addHandler(kept)
    try:
        with expected_load_report():
            source.warning("BertModel LOAD REPORT\nlinear.weight | UNEXPECTED |\n"
                           "bert.encoder.layer.0.output.dense.weight | MISSING |")
            source.warning("BertModel LOAD REPORT\nlinear.weight | UNEXPECTED |\n"
                           "pooler.dense.bias | MISSING |")
    finally:
        source.removeHandler(kept)
    assert len(kept.messages) == 1 and "encoder.layer.0" in kept.messages[0]
    assert not source.filters  # removed after the load
