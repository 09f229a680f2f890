"""``python -m consumer.recount --namespace NAME``: count the whole topic again into a new counts namespace, with a
new consumer group, e.g. to apply a changed alias table (ALIASES_FILE) or NER model to the articles counted
before.

It checks that the namespace and the group are new, says how much of the topic's history the topic still
holds (records its retention deleted cannot be counted again), runs ``python -m consumer`` with
``KAFKA_GROUP_ID`` and ``COUNTS_NAMESPACE`` set (the other settings from the environment, as the running
group has them), shows its progress until it has counted every record the topic held when it started, and
then says what to set so that the read API serves the new namespace. The group keeps counting new articles
until it is stopped (Ctrl-C or SIGTERM: a clean stop), or stops once caught up with ``--exit-when-caught-up``.
docs/aliases.md ("Recounting") has an example.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from confluent_kafka import Consumer, KafkaException, TopicPartition
from pydantic import ValidationError

from common.kafka_client import security_config
from common.sinks.base import SinkError
from common.sinks.factory import open_reader
from consumer.aliases import AliasFileError, load_alias_table
from consumer.settings import ConsumerSettings

KAFKA_TIMEOUT_SECONDS = 10.0
"""Longest wait for one answer of the broker (metadata, offsets)."""

STOP_TIMEOUT_SECONDS = 120.0
"""Longest wait for the consumer group to flush and exit after SIGTERM."""


class RecountRefused(Exception):
    """The recount cannot start as asked; the message says what to change."""


@dataclass(frozen=True)
class Offsets:
    """Per partition, the first offset the topic still holds and its end offset."""

    start: dict[int, int]
    end: dict[int, int]

    @property
    def held(self) -> int:
        return sum(self.end[p] - self.start[p] for p in self.end)

    @property
    def deleted(self) -> int:
        """Records written to the topic that it no longer holds (its retention deleted them)."""
        return sum(self.start.values())

    def counted(self, committed: dict[int, int | None]) -> int:
        """Records of the held range a group with these commits has counted."""
        return sum(min(self.end[p], max(self.start[p], committed.get(p) or 0)) - self.start[p] for p in self.end)


def topic_offsets(settings: ConsumerSettings) -> Offsets:
    """The topic's retained range per partition, as the broker says now."""
    probe = _probe(settings, "newscounts-recount-probe")
    try:
        topic = settings.kafka_topic
        metadata = probe.list_topics(topic, timeout=KAFKA_TIMEOUT_SECONDS).topics[topic]
        if metadata.error is not None:
            raise RecountRefused(f"Kafka topic {topic!r} is not available: {metadata.error.str()} (check KAFKA_TOPIC)")
        ranges = {
            partition: probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=KAFKA_TIMEOUT_SECONDS)
            for partition in sorted(metadata.partitions)
        }
    finally:
        probe.close()
    return Offsets({p: low for p, (low, _) in ranges.items()}, {p: high for p, (_, high) in ranges.items()})


def committed(settings: ConsumerSettings, group: str, partitions: Sequence[int]) -> dict[int, int | None]:
    """The offsets ``group`` committed (None: nothing yet), which the consumer does once the counts are stored."""
    probe = _probe(settings, group)
    try:
        found = probe.committed(
            [TopicPartition(settings.kafka_topic, p) for p in partitions], timeout=KAFKA_TIMEOUT_SECONDS
        )
    finally:
        probe.close()
    return {position.partition: position.offset if position.offset >= 0 else None for position in found}


def _probe(settings: ConsumerSettings, group: str) -> Consumer:
    """A consumer that only asks the broker (it never subscribes, so it never joins ``group``)."""
    return Consumer(
        {
            **security_config(settings),
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )


def check_new(settings: ConsumerSettings, namespace: str, group: str, partitions: Sequence[int]) -> None:
    """Refuse a namespace that holds counts already, or a group that committed offsets: a recount starts afresh."""
    reader = open_reader(settings.model_copy(update={"counts_namespace": namespace}))
    try:
        record = reader.namespace()
    finally:
        reader.close()
    if record is not None:
        raise RecountRefused(
            f"counts namespace {namespace!r} holds counts already (consumer group {record.group!r}): choose a new "
            f"--namespace (or run `KAFKA_GROUP_ID={record.group} COUNTS_NAMESPACE={namespace} python -m consumer` "
            "to go on counting into it)"
        )
    if any(offset is not None for offset in committed(settings, group, partitions).values()):
        raise RecountRefused(
            f"consumer group {group!r} has committed offsets on {settings.kafka_topic!r} already: choose a new --group"
        )


def describe_retention(offsets: Offsets, topic: str) -> str:
    if not offsets.deleted:
        return f"topic {topic!r} holds all of its {offsets.held:,} records ({len(offsets.end)} partitions)"
    return (
        f"topic {topic!r} holds {offsets.held:,} records ({len(offsets.end)} partitions); its retention deleted the "
        f"{offsets.deleted:,} before them: those articles cannot be counted again, so the new namespace will not "
        "count them (the old namespace keeps them); keep the topic's retention long enough for the history you "
        "want to recount"
    )


def progress(counted: int, total: int, rate: float | None) -> str:
    share = 100 if not total else counted * 100 // total
    line = f"  {counted:,} of {total:,} records counted ({share}%)"
    if rate and counted < total:
        line += f", {rate:,.1f}/s, ~{_duration((total - counted) / rate)} left"
    return line


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def serve_it(namespace: str, group: str, kept_running: bool) -> str:
    """What to do once the new namespace has caught up."""
    service = f"KAFKA_GROUP_ID={group} COUNTS_NAMESPACE={namespace} newscounts-consumer"
    running = (
        "This command keeps the new group counting new articles until you stop it (Ctrl-C); to run the group as "
        f"a service instead, stop this command and start: {service}"
        if kept_running
        else f"This command stops the new group now; start it as a service with: {service}"
    )
    return (
        f"caught up: counts namespace {namespace!r} holds every record the topic held at the start.\n"
        f"To serve it: set COUNTS_NAMESPACE={namespace} for the read API (newscounts-producer) and restart it, then "
        "stop the old consumer group.\n"
        f"{running}\n"
        "The old namespace stays in the sink until you delete it (docs/sinks.md, 'Counts namespaces')."
    )


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _signum: int, _: FrameType | None) -> None:
        self.requested = True


