"""Forward and backward gaps between the offset stored in the sink and what Kafka still holds (issue 14).

A worker starts each partition at the offset stored in the sink. When Kafka no longer has it, librdkafka
resets to the earliest offset it has, and the first offset consumed differs from the stored one:

- **forward gap**: the stored offset is below the log start (retention deleted records during an outage;
  simulated with ``AdminClient.delete_records``). Those records are gone: the partition goes on from the log
  start, and the gap must be reported.
- **backward gap**: the stored offset is beyond the log end (the topic was deleted and created again with the
  same name). Everything in the new partition is new: it is counted from its beginning, and the gap reported.

Either way one line ``event=offset_gap`` at ERROR level with ``partition=``, ``stored_offset=`` and
``first_offset=``, and the counter ``newscounts_offset_gaps`` one higher. (A recreated topic holding more
records than the stored offset cannot be told from the old one by offsets alone; that would need the topic
id stored with the offset.)
"""

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from devservices.process import free_port
from tests.chaos.support import expected_for
from tests.consumer.records import RawRecord, create_topic, produce_each
from tests.consumer.support import (
    FIXED_TIMESTAMP_MS,
    ConsumerGroupRun,
    article_records,
    assert_counts_equal,
    consumer_group,
    group_env,
    sink_counts,
    sink_under_test,
    wait_until_flushed,
)
from tests.sinks.support import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[dict[str, str], Store]]:
    with sink_under_test("sqlite", tmp_path) as sink:
        yield sink


@pytest.fixture
def articles(sample_articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """20 short sample articles, each with its own id."""
    return sorted(sample_articles[:300], key=lambda article: len(article["content"]))[:20]


def to_partition(partition: int, articles: list[dict[str, Any]]) -> list[RawRecord]:
    return [RawRecord(partition, key, value, timestamp=FIXED_TIMESTAMP_MS) for key, value in article_records(articles)]


def produce_to(bootstrap: str, topic: str, records: list[RawRecord]) -> None:
    results = produce_each(bootstrap, topic, records)
    assert all(not isinstance(result, str) for result in results), results


def count_until(
    bootstrap: str, topic: str, sink: tuple[dict[str, str], Store], ends: dict[int, int]
) -> tuple[ConsumerGroupRun, float]:
    """Run one worker until the sink's offsets are ``ends``, then stop it; its log, and the gaps the group's
    metrics endpoint counted."""
    env, store = sink
    group = f"g-{topic}"
    port = free_port()
    settings: dict[str, str | int] = {"consumer_processes": 1, "metrics_port": port}
    with consumer_group(group_env(bootstrap, topic, group, env, **settings)) as run:
        wait_until_flushed(store, group, topic, ends, run, timeout=120, stall=45)
        gaps = offset_gaps_counted(port)
        assert run.stop() == 0, run.log_tail()
    assert not run.events("worker_died"), run.log_tail()
    return run, gaps


def offset_gaps_counted(port: int) -> float:
    """``newscounts_offset_gaps`` summed over the ``worker`` labels of the group's endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = re.findall(r"^newscounts_offset_gaps(?:_total)?\{[^}]*\} (\S+)$", text, re.MULTILINE)
    assert samples, f"no newscounts_offset_gaps on port {port}:\n{text}"
    return sum(float(value) for value in samples)


def gap_lines(run: ConsumerGroupRun) -> list[dict[str, str]]:
    """The fields of each ``event=offset_gap`` line, with its level."""
    found = []
    for line in run.lines:
        if "event=offset_gap" in line:
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            fields["level"] = line.split()[2]
            found.append(fields)
    return found


def check_gaps(counted: tuple[ConsumerGroupRun, float], expected: dict[int, tuple[int, int]]) -> None:
    """One ERROR line per partition in ``expected`` (partition -> (stored offset, first offset)), no other, and
    as many gaps counted by the metric."""
    run, gaps = counted
    found = {
        int(fields["partition"]): (fields["level"], int(fields["stored_offset"]), int(fields["first_offset"]))
        for fields in gap_lines(run)
    }
    assert len(gap_lines(run)) == len(found), gap_lines(run)
    assert found == {p: ("ERROR", stored, first) for p, (stored, first) in expected.items()}, run.log_tail()
    assert gaps == len(expected)


def test_records_deleted_before_they_were_counted_are_a_logged_forward_gap(
    kafka_bootstrap: str, sqlite: tuple[dict[str, str], Store], articles: list[dict[str, Any]]
) -> None:
    """Partition 0: 4 articles counted; 4 more produced while the group is down, the first 2 of them deleted
    (log start 6, stored offset 4). Partition 1: contiguous, no gap. The group resumes at offset 6 of
    partition 0, says so once, and counts everything that is still there."""
    topic = create_topic(kafka_bootstrap, "gap-deleted", 2)
    produce_to(kafka_bootstrap, topic, to_partition(0, articles[:4]) + to_partition(1, articles[4:7]))
    check_gaps(count_until(kafka_bootstrap, topic, sqlite, {0: 4, 1: 3}), {})
    produce_to(kafka_bootstrap, topic, to_partition(0, articles[7:11]) + to_partition(1, articles[11:13]))
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, 6)]).values():
        assert future.result(timeout=30).low_watermark == 6
    check_gaps(count_until(kafka_bootstrap, topic, sqlite, {0: 8, 1: 5}), {0: (4, 6)})
    kept = articles[:4] + articles[4:7] + articles[9:11] + articles[11:13]
    assert_counts_equal(sink_counts(sqlite[1]), expected_for(kept, DAY))


def test_a_topic_deleted_and_created_again_is_a_logged_gap_and_its_new_records_are_all_counted(
    kafka_bootstrap: str, sqlite: tuple[dict[str, str], Store], articles: list[dict[str, Any]]
) -> None:
    """5 + 2 articles counted (stored offsets 5 and 2); the topic is deleted and created again with the same
    name while the group is down, and gets 3 + 1 new articles: each partition's stored offset is beyond its
    new end. The right behaviour: report the gap and count the new partition from its beginning (its records
    are new; skipping them as "already counted" would lose them, silently)."""
    topic = create_topic(kafka_bootstrap, "gap-recreated", 2)
    produce_to(kafka_bootstrap, topic, to_partition(0, articles[:5]) + to_partition(1, articles[5:7]))
    check_gaps(count_until(kafka_bootstrap, topic, sqlite, {0: 5, 1: 2}), {})
    recreate(kafka_bootstrap, topic, partitions=2)
    produce_to(kafka_bootstrap, topic, to_partition(0, articles[7:10]) + to_partition(1, articles[10:11]))
    check_gaps(count_until(kafka_bootstrap, topic, sqlite, {0: 3, 1: 1}), {0: (5, 0), 1: (2, 0)})
    assert_counts_equal(sink_counts(sqlite[1]), expected_for(articles[:11], DAY))


def recreate(bootstrap: str, topic: str, partitions: int, timeout: float = 60) -> None:
    """Delete ``topic`` and create it again, empty, with the same name (retrying while the broker still holds
    the old one)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([topic]).values():
        future.result(timeout=30)
    deadline = time.monotonic() + timeout
    while True:
        future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
        try:
            future.result(timeout=30)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
