"""The consumer group's start: from spawning ``python -m consumer`` to the whole group consuming.

Before the start, the group's topic gets one record in each partition. Three moments are taken from the spawn
(polling every 0.1 s):

- **owned**: every partition is held by a worker that has read its lease and fetches it (from the group's
  log: each partition's last ``event=assigned`` not followed by its ``revoked`` or ``lost``). Every owner
  feeds the shared NER processes, so from here the group counts its whole topic at full speed, whichever
  workers hold the partitions (docs/benchmarks.md, "Start").
- **assigned**: the broker reports the group stable with every worker holding partitions (every partition
  when there are fewer workers than partitions).
- **committed**: every partition's first record is counted and committed (its sink write done and its offset
  committed to Kafka, so up to one ``FLUSH_INTERVAL`` after NER).

The goal compares *owned* with loading the model once (:func:`bench.limit.model_load_seconds`); the other
two are reported beside it.
"""

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.pipeline import Pipeline
from bench.records import produce_to_each_partition
from bench.services import BenchError
from loadtool.load import Outgoing

OWNERSHIP_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ worker=(\d+) partition=(\d+) event=(assigned|revoked|lost)\b",
    re.MULTILINE,
)
"""A worker's ownership change, as consumer.checkpoint logs it (``consumer.logs`` puts the time first)."""


@dataclass(frozen=True)
class StartResult:
    workers: int
    assigned_s: float
    consuming_s: float
    """Every partition's first record committed."""
    owned_s: float | None = None
    """Every partition owned (None in results written before it was measured)."""


def every_partition_owned(log_text: str, partitions: int) -> float | None:
    """Epoch seconds of the first line of the group's log after which each of ``partitions`` is held by a
    worker, or None before that."""
    owners: dict[int, int] = {}
    for stamp, worker, partition, change in OWNERSHIP_LINE.findall(log_text):
        if change == "assigned":
            owners[int(partition)] = int(worker)
        elif owners.get(int(partition)) == int(worker):
            del owners[int(partition)]
        if len(owners) == partitions:
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged
    return None


def start_group(pipeline: Pipeline, seeds: Sequence[Outgoing], timeout: float = 300) -> StartResult:
    """Start ``pipeline`` (HTTP service, then the group) on a topic holding ``seeds``, one per partition."""
    assert pipeline.workers is not None
    partitions = pipeline.config.partitions
    produce_to_each_partition(seeds[:partitions], partitions, bootstrap=pipeline.broker.bootstrap, topic=pipeline.topic)
    pipeline.start()
    owned = assigned = committed = None
    while committed is None or assigned is None or owned is None:
        now = time.monotonic()
        if now - pipeline.consumer_started_at > timeout:
            raise BenchError(f"the group did not start consuming within {timeout:.0f} s; see {pipeline.consumer_log}")
        pipeline.idle(0.1)
        if owned is None:
            owned = every_partition_owned(pipeline.consumer_log.read_text(errors="replace"), partitions)
        if assigned is None and pipeline.balanced(pipeline.workers):
            assigned = time.monotonic()
        if committed is None and min(pipeline.committed()) >= 1:
            committed = time.monotonic()
    started = pipeline.consumer_started_at
    return StartResult(
        pipeline.workers,
        round(assigned - started, 2),
        round(committed - started, 2),
        round(owned - pipeline.consumer_started_wall, 2),
    )
