"""``--executor ray``: shards as Ray actors, on this machine or across a Ray cluster.

``pip install "stratequeue[ray]"``. The run joins the cluster at ``--ray-address`` (or
``RAY_ADDRESS``), else starts a local Ray instance. Each shard is an actor reserving
``num_cpus=1``, placed by Ray's scheduler. The strategy files' folder is the runtime
environment's ``working_dir``, uploaded to every node (a strategy file's own helper modules
import there), and each strategy file's text travels with its shard. The main
process keeps the portfolio, the broker and the ledger.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .shard import Shard
from .sharded import ShardedExecutor, Worker, WorkerLost

__all__ = ["RayExecutor"]


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            '--executor ray needs Ray: pip install "stratequeue[ray]" (or use --executor process).'
        ) from None
    return ray


class _ActorWorker(Worker):
    def __init__(self, ray: Any, actor_class: Any, sources: Mapping[str, tuple[str, str]]) -> None:
        self.ray = ray
        self.actor = actor_class.remote(dict(sources))
        self.pid = None
        self.pid = int(self.result(self.submit("pid")))

    def submit(self, method: str, *args: Any) -> Any:
        return getattr(self.actor, method).remote(*args)

    def result(self, pending: Any) -> Any:
        try:
            return self.ray.get(pending)
        except self.ray.exceptions.RayActorError as exc:
            raise WorkerLost(f"Ray actor died: {str(exc).splitlines()[0]}") from exc
        except self.ray.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # already gone with its node
            self.ray.kill(self.actor)


class RayExecutor(ShardedExecutor):
    """Runners in Ray actors (one CPU each); as many as the cluster's CPUs by default."""

    name = "ray"

    def __init__(self, size: int | None = None, *, address: str | None = None, **kwargs: Any):
        self.ray = _ray()
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self._started_ray = False
        super().__init__(size or 1, **kwargs)
        self._size_given = size is not None
        self._actor: Any = None

    def _init(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            folders = sorted({str(Path(p).parent) for p, _ in self._sources.values()})
            runtime_env = {"working_dir": folders[0]} if len(folders) == 1 else {}
            ray.init(
                address=self.address,
                # a local instance of --workers CPUs (a cluster has its own)
                num_cpus=self.size if self._size_given and self.address is None else None,
                runtime_env=runtime_env or None,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
            )
            self._started_ray = True
        if not self._size_given:
            self.size = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._actor = ray.remote(num_cpus=1, max_restarts=0)(Shard)

    def attach(self, sleeves: Any) -> None:
        from .shipping import strategy_sources

        self._sources = strategy_sources(sleeves)
        self._init()
        super().attach(sleeves)

    def spawn(self, index: int) -> Worker:
        return _ActorWorker(self.ray, self._actor, self._sources)

    def close(self) -> None:
        super().close()
        if self._started_ray:
            self.ray.shutdown()
