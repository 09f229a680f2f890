"""The supervisor: runs NER_PROCESSES NER processes and CONSUMER_PROCESSES worker processes, restarts one that
dies (with backoff), and stops them all cleanly on SIGTERM/SIGINT.

Every child is forked from one fork server that loaded the spaCy pipeline and the large libraries first
(:mod:`consumer.preload`), so the group holds them in memory once; the supervisor itself never loads spaCy.
The NER processes listen on Unix sockets in a folder only this user can enter, made fresh at each start.

Exit code: 0 after a requested stop in which every child exited 0; 1 when a child crashed in a loop
(CRASH_LOOP_RESTARTS deaths of one slot within CRASH_LOOP_WINDOW) or a child did not stop cleanly.
"""

import logging
import shutil
import signal
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from consumer.backoff import Backoff
from consumer.logs import event
from consumer.settings import ConsumerSettings
from consumer.stats import GroupMetrics

log = logging.getLogger(__name__)

STOP_SIGNAL_REPEAT_SECONDS = 5.0
"""A child that has not exited this long after SIGTERM gets it again (a stopping child ignores repeats; one
that was just forked may have received the first before it set its handler)."""

PRELOAD = ["consumer.fork_server_preload"]
"""What the fork server imports before it forks any child (see consumer/preload.py)."""


@dataclass
class _Slot:
    """One child: an NER process or a worker, its current process, recent deaths and when to start it again."""

    kind: str
    """``ner`` or ``worker``."""
    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}={self.index}"


class Supervisor:
    """Starts, watches and stops the NER processes and the workers."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self._settings = settings
        self._context = get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._slots = [_Slot("ner", index) for index in range(settings.ner_processes)]
        self._slots += [_Slot("worker", index) for index in range(settings.consumer_processes)]
        self._restart_backoff = Backoff(
            settings.restart_backoff_initial.total_seconds(), settings.restart_backoff_max.total_seconds()
        )
        self._stopping = False
        self._ner_folder = Path(tempfile.mkdtemp(prefix="newscounts-ner-"))  # mode 0700
        self._metrics = None if settings.metrics_port is None else GroupMetrics(settings.metrics_port)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        settings = self._settings
        log.info(
            event(
                "starting",
                workers=settings.consumer_processes,
                ner_processes=settings.ner_processes,
                topic=settings.kafka_topic,
            )
        )
        try:
            if self._metrics is not None:
                self._metrics.serve()
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
        finally:
            shutil.rmtree(self._ner_folder, ignore_errors=True)
            if self._metrics is not None:
                self._metrics.close()

    def _request_stop(self, signum: int, _: FrameType | None) -> None:
        """Only set the flag: the main loop wakes within a second and stops the children."""
        if not self._stopping:
            log.info(event("stopping", signal=signal.Signals(signum).name))
        self._stopping = True

    def _start(self, slot: _Slot) -> None:
        target = _ner_main if slot.kind == "ner" else _worker_main
        process = self._context.Process(
            target=target,
            args=(self._settings, slot.index, self._ner_folder),
            name=f"newscounts-{slot.kind}-{slot.index}",
        )
        process.start()
        slot.process, slot.started_at, slot.restart_at = process, time.monotonic(), None
        log.info(event(f"{slot.kind}_started", **{slot.kind: slot.index}, pid=process.pid))

    def _wait_for_change(self) -> None:
        """Sleep until a child exits, a restart is due, or a signal arrives (at most one second)."""
        now = time.monotonic()
        due = [slot.restart_at - now for slot in self._slots if slot.restart_at is not None]
        sentinels = [slot.process.sentinel for slot in self._slots if slot.process is not None]
        wait(sentinels, timeout=max(0.0, min([1.0, *due])))

    def _reap_dead(self) -> str | None:
        """Schedule restarts of children that exited; the name of one in a crash loop, if any."""
        settings = self._settings
        for slot in self._slots:
            process = slot.process
            if process is None or process.is_alive():
                continue
            process.join()
            slot.process = None
            if self._metrics is not None and process.pid is not None:
                self._metrics.process_died(process.pid)
            now = time.monotonic()
            slot.deaths.append(now)
            while slot.deaths and now - slot.deaths[0] > settings.crash_loop_window.total_seconds():
                slot.deaths.popleft()
            if len(slot.deaths) >= settings.crash_loop_restarts:
                log.error(
                    event(
                        "crash_loop",
                        **{slot.kind: slot.index},
                        deaths=len(slot.deaths),
                        within_s=round(settings.crash_loop_window.total_seconds()),
                        action="giving up; see the process's log lines above",
                    )
                )
                return slot.name
            delay = self._restart_backoff.delay(len(slot.deaths))
            slot.restart_at = now + delay
            log.warning(
                event(
                    f"{slot.kind}_died",
                    **{slot.kind: slot.index},
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

    def _stop_all(self) -> int:
        """SIGTERM the workers and wait until each has flushed and exited, then the NER processes; 0 if all
        exited 0. (Workers first: they may still be collecting NER results.)"""
        self._stopping = True
        clean = True
        for kind in ("worker", "ner"):
            slots = [slot for slot in self._slots if slot.kind == kind and slot.process is not None]
            processes = [slot.process for slot in slots if slot.process is not None]
            signalled_at = -STOP_SIGNAL_REPEAT_SECONDS
            while alive := [process for process in processes if process.is_alive()]:
                if time.monotonic() - signalled_at >= STOP_SIGNAL_REPEAT_SECONDS:
                    for process in alive:
                        process.terminate()  # SIGTERM: a worker flushes, commits and exits 0
                    signalled_at = time.monotonic()
                wait([process.sentinel for process in alive], timeout=1.0)
            for slot in slots:
                assert slot.process is not None
                slot.process.join()
                code = slot.process.exitcode
                clean = clean and code == 0
                log.info(event(f"{kind}_stopped", **{kind: slot.index}, pid=slot.process.pid, exit_code=code))
        log.info(event("stopped", clean=clean))
        return 0 if clean else 1


def _worker_main(settings: ConsumerSettings, index: int, ner_folder: Path) -> None:
    """Runs in a worker process; imported there only (the fork server preloaded it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the fork server ignores it; the worker sets its own
    from consumer import worker

    worker.main(settings, index, ner_folder)


def _ner_main(settings: ConsumerSettings, index: int, ner_folder: Path) -> None:
    """Runs in an NER process; imported there only (the fork server preloaded it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from consumer import ner_server

    ner_server.main(settings, index, ner_folder)
