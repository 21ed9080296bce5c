"""A stand-in for the Hugging Face hub on 127.0.0.1, for ``HF_ENDPOINT``.

:class:`FakeHub` serves model folders through the part of the hub's HTTP API that
``huggingface_hub.snapshot_download`` / ``hf_hub_download`` use:

- ``GET /api/models/{repo}[/revision/{rev}]``: the model info (commit ``sha``, ``siblings``);
- ``GET /api/models/{repo}/tree/{rev}``: the file listing (``path``, ``size``, ``oid``);
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: a file, with the ``X-Repo-Commit`` and
  ``ETag`` headers huggingface_hub requires.

Every request is recorded (``requests``), so tests can check which files were fetched.
:func:`hanging_server` accepts connections and never answers; :func:`closed_port` is a port
nobody listens on.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


def _blob_id(data: bytes) -> str:
    """The git blob id of a file (what the hub reports as a non-LFS file's ``oid`` and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """Serve ``repos`` (``{"org/name": folder}``) as a hub at :attr:`endpoint`.

    Example::

        with FakeHub({"org/tiny": folder}) as hub:
            monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    """

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                hub._handle(self, body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                hub._handle(self, body=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def commit(self, repo: str) -> str:
        return hashlib.sha1(repo.encode()).hexdigest()

    def files(self, repo: str) -> list[str]:
        folder = self.repos[repo]
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    def fetched(self, repo: str) -> list[str]:
        """The files of ``repo`` downloaded (GET) so far."""
        prefix = f"/{repo}/resolve/"
        with self._lock:
            return sorted({unquote(path[len(prefix):].split("/", 1)[1])
                           for method, path in self.requests if method == "GET" and path.startswith(prefix)})

    def _find_repo(self, path: str) -> tuple[str, str] | None:
        for repo in self.repos:
            if path == repo or path.startswith(repo + "/"):
                return repo, path[len(repo):].lstrip("/")
        return None

    def _handle(self, h: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = urlparse(h.path).path
        with self._lock:
            self.requests.append((h.command, path))
        if path.startswith("/api/models/"):
            found = self._find_repo(path[len("/api/models/"):])
            if found is None:
                return self._send(h, 404, b'{"error": "Repository not found"}',
                                  {"X-Error-Code": "RepoNotFound"}, body)
            repo, rest = found
            commit = self.commit(repo)
            if rest.startswith("tree/"):
                listing = [
                    {"type": "file", "path": f, "size": (self.repos[repo] / f).stat().st_size,
                     "oid": _blob_id((self.repos[repo] / f).read_bytes())}
                    for f in self.files(repo)
                ]
                return self._send(h, 200, json.dumps(listing).encode(), {}, body)
            info = {"id": repo, "modelId": repo, "sha": commit, "private": False,
                    "siblings": [{"rfilename": f} for f in self.files(repo)]}
            return self._send(h, 200, json.dumps(info).encode(), {}, body)
        match = re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path)
        found = self._find_repo(match.group(1)) if match else None
        if match is None or found is None or found[1]:
            return self._send(h, 404, b"not found", {"X-Error-Code": "RepoNotFound"}, body)
        repo = found[0]
        file = self.repos[repo] / unquote(match.group(3))
        if not file.is_file():
            return self._send(h, 404, b"not found",
                              {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.commit(repo)}, body)
        data = file.read_bytes()
        headers = {"X-Repo-Commit": self.commit(repo), "ETag": f'"{_blob_id(data)}"'}
        return self._send(h, 200, data, headers, body, content_type="application/octet-stream")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str],
              body: bool, content_type: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        if body:
            h.wfile.write(data)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class hanging_server:  # noqa: N801 - used like a function, as a context manager
    """A TCP server on 127.0.0.1 that accepts connections and never answers.

    Example::

        with hanging_server() as endpoint:
            monkeypatch.setenv("HF_ENDPOINT", endpoint)
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._held.append(conn)  # keep it open, read nothing, send nothing

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()


def closed_port() -> str:
    """An endpoint on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
