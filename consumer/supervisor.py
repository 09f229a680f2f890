"""The supervisor: runs CONSUMER_PROCESSES worker processes, restarts one that dies (with backoff), and
stops them all cleanly on SIGTERM/SIGINT.

Exit code: 0 after a requested stop in which every worker exited 0; 1 when a worker crashed in a loop
(CRASH_LOOP_RESTARTS deaths within CRASH_LOOP_WINDOW) or a worker did not stop cleanly.
"""

import logging
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from consumer.backoff import Backoff
from consumer.logs import event
from consumer.settings import ConsumerSettings

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    """Worker ``index``: its current process, recent deaths and when to start it again."""

    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


class Supervisor:
    """Starts, watches and stops the worker processes (``spawn``: each gets a fresh interpreter)."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self._settings = settings
        self._context = get_context("spawn")
        self._slots = [_Slot(index) for index in range(settings.consumer_processes)]
        self._restart_backoff = Backoff(
            settings.restart_backoff_initial.total_seconds(), settings.restart_backoff_max.total_seconds()
        )
        self._stopping = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        log.info(event("starting", workers=len(self._slots), topic=self._settings.kafka_topic))
        for slot in self._slots:
            self._start(slot)
        while not self._stopping:
            self._wait_for_change()
            if self._stopping:
                break
            if self._reap_dead() is not None:
                self._stop_all()
                return 1
            self._restart_due()
        return self._stop_all()

    def _request_stop(self, signum: int, _: FrameType | None) -> None:
        """Only set the flag: the main loop wakes within a second and stops the workers."""
        if not self._stopping:
            log.info(event("stopping", signal=signal.Signals(signum).name))
        self._stopping = True

    def _start(self, slot: _Slot) -> None:
        process = self._context.Process(
            target=_worker_main, args=(self._settings, slot.index), name=f"newscounts-worker-{slot.index}"
        )
        process.start()
        slot.process, slot.started_at, slot.restart_at = process, time.monotonic(), None
        log.info(event("worker_started", worker=slot.index, pid=process.pid))

    def _wait_for_change(self) -> None:
        """Sleep until a worker exits, a restart is due, or a signal arrives (at most one second)."""
        now = time.monotonic()
        due = [slot.restart_at - now for slot in self._slots if slot.restart_at is not None]
        sentinels = [slot.process.sentinel for slot in self._slots if slot.process is not None]
        wait(sentinels, timeout=max(0.0, min([1.0, *due])))

    def _reap_dead(self) -> int | None:
        """Schedule restarts of workers that exited; the index of one in a crash loop, if any."""
        settings = self._settings
        for slot in self._slots:
            process = slot.process
            if process is None or process.is_alive():
                continue
            process.join()
            slot.process = None
            now = time.monotonic()
            slot.deaths.append(now)
            while slot.deaths and now - slot.deaths[0] > settings.crash_loop_window.total_seconds():
                slot.deaths.popleft()
            if len(slot.deaths) >= settings.crash_loop_restarts:
                log.error(
                    event(
                        "crash_loop",
                        worker=slot.index,
                        deaths=len(slot.deaths),
                        within_s=round(settings.crash_loop_window.total_seconds()),
                        action="giving up; see the worker's log lines above",
                    )
                )
                return slot.index
            delay = self._restart_backoff.delay(len(slot.deaths))
            slot.restart_at = now + delay
            log.warning(
                event(
                    "worker_died",
                    worker=slot.index,
                    pid=process.pid,
                    exit_code=process.exitcode,
                    ran_s=round(now - slot.started_at, 1),
                    restart_in_s=round(delay, 1),
                )
            )
        return None

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and now >= slot.restart_at:
                self._start(slot)

    def _signal_workers(self) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.pid is not None and slot.process.is_alive():
                slot.process.terminate()  # SIGTERM: the worker flushes, commits and exits 0

    def _stop_all(self) -> int:
        """SIGTERM every worker and wait until each has flushed and exited; 0 if all exited 0."""
        self._stopping = True
        self._signal_workers()
        clean = True
        for slot in self._slots:
            if slot.process is None:
                continue
            slot.process.join()
            code = slot.process.exitcode
            clean = clean and code == 0
            log.info(event("worker_stopped", worker=slot.index, pid=slot.process.pid, exit_code=code))
        log.info(event("stopped", clean=clean))
        return 0 if clean else 1


def _worker_main(settings: ConsumerSettings, index: int) -> None:
    """Runs in the worker process; imported there only, so the supervisor never loads spaCy (~100 MB)."""
    from consumer import worker

    worker.main(settings, index)
