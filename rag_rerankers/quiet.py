"""Quiet model loading: no progress bars from transformers or huggingface_hub unless asked.

Loading a model makes transformers draw a "Loading weights" bar (through ``tqdm.auto``, whose
import in a notebook without ipywidgets also warns ``IProgress not found``: silenced when a
quiet load is the first to import transformers) and huggingface_hub draw a bar per downloaded
file. A library call should print nothing unless asked, so the local
backends load their models inside :func:`quiet_loading`; their ``progress=true`` option brings
the bars back.

Scope, so that the user's own use of these libraries is left alone:

- transformers' bars are replaced by silent ones in the loading thread only, through
  ``transformers.utils.logging.set_tqdm_hook``, installed while a quiet load runs and removed
  after (other threads get the bar they would have had). transformers releases without that
  hook get the global switch (``disable_progress_bar``), restored afterwards.
- huggingface_hub's download bars can only be switched off globally (downloads run in worker
  threads): they are off while at least one quiet load runs and restored, group settings
  included, when the last one ends. ``HF_HUB_DISABLE_PROGRESS_BARS=0`` (bars forced on) wins.

Example:
    >>> with quiet_loading():
    ...     pass  # load a model here: no progress bars
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_local = threading.local()  # .depth: quiet loads running in this thread
_active = 0  # quiet loads running in the process
_restore: list[Any] = []  # how to undo what the first quiet load switched off


def _quiet_here() -> bool:
    return getattr(_local, "depth", 0) > 0


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-imported package: leave it alone
        return False


class _TransformersHook:
    """A ``set_tqdm_hook`` hook: silent bars in quiet threads, the usual ones elsewhere."""

    def __init__(self, previous: Any, empty: Any) -> None:
        self.previous = previous
        self.empty = empty

    def __call__(self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _quiet_here():
            return self.empty(*args, **kwargs)
        if self.previous is not None:
            return self.previous(factory, args, kwargs)
        return factory(*args, **kwargs)


def _import_transformers_logging() -> Any:
    # Imported before huggingface_hub's bars go off: transformers reads that switch once, at
    # import, as its own default.
    if not _installed("transformers"):
        return None
    if "transformers.utils.logging" in sys.modules:
        return sys.modules["transformers.utils.logging"]
    with warnings.catch_warnings():
        # transformers imports tqdm.auto, which in a notebook without ipywidgets warns once,
        # at import, "IProgress not found": about bars that quiet loading never draws.
        warnings.filterwarnings("ignore", message="IProgress not found")
        from transformers.utils import logging as tf_logging

    return tf_logging


def _silence_transformers() -> None:
    tf_logging = _import_transformers_logging()
    if tf_logging is None:
        return

    set_hook = getattr(tf_logging, "set_tqdm_hook", None)
    if set_hook is not None:
        hook = _TransformersHook(None, tf_logging.EmptyTqdm)
        hook.previous = set_hook(hook)

        def undo() -> None:
            current = set_hook(hook.previous)
            if current is not hook:  # someone set their own hook meanwhile: keep theirs
                set_hook(current)

        _restore.append(undo)
    elif tf_logging.is_progress_bar_enabled():  # older transformers: the global switch
        tf_logging.disable_progress_bar()
        _restore.append(tf_logging.enable_progress_bar)


def _silence_hub() -> None:
    if not _installed("huggingface_hub"):
        return
    # The module (``huggingface_hub.utils.tqdm`` as an attribute is its tqdm class).
    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")

    if getattr(hub_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS", None) is False:
        return  # the user forced bars on with the environment variable
    states = getattr(hub_tqdm, "progress_bar_states", None)
    if isinstance(states, dict):
        saved = dict(states)
        hub_tqdm.disable_progress_bars()

        def undo() -> None:
            states.clear()
            states.update(saved)

        _restore.append(undo)
    elif not hub_tqdm.are_progress_bars_disabled():
        hub_tqdm.disable_progress_bars()
        _restore.append(hub_tqdm.enable_progress_bars)


@contextmanager
def quiet_loading(progress: bool = False) -> Iterator[None]:
    """Load models in this block without progress bars (``progress=True``: leave them on).

    Thread-safe and re-entrant; everything switched off is restored when the last quiet block
    in the process ends.
    """
    global _active
    if progress:
        yield
        return
    with _lock:
        if _active == 0:
            # Undo (in reverse) whatever got switched off if a later step fails.
            try:
                _import_transformers_logging()
                _silence_hub()  # restored last: transformers' old global switch touches it
                _silence_transformers()
            except BaseException:
                _undo()
                raise
        _active += 1
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1
        with _lock:
            _active -= 1
            if _active == 0:
                _undo()


def _undo() -> None:
    while _restore:
        _restore.pop()()
