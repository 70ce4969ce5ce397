"""The ``ACCT_ACTIVITY`` stream as a trigger: any account activity makes the next
``poll_fills`` list the orders at once (the orders endpoint stays the truth). The stream runs
schwab-py's ``StreamClient`` on its own thread and event loop, logs in again after a drop, and
asks for one poll each time it is subscribed again (fills made while it was down)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ActivityTrigger"]

log = logging.getLogger(__name__)


class ActivityTrigger:
    def __init__(self, client: Any, on_activity: Callable[[], None], retry_wait: float) -> None:
        self.client = client
        self.on_activity = on_activity
        self.retry_wait = retry_wait
        self.healthy = False
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="schwab-activity", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._listen())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    async def _listen(self) -> None:
        from schwab.streaming import StreamClient

        said = False
        while True:
            stream = StreamClient(self.client)
            try:
                await stream.login()
                stream.add_account_activity_handler(lambda _msg: self.on_activity())
                await stream.account_activity_sub()
                self.healthy, said = True, False
                self.on_activity()  # what happened while it was down
                while True:
                    await stream.handle_message()
            except asyncio.CancelledError:
                self.healthy = False
                raise
            except Exception as exc:  # a drop, a refused login: poll meanwhile, log in again
                self.healthy = False
                if not said:
                    log.warning(
                        "Schwab account stream down (%s): polling orders until it is back",
                        type(exc).__name__,
                    )
                    said = True
            finally:
                socket = getattr(stream, "_socket", None)
                if socket is not None:
                    await socket.close()
            await asyncio.sleep(self.retry_wait)
