"""A rebalance while the sink hangs must end in time (issue 14): every wait inside a rebalance callback is
bounded by one deadline well under MAX_POLL_INTERVAL, or Kafka drops the worker from the group.

Worker A reaches the Firestore emulator through a TCP proxy that the test freezes: connections stay open and
nothing comes back, as with a stalled network path (a sink that hangs rather than fails). A counts 48
articles over 16 partitions without flushing (a 10-minute FLUSH_INTERVAL), the proxy freezes, and worker B
joins the group (reaching the emulator directly): A must give up 8 partitions, whose final flushes cannot
complete. With FINAL_FLUSH_TIMEOUT 5 s and MAX_POLL_INTERVAL 30 s, A abandons those flushes
(``event=flush_abandoned``), completes the revocation (``event=revoked`` for each) and is never kicked out
for exceeding the poll interval (no ``event=lost``, no librdkafka "maximum poll interval" error). B counts
the revoked partitions from the sink's offsets; after the thaw A stops and flushes the rest: every article
is counted exactly once (a flush A abandoned that reaches the emulator after the thaw is fenced).
"""

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chaos.support import TcpProxy, committed_offsets, expected_for
from tests.consumer.records import RawRecord, create_topic, produce_each
from tests.consumer.support import (
    FIXED_TIMESTAMP_MS,
    ConsumerGroupRun,
    article_records,
    assert_counts_equal,
    consumer_group,
    group_env,
    group_store,
    poll_until,
    sink_counts,
    wait_until_flushed,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400
PARTITIONS = 16
MAX_POLL_INTERVAL_S = 30
SETTINGS: dict[str, str | int] = {
    "consumer_processes": 1,
    "max_poll_interval": f"{MAX_POLL_INTERVAL_S}s",
    "final_flush_timeout": "5s",
    "stats_interval": "1s",
}
KICKED_OUT = re.compile(r"maximum poll interval|MAX_POLL_EXCEEDED", re.IGNORECASE)


@pytest.fixture
def proxy(firestore_emulator: str) -> Iterator[TcpProxy]:
    forward = TcpProxy(int(firestore_emulator.rsplit(":", 1)[1])).start()
    yield forward
    forward.thaw()
    forward.cut()


def sink_env(project: str, host: str) -> dict[str, str]:
    return {"SINK": "firestore", "FIRESTORE_PROJECT": project, "FIRESTORE_EMULATOR_HOST": host}


def partitions_of(run: ConsumerGroupRun, name: str) -> list[int]:
    return [int(fields["partition"]) for fields in run.events(name)]


def test_revoking_8_partitions_from_a_worker_whose_sink_hangs_ends_within_the_deadline(
    kafka_bootstrap: str,
    firestore_emulator: str,
    firestore_project: str,
    proxy: TcpProxy,
    sample_articles: list[dict[str, Any]],
) -> None:
    project = firestore_project
    topic = create_topic(kafka_bootstrap, "rebalance", PARTITIONS)
    group = f"g-{topic}"
    articles = sorted(sample_articles[:300], key=lambda article: len(article["content"]))[: 3 * PARTITIONS]
    records = [
        RawRecord(index % PARTITIONS, key, value, timestamp=FIXED_TIMESTAMP_MS)
        for index, (key, value) in enumerate(article_records(articles))
    ]
    ends = dict.fromkeys(range(PARTITIONS), 3)
    direct = group_store(("firestore", project))
    a_env = group_env(kafka_bootstrap, topic, group, sink_env(project, proxy.host), flush_interval="10m", **SETTINGS)
    b_env = group_env(kafka_bootstrap, topic, group, sink_env(project, firestore_emulator), **SETTINGS)
    try:
        with consumer_group(a_env) as a:
            a.wait_for_event("assigned", count=PARTITIONS)
            assert all(not isinstance(result, str) for result in produce_each(kafka_bootstrap, topic, records))
            poll_until(lambda: any(f["articles"] == str(len(articles)) for f in a.events("stats")), 120, "A counts")
            assert not a.events("flushed"), "A must still hold every partition's counts, unwritten"
            proxy.freeze()
            with consumer_group(b_env) as b:
                b.wait_for_event("ready")
                keep_frozen_until = time.monotonic() + MAX_POLL_INTERVAL_S + 5
                a.wait_for_event("revoked", count=PARTITIONS // 2, timeout=60)
                revoked = partitions_of(a, "revoked")
                assert sorted(partitions_of(a, "flush_abandoned")) == sorted(revoked), a.log_tail()
                wait_until_flushed(direct, group, topic, {p: ends[p] for p in revoked}, b, timeout=120)
                time.sleep(max(0.0, keep_frozen_until - time.monotonic()))  # past the poll interval, still frozen
                proxy.thaw()
                assert a.stop() == 0, a.log_tail()
                wait_until_flushed(direct, group, topic, ends, b, timeout=120)
                assert b.stop() == 0, b.log_tail()
        assert_counts_equal(sink_counts(direct), expected_for(articles, DAY))
    finally:
        direct.close()
    assert committed_offsets(kafka_bootstrap, group, topic, list(ends)) == ends
    for run in (a, b):
        assert not run.events("lost") and not run.events("worker_died"), run.log_tail(200)
        assert not [line for line in run.lines if KICKED_OUT.search(line)], run.log_tail(200)
    assert len(revoked) == PARTITIONS // 2 == len(set(revoked))
