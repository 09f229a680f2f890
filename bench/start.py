"""The consumer group's start: from spawning ``python -m consumer`` to the whole group consuming.

Before the start, the group's topic gets one record in each partition. Two moments are taken from the spawn
(polling every 0.1 s): **assigned**, the broker reports the group stable with every worker holding
partitions (every partition when there are fewer workers than partitions); **consuming**, every partition's
first record is counted and committed (its sink write done and its offset committed to Kafka, so up to one
``FLUSH_INTERVAL`` after NER). The goal compares *consuming* with loading the model once
(:func:`bench.limit.model_load_seconds`).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.pipeline import Pipeline
from bench.records import produce_to_each_partition
from bench.services import BenchError
from loadtool.load import Outgoing


@dataclass(frozen=True)
class StartResult:
    workers: int
    assigned_s: float
    consuming_s: float


def start_group(pipeline: Pipeline, seeds: Sequence[Outgoing], timeout: float = 300) -> StartResult:
    """Start ``pipeline`` (HTTP service, then the group) on a topic holding ``seeds``, one per partition."""
    assert pipeline.workers is not None
    partitions = pipeline.config.partitions
    produce_to_each_partition(seeds[:partitions], partitions, bootstrap=pipeline.broker.bootstrap, topic=pipeline.topic)
    pipeline.start()
    assigned = consuming = None
    while consuming is None or assigned is None:
        now = time.monotonic()
        if now - pipeline.consumer_started_at > timeout:
            raise BenchError(f"the group did not start consuming within {timeout:.0f} s; see {pipeline.consumer_log}")
        pipeline.idle(0.1)
        if assigned is None and pipeline.balanced(pipeline.workers):
            assigned = time.monotonic()
        if consuming is None and min(pipeline.committed()) >= 1:
            consuming = time.monotonic()
    started = pipeline.consumer_started_at
    return StartResult(pipeline.workers, round(assigned - started, 2), round(consuming - started, 2))
