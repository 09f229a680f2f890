"""The state machine of one assigned partition: which phase it is in, and the only ways it moves on.

Pure state, no I/O: :class:`consumer.checkpoint.Checkpointer` reads leases, writes the sink and talks to
Kafka, then records what happened here with one transition method. Each method checks the phase it
starts from and raises :class:`IllegalTransition` otherwise, so a caller can never, say, count into a
partition whose lease is unknown or flush one that is being handed over.

::

    assigned ─▶ LEASE_UNREAD ──lease_read──▶ COUNTING ◀──flushed── BACKING_OFF
                   ▲  │ lease_unreadable       │  │ flushed          ▲   │ flush_failed
                   │  └──────(retry)───────────┘  └─flush_failed─────┘   │
                   └──────────────────fenced──────────────────────────────┘
    COUNTING / BACKING_OFF ──rewound──▶ COUNTING (pending dropped, consumed again from the lease)
    any phase ──hand_over──▶ HANDING_OVER ──released──▶ GONE        any phase ──lost──▶ GONE
    HANDING_OVER ──flushed / flush_failed──▶ HANDING_OVER (its last flush, retried within the time budget)

Paused (no fetching, memory bounded) while LEASE_UNREAD or BACKING_OFF. The **epoch** counts the times the
partition's consume position was reset (the lease read, a rewind): messages consumed under an older epoch
are stale and must not be counted.
"""

import itertools
from enum import Enum

from common.sinks.base import OffsetLease
from consumer.backoff import Backoff
from consumer.pending import PendingPartition

_EPOCHS = itertools.count(1)
"""Epochs are unique in the process: a partition assigned again never reuses the epoch of an earlier
assignment, so a message taken then can never pass for one taken now."""


class Phase(Enum):
    LEASE_UNREAD = "lease_unread"
    """Assigned, but the stored offset is not known yet (not read, unreadable, or fenced): paused."""
    COUNTING = "counting"
    """The lease is held; messages are counted into ``pending`` and flushed when due."""
    BACKING_OFF = "backing_off"
    """The last flush failed (sink or dead letters unavailable): paused, ``pending`` kept, retried later."""
    HANDING_OVER = "handing_over"
    """Revoked or stopping: a last flush within the deadline, then the partition is released."""
    GONE = "gone"
    """Released or lost: nothing more happens to this partition."""


class IllegalTransition(RuntimeError):
    """A transition asked of a partition in a phase it cannot start from (a bug in the caller)."""


