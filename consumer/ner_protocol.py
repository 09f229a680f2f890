"""The wire between a worker and an NER process: length-prefixed pickled tuples over a Unix socket.

The socket lives in a folder only the consumer group's user can enter (the supervisor makes it ``0700``), so
the two ends trust each other as much as the processes of one program do. Frames are small (one piece of
an article out, its entities back). Unlike a ``multiprocessing.Queue`` there is no lock shared between
processes, so ``kill -9`` of either end can never leave the other stuck: the survivor sees the connection
close and carries on.
"""

import pickle
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from consumer.nlp import Piece, PieceEntities

HEADER = struct.Struct("!I")

MAX_FRAME_BYTES = 64 * 1024 * 1024
"""A frame this large is a bug or garbage: the connection is closed instead of allocating it."""


@dataclass(frozen=True)
class NerRequest:
    """Find the entities of one piece of an article (:class:`consumer.nlp.Piece`)."""

    request_id: int
    piece: Piece


@dataclass(frozen=True)
class NerStarted:
    """The NER process starts reading these requests now: if it dies before answering, they were the ones
    being read (a poison text is told apart from requests that were only waiting)."""

    request_ids: tuple[int, ...]


@dataclass(frozen=True)
class NerResult:
    """What spaCy found in a request's piece (in article offsets, what :func:`consumer.nlp.merge_pieces` needs);
    or ``error`` when spaCy failed on it (``found`` is None then)."""

    request_id: int
    found: PieceEntities | None = None
    error: str | None = None


def socket_path(folder: Path, index: int) -> Path:
    """Where NER process ``index`` listens."""
    return folder / f"ner-{index}.sock"


Message = NerRequest | NerStarted | NerResult


def encode(message: Message) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class FrameReader:
    """Reassembles frames from what a non-blocking socket delivers, however it is split."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME_BYTES:
                raise ConnectionError(f"frame of {length} bytes refused")
            if len(self._buffer) < HEADER.size + length:
                break
            payload = bytes(self._buffer[HEADER.size : HEADER.size + length])
            del self._buffer[: HEADER.size + length]
            message = pickle.loads(payload)
            if not isinstance(message, NerRequest | NerStarted | NerResult):
                raise ConnectionError(f"unexpected frame {type(message).__name__}")
            messages.append(message)
        return messages


def receive(connection: socket.socket, reader: FrameReader) -> list[Message]:
    """What arrived on a readable socket; raises ConnectionError when the peer closed it."""
    try:
        data = connection.recv(1024 * 1024)
    except (BlockingIOError, InterruptedError):
        return []
    except OSError as error:
        raise ConnectionError(str(error)) from error
    if not data:
        raise ConnectionError("closed by the peer")
    return reader.feed(data)
