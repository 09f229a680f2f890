"""A worker's side of the NER processes: sends pieces of articles to them and collects the entities.

Each worker connects to every NER process and keeps at most ``IN_FLIGHT_PER_PROCESS`` requests at each
(the least busy first), the rest queued here, so a worker with much to read keeps every NER process busy,
and NER processes serve the workers in turn. When an NER process dies (or restarts), the requests it held
are sent again, to whichever process has room; a text on which NER processes died
:data:`MAX_ATTEMPTS` times is given up with an error (its article becomes a dead letter), so one poison
text cannot crash the NER processes forever.
"""

import contextlib
import logging
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from consumer.logs import event
from consumer.ner_protocol import FrameReader, NerRequest, NerResult, NerStarted, encode, receive, socket_path
from consumer.nlp import Piece

log = logging.getLogger(__name__)

IN_FLIGHT_PER_PROCESS = 8
"""Requests a worker keeps at one NER process: a batch being read and a batch waiting (at the default
NER_BATCH_SIZE), so even a worker that holds every busy partition keeps the process reading full batches."""

MAX_ATTEMPTS = 3
"""Times an NER process may die while reading the same request before it is given up (a process that dies
while the request only waited there does not count)."""

RECONNECT_SECONDS = 0.5
"""How often a worker tries to reach an NER process it is not connected to (e.g. while it restarts)."""

SEND_TIMEOUT_SECONDS = 10.0


@dataclass
class _Request:
    request: NerRequest
    attempts: int = 0


@dataclass
class _Process:
    """One connected NER process and the requests it holds for this worker."""

    index: int
    connection: socket.socket
    reader: FrameReader = field(default_factory=FrameReader)
    held: dict[int, _Request] = field(default_factory=dict)
    reading: set[int] = field(default_factory=set)
    """Held requests the process said it is reading now."""


class NerClient:
    def __init__(self, folder: Path, processes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._folder = folder
        self._count = processes
        self._clock = clock
        self._connected: dict[int, _Process] = {}
        self._selector = selectors.DefaultSelector()
        self._queue: deque[_Request] = deque()
        self._next_id = 0
        self._next_connect = 0.0
        self._lost_processes = 0

    @property
    def outstanding(self) -> int:
        """Requests not answered yet (queued here or held by an NER process)."""
        return len(self._queue) + sum(len(process.held) for process in self._connected.values())

    def submit(self, piece: Piece) -> int:
        """Queue ``piece`` for NER; the id its :class:`NerResult` will carry."""
        self._next_id += 1
        self._queue.append(_Request(NerRequest(self._next_id, piece)))
        return self._next_id

    def cancel(self, request_ids: list[int]) -> None:
        """Requests no longer needed: those not sent yet are dropped (the others' results will be ignored)."""
        unwanted = set(request_ids)
        self._queue = deque(pending for pending in self._queue if pending.request.request_id not in unwanted)

    def poll(self, timeout: float) -> list[NerResult]:
        """Send what can be sent, then wait up to ``timeout`` seconds for results; the results that arrived."""
        self._connect_missing()
        results = self._dispatch()
        if not self._connected:
            if timeout > 0:
                time.sleep(min(timeout, RECONNECT_SECONDS))
            return results
        for key, _ in self._selector.select(timeout):
            process: _Process = key.data
            try:
                messages = receive(process.connection, process.reader)
            except ConnectionError as error:
                results.extend(self._lost(process, str(error)))
                continue
            for message in messages:
                if isinstance(message, NerStarted):
                    process.reading.update(message.request_ids)
                elif isinstance(message, NerResult) and process.held.pop(message.request_id, None) is not None:
                    process.reading.discard(message.request_id)
                    results.append(message)
        results.extend(self._dispatch())
        return results

    def close(self) -> None:
        for process in list(self._connected.values()):
            self._disconnect(process)
        self._selector.close()

    def _connect_missing(self) -> None:
        if len(self._connected) == self._count or self._clock() < self._next_connect:
            return
        self._next_connect = self._clock() + RECONNECT_SECONDS
        for index in range(self._count):
            if index in self._connected:
                continue
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(SEND_TIMEOUT_SECONDS)
            try:
                connection.connect(str(socket_path(self._folder, index)))
            except OSError:
                connection.close()
                continue  # not started yet, or restarting: try again later
            process = self._connected[index] = _Process(index, connection)
            self._selector.register(connection, selectors.EVENT_READ, process)

    def _dispatch(self) -> list[NerResult]:
        """Send queued requests to the connected NER processes with room, least busy first; the requests
        given up meanwhile (see :meth:`_lost`)."""
        given_up: list[NerResult] = []
        while self._queue:
            room = [process for process in self._connected.values() if len(process.held) < IN_FLIGHT_PER_PROCESS]
            if not room:
                break
            process = min(room, key=lambda candidate: (len(candidate.held), candidate.index))
            pending = self._queue.popleft()
            try:
                process.connection.sendall(encode(pending.request))
            except OSError as error:
                self._queue.appendleft(pending)
                given_up.extend(self._lost(process, str(error)))
                continue
            process.held[pending.request.request_id] = pending
        return given_up

    def _lost(self, process: _Process, reason: str) -> list[NerResult]:
        """The connection to an NER process broke: send what it held again, or give it up after
        :data:`MAX_ATTEMPTS` (returned as error results)."""
        self._disconnect(process)
        self._lost_processes += 1
        log.warning(event("ner_process_lost", ner=process.index, held=len(process.held), error=reason))
        given_up = []
        for request_id, pending in process.held.items():
            if request_id in process.reading:
                pending.attempts += 1
            if pending.attempts >= MAX_ATTEMPTS:
                error = f"NER processes died {pending.attempts} times while reading this text"
                given_up.append(NerResult(pending.request.request_id, error=error))
            else:
                self._queue.appendleft(pending)
        return given_up

    def _disconnect(self, process: _Process) -> None:
        self._connected.pop(process.index, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(process.connection)
        process.connection.close()
