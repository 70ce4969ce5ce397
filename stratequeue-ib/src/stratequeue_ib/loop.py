"""ib_async on an event loop of its own, in a thread of its own.

The trading loop never touches ib_async directly: every call goes through :meth:`IBLoop.run`,
which hands a coroutine to this loop (``asyncio.run_coroutine_threadsafe``) and waits for its
result with a timeout. So nothing needs a "current event loop" in the caller's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["IBLoop"]

T = TypeVar("T")


class IBLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="ib-async", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop; raise TimeoutError (and cancel it) after ``timeout`` s."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Call ``fn`` on the loop (ib_async's synchronous methods send from there)."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped(), timeout)

    def stop(self) -> None:
        """Cancel what still runs on the loop (a reconnect waiting out its backoff), stop it."""

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            with contextlib.suppress(TimeoutError):
                self.run(finish(), 5.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()
