"""A worker's messages between ``consume`` and counting: waiting for NER, then released in offset order.

NER of one partition's articles runs in several NER processes at once, so results come back in any order;
counts are commutative but the flushed offset is not: a partition's flush must hold exactly the messages
before its next offset. So each partition's messages wait here in offset order and leave only from the
front, once the front one is ready (its entities known, or nothing to do: a dead letter). The contiguous
prefix is what gets counted and flushed; whatever is still waiting is simply not in the flushed offset, and
after a crash the next owner reads it again from the stored offset.
"""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import Message

from common.article import Article
from consumer.ner_protocol import NerResult
from consumer.nlp import Piece, PieceEntities


@dataclass
class Taken:
    """One consumed message, taken for counting under its partition's epoch."""

    message: Message
    partition: int
    offset: int
    epoch: int
    article: Article | None = None
    window: int | None = None
    error: str | None = None
    """Why it cannot be counted (it becomes a dead letter)."""
    pieces: list[Piece] = field(default_factory=list)
    """The pieces of the article spaCy reads (:func:`consumer.nlp.plan_pieces`)."""
    found: list[PieceEntities | None] = field(default_factory=list)
    """Each piece's result, None while it is outstanding."""
    entities: list[tuple[str, str]] | None = None
    """The article's (text, label) entities in order, once its pieces are spliced."""
    request_ids: dict[int, int] = field(default_factory=dict)
    """Outstanding NER request -> the piece it reads."""

    @property
    def ready(self) -> bool:
        return self.error is not None or self.entities is not None

    @property
    def size(self) -> int:
        return sum(len(piece.text) for piece in self.pieces)


class InFlight:
    def __init__(self) -> None:
        self._partitions: dict[int, deque[Taken]] = {}
        self._requests: dict[int, Taken] = {}
        self.messages = 0
        self.bytes = 0
        """Characters of article text waiting for NER (the memory the worker holds for them)."""

    def add(self, taken: Taken) -> None:
        """``taken`` waits behind its partition's earlier messages (its pieces' requests: :meth:`asked`)."""
        taken.found = [None] * len(taken.pieces)
        self._partitions.setdefault(taken.partition, deque()).append(taken)
        self.messages += 1
        self.bytes += taken.size

    def asked(self, taken: Taken, index: int, request_id: int) -> None:
        """Piece ``index`` of ``taken`` is (again) being read by NER request ``request_id``."""
        taken.found[index] = None
        taken.request_ids[request_id] = index
        self._requests[request_id] = taken

    def record(self, result: NerResult) -> Taken | None:
        """A piece's NER result; the message once no piece of it is outstanding any more (None otherwise, and
        for a request of a message already released or dropped, whose result is ignored)."""
        taken = self._requests.pop(result.request_id, None)
        if taken is None:
            return None
        index = taken.request_ids.pop(result.request_id)
        if result.error is not None or result.found is None:
            taken.error = f"NER failed: {result.error}"
        else:
            taken.found[index] = result.found
        return None if taken.request_ids else taken

    def ready(self) -> Iterator[Taken]:
        """Release, partition by partition, the messages at the front that are ready, in offset order."""
        for queue in self._partitions.values():
            while queue and queue[0].ready:
                taken = queue.popleft()
                self._forget(taken)
                yield taken

    def partitions(self) -> list[int]:
        return [partition for partition, queue in self._partitions.items() if queue]

    def drop_stale(self, partition: int, epoch: int | None) -> list[int]:
        """Forget the messages of ``partition`` not taken under ``epoch`` (None: the partition is gone); the
        NER requests of theirs still unanswered, to cancel."""
        queue = self._partitions.get(partition)
        if not queue:
            return []
        stale = [taken for taken in queue if taken.epoch != epoch]
        if not stale:
            return []
        self._partitions[partition] = deque(taken for taken in queue if taken.epoch == epoch)
        cancelled = []
        for taken in stale:
            cancelled += list(taken.request_ids)
            self._forget(taken)
        return cancelled

    def clear(self) -> None:
        for partition in list(self._partitions):
            self.drop_stale(partition, None)

    def _forget(self, taken: Taken) -> None:
        self.messages -= 1
        self.bytes -= taken.size
        for request_id in taken.request_ids:
            self._requests.pop(request_id, None)  # a late result is ignored (see record)
        taken.request_ids.clear()
