"""The same app as a Ray Serve deployment (extra ``[ray]``): replicas across a Ray cluster,
with Ray's autoscaling.

:func:`deployment` returns a bound Ray Serve application; each replica builds its own app with
:func:`~rag_rerankers.serve.app.create_app` (so each loads its own models, and cross-request
batching works per replica). ``rag-rerankers serve SPEC --ray`` runs it (:func:`run_ray`).

Example (needs a Ray cluster, or starts a local one)::

    from ray import serve
    from rag_rerankers.serve.ray import deployment

    app = deployment({"bge": "bge?top_n=10"}, num_replicas=2, threads=4)
    serve.run(app, route_prefix="/")          # http://127.0.0.1:8000/v2/rerank, /rerank, ...

    # or autoscaling between 1 and 8 replicas, ~16 requests in flight each:
    app = deployment({"bge": "bge"}, autoscaling={"min_replicas": 1, "max_replicas": 8,
                                                  "target_ongoing_requests": 16})
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from rag_rerankers.errors import ConfigError, MissingDependencyError
from rag_rerankers.serve.settings import ServeSettings


class RerankerReplica:
    """The deployment class: each replica builds its app (and loads its models) once, at
    start; Ray Serve routes HTTP requests to that app (``serve.ingress`` with no app calls
    ``__serve_build_asgi_app__``)."""

    def __init__(self, models: dict[str, Any], settings_json: str) -> None:
        self.models = models
        self.settings = ServeSettings.from_json(settings_json)

    def __serve_build_asgi_app__(self) -> Any:
        from rag_rerankers.serve.app import create_app

        return create_app(self.models, self.settings)


def deployment(
    models: Mapping[str, Any] | str,
    settings: ServeSettings | None = None,
    *,
    num_replicas: int = 1,
    autoscaling: Mapping[str, Any] | None = None,
    threads: int = 1,
    name: str = "rag-rerankers",
    ray_actor_options: Mapping[str, Any] | None = None,
) -> Any:
    """A bound Ray Serve application serving ``models`` (config strings or dicts) like
    :func:`~rag_rerankers.serve.app.create_app`.

    Args:
        num_replicas: fixed replica count (ignored when ``autoscaling`` is given).
        autoscaling: Ray Serve's ``autoscaling_config`` (``min_replicas``, ``max_replicas``,
            ``target_ongoing_requests``, ...).
        threads: torch threads per replica; each replica also reserves that many CPUs
            (``num_cpus``), so Ray places replicas × threads within the cluster's cores.
        ray_actor_options: more actor options (``num_gpus``, ``runtime_env``, ...).
    """
    try:
        from ray import serve
    except ImportError as exc:
        raise MissingDependencyError("serve --ray", "ray", exc.name or "ray") from exc
    if isinstance(models, str):
        from rag_rerankers.serve.app import _spec_name

        models = {_spec_name(models): models}
    if any(not isinstance(spec, (str, Mapping)) for spec in models.values()):
        raise ConfigError("Ray replicas build their own models: pass config strings or dicts")
    settings = dataclasses.replace(settings or ServeSettings(), threads=threads, workers=1)
    actor = {"num_cpus": threads, **dict(ray_actor_options or {})}
    actor["runtime_env"] = replica_runtime_env(actor.get("runtime_env"))
    options: dict[str, Any] = {
        "name": name,
        "ray_actor_options": actor,
        "max_ongoing_requests": settings.max_pending,
    }
    if autoscaling:
        options["autoscaling_config"] = dict(autoscaling)
    else:
        options["num_replicas"] = num_replicas
    ingress = serve.ingress()(RerankerReplica)
    bound = serve.deployment(ingress, **options)
    return bound.bind(dict(models), settings.to_json())  # type: ignore[attr-defined]


def replica_runtime_env(runtime_env: Mapping[str, Any] | None) -> dict[str, Any]:
    """The replicas' ``runtime_env``: the given one, with :data:`~.settings.SERVER_ENV`'s
    variables added where it sets none (replica processes start torch with them).

    Example:
        >>> replica_runtime_env({"env_vars": {"OMP_WAIT_POLICY": "ACTIVE"}})
        {'env_vars': {'OMP_WAIT_POLICY': 'ACTIVE'}}
        >>> replica_runtime_env(None)
        {'env_vars': {'OMP_WAIT_POLICY': 'PASSIVE'}}
    """
    from rag_rerankers.serve.settings import SERVER_ENV

    out = dict(runtime_env or {})
    out["env_vars"] = {**SERVER_ENV, **dict(out.get("env_vars") or {})}
    return out


def parse_autoscale(value: str | None) -> dict[str, Any] | None:
    """``"1:8"`` -> Ray Serve ``autoscaling_config`` with those min and max replicas.

    Example:
        >>> parse_autoscale("1:8")
        {'min_replicas': 1, 'max_replicas': 8, 'target_ongoing_requests': 16}
    """
    if not value:
        return None
    low, sep, high = value.partition(":")
    if not sep or not low.isdigit() or not high.isdigit() or int(low) > int(high) or int(high) < 1:
        raise ConfigError(f"--autoscale takes MIN:MAX replicas (e.g. 1:8), got {value!r}")
    return {"min_replicas": int(low), "max_replicas": int(high), "target_ongoing_requests": 16}


def run_ray(models: Mapping[str, Any], settings: ServeSettings, *, host: str, port: int,
            replicas: int = 1, autoscale: str | None = None) -> int:
    """``rag-rerankers serve --ray``: connect to (or start) Ray, deploy, block until Ctrl-C."""
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise MissingDependencyError("serve --ray", "ray", exc.name or "ray") from exc
    threads = settings.threads or 1
    app = deployment(models, settings, num_replicas=replicas,
                     autoscaling=parse_autoscale(autoscale), threads=threads)
    ray.init(ignore_reinit_error=True)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(app, route_prefix="/")
        print(f"rag-rerankers on Ray Serve: http://{host}:{port} (Ctrl-C to stop)", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:  # also while still deploying
        serve.shutdown()
    return 0
