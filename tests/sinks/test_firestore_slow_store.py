"""A Firestore writer whose time runs out after reading what a flush needs keeps what it read: on a store so
slow that those reads take a whole attempt, a retry that read them again would never get to commit."""

import time
from typing import Any

import pytest

from common.sinks.base import SinkUnavailable
from common.sinks.firestore_writer import FirestoreWriter
from tests.sinks.support import GROUP, TOPIC, SinkSpec, delta, flush, open_store

pytestmark = pytest.mark.integration

HOUR = 3600


@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_a_flush_out_of_time_after_its_reads_is_retried_without_reading_them_again(
    sink_spec: SinkSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(sink_spec)
    try:
        writer = store.writer_of(GROUP)
        assert isinstance(writer, FirestoreWriter)
        lease = store.read_offset(GROUP, TOPIC, 0)
        entities = [("Fed", "ORG", 2, 1), ("Berlin", "GPE", 1, 1)]
        counted = flush(0, 3, delta("Daily One", {0: (3, entities), HOUR * 24 * 40: (1, entities[:1])}))
        loads: list[int] = []
        real_load = writer._load

        def slow_load(*args: Any) -> None:  # the reads of a loaded store: they take the whole attempt
            loads.append(1)
            real_load(*args)
            time.sleep(2.1)

        monkeypatch.setattr(writer, "_load", slow_load)
        quota_reads: list[str | None] = []
        real_quotas = writer._load_quotas

        def counted_quotas(families: Any, owner: str | None, *rest: Any) -> None:
            quota_reads.append(owner)
            real_quotas(families, owner, *rest)

        monkeypatch.setattr(writer, "_load_quotas", counted_quotas)
        with pytest.raises(SinkUnavailable, match="no time left to commit the flush of partition 0"):
            writer.write(counted, lease, timeout=2.0)
        assert len(loads) == 1 and sorted(quota_reads, key=str) == sorted([None, "p_RGFpbHkgT25l"], key=str)
        monkeypatch.setattr(writer, "_load", real_load)
        written = writer.write(counted, lease, timeout=30.0)
        assert len(quota_reads) == 2  # the index's and the publication's families, not read again
        assert written.next_offset == 3
        found = store.entities("Daily One")
        assert found is not None and (found.articles, [(e.text, e.mentions) for e in found.entities]) == (
            4,
            [("Fed", 4), ("Berlin", 1)],
        )
    finally:
        store.close()
