"""One NER process: runs spaCy for every worker of the group, fairly, on one core.

NER is the only heavy work of the group, so it runs in ``NER_PROCESSES`` processes (one more than the cores), fed by
all the workers over Unix sockets (:mod:`consumer.ner_protocol`), whatever partition the articles came from:
one hot partition keeps every core busy instead of one. Requests are served round robin over the connected
workers (one request of each worker with requests waiting, in turn), so every worker gets its share.

The pipeline is loaded once, before the group's processes are forked (:mod:`consumer.preload`), so its pages
are shared. SIGTERM: finish the current request and exit; a worker whose request was cut short sends it to
another NER process. An NER process whose supervisor is gone exits too.
"""

import logging
import os
import selectors
import signal
import socket
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from prometheus_client import Counter
from spacy.language import Language

from consumer.exit import exit_after_stop
from consumer.logs import configure_logging, event
from consumer.ner_protocol import FrameReader, Message, NerRequest, NerResult, NerStarted, encode, receive, socket_path
from consumer.nlp import piece_entities
from consumer.settings import ConsumerSettings

log = logging.getLogger(__name__)

PIECES_READ = Counter("newscounts_ner_pieces", "Pieces of articles an NER process read.", ["ner"])

IDLE_CHECK_SECONDS = 1.0
"""How often an idle NER process checks for a stop request or a vanished supervisor."""

SEND_TIMEOUT_SECONDS = 10.0
"""A worker that does not read its results for this long is disconnected (it resends what it still needs)."""


@dataclass
class _Worker:
    connection: socket.socket
    reader: FrameReader = field(default_factory=FrameReader)
    waiting: deque[NerRequest] = field(default_factory=deque)


class NerServer:
    def __init__(self, settings: ConsumerSettings, index: int, folder: Path) -> None:
        self._settings = settings
        self._index = index
        self._path = socket_path(folder, index)
        self._selector = selectors.DefaultSelector()
        self._workers: dict[socket.socket, _Worker] = {}
        self._turns: deque[_Worker] = deque()
        """Workers with requests waiting, in the order they are served."""
        self._stopping = False
        self._parent = os.getppid()
        self.served = 0

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        from consumer.preload import pipeline

        nlp = pipeline(self._settings.ner_model)
        listener = self._listen()
        log.info(event("ner_ready", socket=str(self._path)))
        try:
            while not self._stopping and os.getppid() == self._parent:
                for key, _ in self._selector.select(0 if self._turns else IDLE_CHECK_SECONDS):
                    if key.fileobj is listener:
                        self._accept(listener)
                    else:
                        self._read(self._workers[key.fileobj])  # type: ignore[index]
                batch = self._next_batch()
                if batch:
                    self._serve(nlp, batch)
        finally:
            listener.close()
            self._path.unlink(missing_ok=True)
        log.info(event("ner_stopped", served=self.served))

    def _request_stop(self, signum: int, _: FrameType | None) -> None:
        self._stopping = True

    def _listen(self) -> socket.socket:
        self._path.unlink(missing_ok=True)  # left by a predecessor that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self._path))
        self._path.chmod(0o600)
        listener.listen(256)
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        return listener

    def _accept(self, listener: socket.socket) -> None:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return
        connection.settimeout(SEND_TIMEOUT_SECONDS)
        self._workers[connection] = _Worker(connection)
        self._selector.register(connection, selectors.EVENT_READ)

    def _read(self, worker: _Worker) -> None:
        try:
            messages = receive(worker.connection, worker.reader)
        except ConnectionError:
            self._drop(worker)
            return
        was_waiting = bool(worker.waiting)
        worker.waiting.extend(message for message in messages if isinstance(message, NerRequest))
        if worker.waiting and not was_waiting:
            self._turns.append(worker)

    def _next_batch(self) -> list[tuple[_Worker, NerRequest]]:
        """Up to ``NER_BATCH_SIZE`` requests, one per worker in turn (round robin)."""
        batch: list[tuple[_Worker, NerRequest]] = []
        while self._turns and len(batch) < self._settings.ner_batch_size:
            worker = self._turns.popleft()
            batch.append((worker, worker.waiting.popleft()))
            if worker.waiting:
                self._turns.append(worker)
        return batch

    def _serve(self, nlp: Language, batch: list[tuple[_Worker, NerRequest]]) -> None:
        texts = [request.piece.text for _, request in batch]
        for worker, request in batch:
            self._send(worker, NerStarted((request.request_id,)))
        try:
            docs = list(nlp.pipe(texts, batch_size=len(texts)))
            results = [
                NerResult(request.request_id, piece_entities(doc, request.piece))
                for (_, request), doc in zip(batch, docs, strict=True)
            ]
        except Exception as error:  # spaCy failed on one of these texts: say so for each, keep serving
            log.exception(event("ner_failed", requests=len(batch)))
            results = [NerResult(request.request_id, error=f"{type(error).__name__}: {error}") for _, request in batch]
        for (worker, _), result in zip(batch, results, strict=True):
            self._send(worker, result)
        self.served += len(batch)
        PIECES_READ.labels(str(self._index)).inc(len(batch))

    def _send(self, worker: _Worker, message: Message) -> None:
        if worker.connection not in self._workers:
            return  # gone meanwhile
        try:
            worker.connection.sendall(encode(message))
        except OSError:
            self._drop(worker)

    def _drop(self, worker: _Worker) -> None:
        """The worker went away (or stopped reading): forget it and what it asked for."""
        self._workers.pop(worker.connection, None)
        if worker in self._turns:
            self._turns.remove(worker)
        self._selector.unregister(worker.connection)
        worker.connection.close()


def main(settings: ConsumerSettings, index: int, folder: Path) -> None:
    """Entry point of an NER process (forked by the supervisor's fork server)."""
    configure_logging(settings.log_level, process=f"ner={index}")
    NerServer(settings, index, folder).run()
    exit_after_stop(0)
