"""Runs the read API's blocking sink reads off the event loop: one thread-safe :class:`CountReader`, one
executor of READ_THREADS threads, each call bounded by its timeout.

The reader is opened on first use (the service starts, and answers /healthz, while the sink is down). A call
that takes longer than its timeout is answered as :class:`SinkUnavailable` (its thread finishes it in the
background, so at most READ_THREADS reads run at once whatever the load).
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from common.sinks.base import CountReader, SinkError, SinkUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Reads:
    def __init__(self, open_reader: Callable[[], CountReader], threads: int) -> None:
        self._open_reader = open_reader
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="sink-reader")
        self._lock = threading.Lock()
        self._reader: CountReader | None = None

    async def call(self, read: Callable[[CountReader], T], seconds: float) -> T:
        """``read(reader)`` on a reader thread; :class:`SinkUnavailable` when it takes over ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, read)
        except TimeoutError:
            raise SinkUnavailable(f"no answer within {seconds:g}s") from None

    async def problem(self, seconds: float) -> str | None:
        """None when a cheap read succeeds within ``seconds`` (for /readyz), else what went wrong."""
        try:
            await self.call(lambda reader: reader.ping(), seconds)
        except SinkError as error:
            return f"the counts store cannot be read: {error}"
        return None

    def close(self) -> None:
        """Stop the threads (waiting for running reads), then close the reader (blocking)."""
        self._executor.shutdown()
        if self._reader is not None:
            try:
                self._reader.close()
            except SinkError as error:
                log.warning("closing the sink reader failed: %s", error)

    def _run(self, read: Callable[[CountReader], T]) -> T:
        return read(self._opened())

    def _opened(self) -> CountReader:
        with self._lock:
            if self._reader is None:
                try:
                    self._reader = self._open_reader()
                except SinkError:
                    raise
                except Exception as error:  # a bad path or credentials: not a bug of ours, say what it is
                    raise SinkUnavailable(f"cannot open the sink: {error}") from error
            return self._reader
