"""The partition state machine's transitions, each from the phases it may start from; illegal ones raise."""

import pytest

from common.sinks.base import OffsetLease
from consumer.backoff import Backoff
from consumer.partition_state import IllegalTransition, PartitionState, Phase

LEASE = OffsetLease(10, "v1", ("d1",))


def state(now: float = 100.0) -> PartitionState:
    return PartitionState(3, now, Backoff(1.0, 8.0), dedup_ids=5)


def counting() -> PartitionState:
    partition = state()
    partition.lease_read(LEASE, 100.0)
    return partition


def test_a_new_partition_waits_paused_for_its_lease() -> None:
    partition = state()
    assert (partition.phase, partition.paused, partition.counting, partition.epoch) == (
        Phase.LEASE_UNREAD,
        True,
        False,
        0,
    )
    assert partition.retry_due(100.0)


def test_reading_the_lease_starts_counting_at_its_offset_in_a_new_epoch() -> None:
    partition = counting()
    assert (partition.phase, partition.paused, partition.position) == (Phase.COUNTING, False, 10)
    assert partition.epoch > 0 and partition.epoch != counting().epoch  # unique in the process
    assert partition.pending.next_offset == 10 and partition.pending.seen("P", "x") is False


def test_an_unreadable_lease_is_retried_with_backoff() -> None:
    partition = state()
    partition.lease_unreadable(100.0)
    partition.lease_unreadable(100.0)
    assert (partition.phase, partition.failures, partition.retry_at) == (Phase.LEASE_UNREAD, 2, 102.0)
    assert not partition.retry_due(101.0) and partition.retry_due(102.0)


def test_a_failed_flush_backs_off_and_a_good_one_counts_again() -> None:
    partition = counting()
    partition.pending.skip(10)
    partition.flush_failed(105.0)
    partition.flush_failed(106.0)
    assert (partition.phase, partition.paused, partition.retry_at, partition.pending.processed) == (
        Phase.BACKING_OFF,
        True,
        108.0,
        1,
    )
    partition.flushed(OffsetLease(11, "v2"), 108.0)
    assert (partition.phase, partition.failures, partition.last_flush, partition.pending.next_offset) == (
        Phase.COUNTING,
        0,
        108.0,
        11,
    )


def test_a_fence_drops_the_pending_counts_and_reads_the_lease_again_at_once() -> None:
    partition = counting()
    partition.pending.skip(10)
    partition.fenced(120.0)
    assert (partition.phase, partition.lease, partition.pending.processed) == (Phase.LEASE_UNREAD, None, 0)
    assert partition.retry_due(120.0)


def test_a_rewind_starts_a_new_epoch_at_the_lease() -> None:
    partition = counting()
    before = partition.epoch
    partition.consumed(10)
    partition.pending.skip(10)
    partition.rewound(130.0)
    assert (partition.position, partition.consumed_any, partition.pending.processed) == (10, False, 0)
    assert partition.epoch > before


def test_a_rebase_counts_from_a_lower_offset_only_before_anything_was_processed() -> None:
    partition = counting()
    partition.rebased(0)
    assert (partition.pending.next_offset, partition.position) == (0, 0)
    partition.pending.skip(0)
    with pytest.raises(IllegalTransition):
        partition.rebased(0)


def test_hand_over_then_release_and_the_last_flush_in_between() -> None:
    partition = counting()
    partition.hand_over()
    assert (partition.phase, partition.counting) == (Phase.HANDING_OVER, False)
    partition.flush_failed(101.0)  # the last flush is retried within the budget
    partition.flushed(OffsetLease(11, "v2"), 102.0)
    assert partition.phase is Phase.HANDING_OVER
    partition.released()
    assert partition.phase.value == "gone"


@pytest.mark.parametrize(
    ("setup", "transition"),
    [
        ("unread", lambda p: p.flushed(LEASE, 0.0)),
        ("unread", lambda p: p.flush_failed(0.0)),
        ("unread", lambda p: p.fenced(0.0)),
        ("unread", lambda p: p.rewound(0.0)),
        ("unread", lambda p: p.released()),
        ("counting", lambda p: p.lease_read(LEASE, 0.0)),
        ("counting", lambda p: p.lease_unreadable(0.0)),
        ("counting", lambda p: p.released()),
        ("handing_over", lambda p: p.hand_over()),
        ("handing_over", lambda p: p.fenced(0.0)),
        ("handing_over", lambda p: p.rewound(0.0)),
        ("handing_over", lambda p: p.lease_read(LEASE, 0.0)),
        ("gone", lambda p: p.lost()),
        ("gone", lambda p: p.hand_over()),
        ("gone", lambda p: p.flushed(LEASE, 0.0)),
    ],
)
def test_illegal_transitions_raise(setup: str, transition: object) -> None:
    partition = state() if setup == "unread" else counting()
    if setup in ("handing_over", "gone"):
        partition.hand_over()
    if setup == "gone":
        partition.released()
    before = partition.phase
    with pytest.raises(IllegalTransition, match=f"is {before.name}"):
        transition(partition)  # type: ignore[operator]
    assert partition.phase is before


def test_lost_from_any_live_phase() -> None:
    for partition in (state(), counting()):
        partition.lost()
        assert partition.phase is Phase.GONE
