"""A worker's messages between ``consume`` and counting: waiting for NER, then released in offset order.

NER of one partition's articles runs in several NER processes at once, so results come back in any order;
counts are commutative but the flushed offset is not: a partition's flush must hold exactly the messages
before its next offset. So each partition's messages wait here in offset order and leave only from the
front, once the front one is ready (its NER done, or nothing to do: a dead letter). The contiguous prefix
is what gets counted and flushed; whatever is still waiting is simply not in the flushed offset, and after a
crash the next owner reads it again from the stored offset.
"""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import Message

from common.article import Article
from consumer.ner_protocol import NerResult


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
    pieces: list[str] = field(default_factory=list)
    """The texts sent to NER, in order."""
    found: list[list[tuple[str, str]] | None] = field(default_factory=list)
    """Each piece's (text, label) entities, None until its result arrived."""
    request_ids: list[int] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.error is not None or all(piece is not None for piece in self.found)

    @property
    def entities(self) -> list[tuple[str, str]]:
        """The article's entities in order (all pieces' results must have arrived)."""
        return [entity for piece in self.found if piece is not None for entity in piece]

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)


class InFlight:
    def __init__(self) -> None:
        self._partitions: dict[int, deque[Taken]] = {}
        self._requests: dict[int, tuple[Taken, int]] = {}
        self.messages = 0
        self.bytes = 0
        """Characters of article text waiting for NER (the memory the worker holds for them)."""

    def add(self, taken: Taken, request_ids: list[int]) -> None:
        """``taken`` waits behind its partition's earlier messages; ``request_ids`` are its pieces' requests."""
        taken.found, taken.request_ids = [None] * len(request_ids), request_ids
        for index, request_id in enumerate(request_ids):
            self._requests[request_id] = (taken, index)
        self._partitions.setdefault(taken.partition, deque()).append(taken)
        self.messages += 1
        self.bytes += taken.size

    def record(self, result: NerResult) -> None:
        """A piece's NER result (for a request of a message already released or dropped: ignored)."""
        found = self._requests.pop(result.request_id, None)
        if found is None:
            return
        taken, index = found
        if result.error is not None:
            taken.error = f"NER failed: {result.error}"
            return
        text = taken.pieces[index]
        taken.found[index] = [(text[start:end], label) for start, end, label in result.entities]

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
            cancelled += [request_id for request_id in taken.request_ids if request_id in self._requests]
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