def run(options: argparse.Namespace) -> int:
    try:
        settings = ConsumerSettings()
    except ValidationError as error:
        print(f"recount: invalid settings (environment variables):\n{error}", file=sys.stderr)
        return 2
    namespace: str = options.namespace
    group: str = options.group or f"{settings.kafka_group_id}-{namespace}"
    try:
        table = load_alias_table(settings.aliases_file)
        offsets = topic_offsets(settings)
        check_new(settings, namespace, group, sorted(offsets.end))
    except (AliasFileError, RecountRefused, SinkError) as error:
        print(f"recount: {error}", file=sys.stderr)
        return 2
    except KafkaException as error:
        print(f"recount: Kafka cannot be asked ({error}): check KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    log_path = Path(options.log or f"recount-{group}.log")
    print(f"recount into counts namespace {namespace!r} with consumer group {group!r}, alias table {table.version}")
    print(describe_retention(offsets, settings.kafka_topic))
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    env = {**os.environ, "KAFKA_GROUP_ID": group, "COUNTS_NAMESPACE": namespace}
    with log_path.open("a", encoding="utf-8") as log:
        group_run = subprocess.Popen([sys.executable, "-m", "consumer"], env=env, stdout=log, stderr=log)
        print(f"started the consumer group (python -m consumer, pid {group_run.pid}); its log: {log_path}", flush=True)
        code = 1
        try:
            code = _follow(settings, group, offsets, group_run, stop, options)
        finally:
            if group_run.poll() is None and not _stopped(group_run):
                code = 1
    return code


def _follow(
    settings: ConsumerSettings,
    group: str,
    offsets: Offsets,
    group_run: subprocess.Popen[bytes],
    stop: _Stop,
    options: argparse.Namespace,
) -> int:
    """Progress every ``options.every`` seconds until caught up; then wait for a stop (or stop at once)."""
    started, caught_up = time.monotonic(), False
    while not stop.requested:
        if group_run.poll() is not None:
            print(f"recount: the consumer group exited ({group_run.returncode}): see its log", file=sys.stderr)
            return 1
        if not caught_up:
            counted = offsets.counted(committed(settings, group, sorted(offsets.end)))
            elapsed = time.monotonic() - started
            print(progress(counted, offsets.held, counted / elapsed if counted and elapsed else None), flush=True)
            if counted >= offsets.held:
                caught_up = True
                print(serve_it(options.namespace, group, not options.exit_when_caught_up), flush=True)
                if options.exit_when_caught_up:
                    return 0
        _sleep(options.every, stop)
    return 0


def _stopped(group_run: subprocess.Popen[bytes]) -> bool:
    """Stop the group (SIGTERM: every worker flushes and commits) and say how it ended."""
    print("stopping the consumer group (it flushes what it counted)...", flush=True)
    group_run.send_signal(signal.SIGTERM)
    try:
        code = group_run.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        group_run.kill()
        code = group_run.wait()
    print("stopped" if code == 0 else f"the consumer group did not stop cleanly (exit {code})", flush=True)
    return code == 0


def _sleep(seconds: float, stop: _Stop) -> None:
    deadline = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(min(0.2, deadline - time.monotonic()))


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m consumer.recount",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="The other settings come from the environment, as for python -m consumer (README, 'Settings').",
    )
    cli.add_argument("--namespace", required=True, help="The new counts namespace (COUNTS_NAMESPACE) to count into.")
    cli.add_argument(
        "--group",
        help="The new consumer group (KAFKA_GROUP_ID; default: KAFKA_GROUP_ID-NAMESPACE, e.g. newscounts-green).",
    )
    cli.add_argument("--every", type=float, default=10.0, help="Seconds between progress lines (default 10).")
    cli.add_argument("--log", help="File the consumer group logs to (default: recount-GROUP.log).")
    cli.add_argument(
        "--exit-when-caught-up",
        action="store_true",
        help="Stop the group cleanly once it has counted the history, instead of going on with new articles.",
    )
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(parser().parse_args(argv)))


if __name__ == "__main__":
    main()
