"""The server process: torch's OpenMP threads wait passively (set before torch loads, in
uvicorn worker processes too, unless the user chose a policy), and ``--workers 2`` serves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from rag_rerankers.serve.settings import SERVER_ENV, apply_server_env

from serve.helpers import free_port, tiny_spec, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, **extra}


def test_apply_server_env_keeps_the_users_choice() -> None:
    env: dict[str, str] = {}
    assert apply_server_env(env) == {"OMP_WAIT_POLICY": "PASSIVE"} == SERVER_ENV
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "active"}
    assert apply_server_env(env) == {} and env == {"OMP_WAIT_POLICY": "active"}


# Runs `rag-rerankers serve` with uvicorn.run replaced; records what create_app saw.
_SPY = """
import json, os, sys
import uvicorn
import rag_rerankers.serve.app as appmod
seen = {}
real = appmod.create_app
def spy(models, settings):
    seen["torch_loaded_before"] = "torch" in sys.modules
    seen["policy_at_build"] = os.environ.get("OMP_WAIT_POLICY")
    app = real(models, settings)
    seen["torch_loaded_after"] = "torch" in sys.modules
    return app
appmod.create_app = spy
uvicorn.run = lambda app, **kw: None
from rag_rerankers.cli import main
code = main(["serve", sys.argv[1]])
print(json.dumps(seen))
"""


def test_cli_sets_passive_openmp_before_torch_loads() -> None:
    spec = tiny_spec("offline=true")
    out = subprocess.run([sys.executable, "-c", _SPY, spec], env=_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # torch was first imported by the model build, after the policy was set
    assert seen == {"torch_loaded_before": False, "policy_at_build": "PASSIVE",
                    "torch_loaded_after": True}
    out = subprocess.run([sys.executable, "-c", _SPY, "bm25"], env=_env(OMP_WAIT_POLICY="ACTIVE"),
                         capture_output=True, text=True, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1])["policy_at_build"] == "ACTIVE"



def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    kids: list[int] = []
    for task in tasks.iterdir():
        text = (task / "children").read_text().split()
        kids += [int(x) for x in text]
    return kids


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(x.decode().split("=", 1) for x in raw if b"=" in x)


def test_two_worker_processes_serve_and_inherit_the_policy() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag_rerankers", "serve", "bm25?top_n=1", "--workers", "2",
         "--port", str(port)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, timeout=120)
        body = {"query": "red apple", "texts": ["sky", "red apple", "apple pie"]}
        for _ in range(20):
            assert [x["index"] for x in httpx.post(url + "/rerank", json=body).json()] == [1]
        # uvicorn's worker processes (multiprocessing's spawn; not its resource tracker)
        workers = [pid for pid in _children(proc.pid)
                   if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 2, _children(proc.pid)
        for pid in workers:
            env = _environ(pid)
            assert env["OMP_WAIT_POLICY"] == "PASSIVE"
            assert json.loads(env["RAG_RERANKERS_SERVE_CONFIG"])["models"] == {"bm25": "bm25?top_n=1"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
