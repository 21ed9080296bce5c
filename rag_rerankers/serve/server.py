"""Run an app on uvicorn in a background thread: :class:`ServerThread` (tests, benchmarks,
notebooks).

Example:
    >>> import httpx
    >>> from rag_rerankers.serve.app import create_app
    >>> with ServerThread(create_app({"lexical": "bm25"})) as server:
    ...     httpx.get(server.url + "/health").json()["status"]
    'ok'
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any


class ServerThread:
    """uvicorn serving ``app`` on ``host`` (port 0: a free one) in a daemon thread.

    :meth:`stop` is uvicorn's graceful shutdown: no new connections, in-flight requests
    finish (up to ``graceful_timeout`` seconds), then the app's shutdown runs.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 graceful_timeout: float = 30.0, **config: Any) -> None:
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                     timeout_graceful_shutdown=math.ceil(graceful_timeout),
                                     **config)
        self.server = uvicorn.Server(self.config)
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start serving; returns once the port is bound."""
        self._thread = threading.Thread(target=self.server.run, name="rag-rerankers-serve",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful shutdown (see the class docs); waits for the thread to end."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