class PartitionState:
    """One assigned partition: its phase, lease, pending counts, retry timing and consume epoch."""

    def __init__(self, partition: int, now: float, backoff: Backoff, dedup_ids: int) -> None:
        self.partition = partition
        self.phase = Phase.LEASE_UNREAD
        self.lease: OffsetLease | None = None
        self.pending = PendingPartition(None)
        self.last_flush = now
        """When the partition last flushed (or started counting): ``FLUSH_INTERVAL`` runs from here."""
        self.failures = 0
        """Failed attempts in a row (lease reads or flushes); the backoff grows with it."""
        self.retry_at = now
        """When to read the lease again (LEASE_UNREAD) or retry the flush (BACKING_OFF)."""
        self.epoch = 0
        self.position: int | None = None
        """The next offset Kafka should deliver in this epoch (None: the beginning of the partition)."""
        self.consumed_any = False
        """Whether a message of this epoch was consumed (the first one is checked for a gap)."""
        self.poisoned: dict[int, str] = {}
        """Offsets to dead-letter when consumed again, with the reason (an article too large for one write)."""
        self._backoff = backoff
        self._dedup_ids = dedup_ids

    @property
    def paused(self) -> bool:
        return self.phase in (Phase.LEASE_UNREAD, Phase.BACKING_OFF)

    @property
    def counting(self) -> bool:
        """Messages may be counted: the lease is known and the partition is not being handed over."""
        return self.phase in (Phase.COUNTING, Phase.BACKING_OFF)

    def lease_read(self, lease: OffsetLease, now: float) -> None:
        """LEASE_UNREAD -> COUNTING: the stored offset is known; count from there (a new epoch)."""
        self._expect(Phase.LEASE_UNREAD)
        self._start_at(lease, now)
        self.phase = Phase.COUNTING

    def lease_unreadable(self, now: float) -> None:
        """LEASE_UNREAD -> LEASE_UNREAD: the sink could not be read; try again after the backoff."""
        self._expect(Phase.LEASE_UNREAD)
        self._schedule_retry(now)

    def flushed(self, lease: OffsetLease, now: float) -> None:
        """COUNTING or BACKING_OFF -> COUNTING (HANDING_OVER stays): the pending counts and offset are in the
        sink under ``lease``."""
        self._expect(Phase.COUNTING, Phase.BACKING_OFF, Phase.HANDING_OVER)
        self.lease, self.failures, self.last_flush = lease, 0, now
        self.pending = self._pending_after(lease)
        if self.phase is not Phase.HANDING_OVER:
            self.phase = Phase.COUNTING

    def flush_failed(self, now: float) -> None:
        """COUNTING or BACKING_OFF -> BACKING_OFF (HANDING_OVER stays): keep the pending counts, retry after
        the backoff."""
        self._expect(Phase.COUNTING, Phase.BACKING_OFF, Phase.HANDING_OVER)
        self._schedule_retry(now)
        if self.phase is not Phase.HANDING_OVER:
            self.phase = Phase.BACKING_OFF

    def fenced(self, now: float) -> None:
        """COUNTING or BACKING_OFF -> LEASE_UNREAD: another worker wrote the partition; drop the pending counts
        and read the lease again at once."""
        self._expect(Phase.COUNTING, Phase.BACKING_OFF)
        self.lease, self.pending, self.failures, self.retry_at = None, PendingPartition(None), 0, now
        self.phase = Phase.LEASE_UNREAD

    def rewound(self, now: float) -> None:
        """COUNTING or BACKING_OFF -> COUNTING: drop the pending counts and consume again from the lease (a new
        epoch), e.g. after a flush too large for one sink write."""
        self._expect(Phase.COUNTING, Phase.BACKING_OFF)
        assert self.lease is not None  # held in both phases
        self._start_at(self.lease, now)
        self.phase = Phase.COUNTING

    def rebased(self, offset: int) -> None:
        """COUNTING: the log restarts below the stored offset (the topic was recreated): count from ``offset``.
        Only before anything of the epoch was processed."""
        self._expect(Phase.COUNTING)
        if self.pending.processed:
            raise IllegalTransition(f"partition {self.partition}: rebase after {self.pending.processed} messages")
        lease = self.lease
        recent = () if lease is None else lease.recent_ids
        self.pending = PendingPartition(offset, recent, self._dedup_ids)
        self.position = offset

    def hand_over(self) -> None:
        """Any live phase -> HANDING_OVER: revoked or stopping; only the last flush may still happen."""
        self._expect(Phase.LEASE_UNREAD, Phase.COUNTING, Phase.BACKING_OFF)
        self.phase = Phase.HANDING_OVER

    def released(self) -> None:
        """HANDING_OVER -> GONE: the last flush is done or abandoned; the partition is given up."""
        self._expect(Phase.HANDING_OVER)
        self.phase = Phase.GONE

    def lost(self) -> None:
        """Any phase but GONE -> GONE: the group moved the partition without a revoke; nothing is written."""
        self._expect(Phase.LEASE_UNREAD, Phase.COUNTING, Phase.BACKING_OFF, Phase.HANDING_OVER)
        self.phase = Phase.GONE

    def retry_due(self, now: float) -> bool:
        return self.paused and now >= self.retry_at

    def consumed(self, offset: int) -> None:
        """A message at ``offset`` was taken for counting in this epoch."""
        self.position, self.consumed_any = offset + 1, True

    def _start_at(self, lease: OffsetLease, now: float) -> None:
        self.lease, self.failures, self.last_flush = lease, 0, now
        self.pending = self._pending_after(lease)
        self.epoch = next(_EPOCHS)
        self.position, self.consumed_any = lease.next_offset, False

    def _pending_after(self, lease: OffsetLease) -> PendingPartition:
        """Empty pending counts that resume where ``lease`` left off: its offset and recently counted ids."""
        return PendingPartition(lease.next_offset, lease.recent_ids, self._dedup_ids)

    def _schedule_retry(self, now: float) -> None:
        self.failures += 1
        self.retry_at = now + self._backoff.delay(self.failures)

    def _expect(self, *phases: Phase) -> None:
        if self.phase not in phases:
            allowed = " or ".join(phase.name for phase in phases)
            raise IllegalTransition(f"partition {self.partition} is {self.phase.name}, not {allowed}")
