"""Where a run's runners run: ``inline`` (this process), ``process`` (one worker process per
core) or ``ray`` (Ray actors, on this machine or a cluster). See :mod:`.base` for the contract
and :mod:`.sharded` for how runners are dealt to workers, stepped and restarted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from .base import Executor, InlineExecutor, Respawn

__all__ = ["AUTO_PROCESS_ABOVE", "EXECUTORS", "Executor", "InlineExecutor", "create_executor"]

EXECUTORS = ("auto", "inline", "process", "ray")

#: ``auto`` picks ``process`` above this many runners (strategies x symbols): below it, the
#: pipe round trip and the workers' start-up cost more than the second core gives back
#: (benchmarks/bench_scale.py, README "Scale-out").
AUTO_PROCESS_ABOVE = 200


def create_executor(
    name: str,
    runners: int,
    *,
    respawn: Respawn | None = None,
    say: Callable[[str], None] | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> Executor:
    """The executor ``name`` for ``runners`` runners (``auto``: inline, or process above
    :data:`AUTO_PROCESS_ABOVE`, said once through ``say``)."""
    if name not in EXECUTORS:
        raise UsageError(f"Unknown executor '{name}': use one of {', '.join(EXECUTORS)}.")
    if name == "auto":
        if runners <= AUTO_PROCESS_ABOVE:
            return InlineExecutor()
        name = "process"
        if say is not None:
            say(
                f"{runners} runners: stepping them in worker processes (--executor process; "
                "--executor inline keeps them in this process)."
            )
    if name == "inline":
        return InlineExecutor()
    options: dict[str, Any] = {"respawn": respawn, "say": say}
    if name == "process":
        from .process import ProcessExecutor

        return ProcessExecutor(workers, **options)
    from .ray import RayExecutor  # needs the [ray] extra: said there if missing

    return RayExecutor(workers, address=ray_address, **options)
