"""Runs the read API's blocking sink calls off the event loop, each bounded in time.

A sink instance is not shared between threads (see :class:`common.sinks.base.Sink`), so the pool owns
READ_THREADS threads, each with its own sink, opened on first use in that thread (the service starts even
while the sink is down). A call goes to the least busy thread; a call that takes longer than its timeout
is answered as :class:`SinkUnavailable` (its thread finishes it in the background).
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from common.sinks.base import Sink, SinkError, SinkUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class SinkPool:
    def __init__(self, open_sink: Callable[[], Sink], size: int) -> None:
        self._open_sink = open_sink
        self._threads = [ThreadPoolExecutor(1, thread_name_prefix=f"sink-reader-{n}") for n in range(size)]
        self._busy = [0] * size
        self._local = threading.local()

    async def call(self, read: Callable[[Sink], T], seconds: float) -> T:
        """``read(sink)`` on a sink thread; :class:`SinkUnavailable` when it fails or takes over ``seconds``."""
        slot = self._busy.index(min(self._busy))
        self._busy[slot] += 1
        try:
            async with asyncio.timeout(seconds):
                return await asyncio.get_running_loop().run_in_executor(self._threads[slot], self._run, read)
        except TimeoutError:
            raise SinkUnavailable(f"no answer within {seconds:g}s") from None
        finally:
            self._busy[slot] -= 1

    async def problem(self, seconds: float) -> str | None:
        """None when a cheap read succeeds within ``seconds`` (for /readyz), else what went wrong."""
        try:
            await self.call(lambda sink: sink.ping(), seconds)
        except SinkError as error:
            return f"the counts store cannot be read: {error}"
        return None

    def close(self) -> None:
        """Close every opened sink in its own thread, then stop the threads (blocking)."""
        for thread in self._threads:
            thread.submit(self._close_own_sink).result()
            thread.shutdown()

    def _run(self, read: Callable[[Sink], T]) -> T:
        sink: Sink | None = getattr(self._local, "sink", None)
        if sink is None:
            try:
                sink = self._open_sink()
            except SinkError:
                raise
            except Exception as error:  # a bad path or credentials: not a bug of ours, say what it is
                raise SinkUnavailable(f"cannot open the sink: {error}") from error
            self._local.sink = sink
        return read(sink)

    def _close_own_sink(self) -> None:
        sink: Sink | None = getattr(self._local, "sink", None)
        if sink is not None:
            try:
                sink.close()
            except SinkError as error:
                log.warning("closing a sink failed: %s", error)
