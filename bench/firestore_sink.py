"""``python -m bench.firestore_sink``: the Firestore sink's writes and reads on a private emulator.

Writes ``--entities`` distinct entities of one publication the way a consumer group does (each of 16
partitions flushes ``--flushes`` times, a slice of the entities each time, over two windows), then times
the read API's questions: all time with and without a limit, a range of the two windows, the windows with
their top 10. Prints what each took (and the writer's CPU per flush) and how many count documents hold the
counts (docs/sinks.md, "Measured"). Not a test; it stops with an error if the all-time answer misses an entity.
``python -m bench.trends`` measures the reads over years of counts written by the real consumer group.
"""

import argparse
import functools
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from bench.services import private_emulator
from common.keys import publication_key
from common.sinks.base import EntityTally, OffsetLease, PartitionFlush, PublicationDelta, WindowDelta
from common.sinks.firestore_reader import FirestoreReader
from common.sinks.firestore_writer import FirestoreWriter

WINDOW_START = 1_699_999_200
HOUR = 3600
PARTITIONS = 16


def flush_of(partition: int, number: int, first: int, size: int, entities: int) -> PartitionFlush:
    """The ``number``-th flush of ``partition``: ``size`` entities from ``first`` (modulo ``entities``)."""
    tallies = {}
    for offset in range(size):
        entity = (first + offset) % entities
        text = f"Entity {entity}"
        tallies[(text.casefold(), "ORG")] = EntityTally(text=text, label="ORG", mentions=1 + entity % 7, articles=1)
    window = WINDOW_START + HOUR * (number % 2)
    delta = PublicationDelta("Reuters", {window: WindowDelta(articles=3, entities=tallies)})
    return PartitionFlush("bench", "articles", partition, number + 1, HOUR, {publication_key("Reuters"): delta})


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Fastest and slowest of ``repeats`` calls, in seconds, and the last answer."""
    times, answer = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    return min(times), max(times), answer


def main() -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.firestore_sink", description=__doc__)
    cli.add_argument("--entities", type=int, default=20_000, help="Distinct entities (default 20,000).")
    cli.add_argument("--flushes", type=int, default=5, help="Flushes per partition (default 5).")
    cli.add_argument("--repeats", type=int, default=5, help="Times each read is timed (default 5).")
    options = cli.parse_args()
    size = -(-options.entities // (PARTITIONS * options.flushes))
    print("Starting a private Firestore emulator...", flush=True)
    with private_emulator() as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        project = f"bench-sink-{uuid.uuid4().hex[:8]}"
        sink = FirestoreWriter.connect(project, "(default)", "bench", "bench", HOUR)
        reader = FirestoreReader.connect(project, "(default)", "bench", HOUR)
        flushes, started, cpu = 0, time.perf_counter(), time.process_time()
        for partition in range(PARTITIONS):
            lease = OffsetLease(None, None)
            for number in range(options.flushes):
                first = (partition * options.flushes + number) * size
                lease = sink.write(flush_of(partition, number, first, size, options.entities), lease)
                flushes += 1
        per_flush = (time.perf_counter() - started) / flushes * 1000
        cpu_per_flush = (time.process_time() - cpu) / flushes * 1000
        print(
            f"{flushes} flushes of {size} entities each: {per_flush:.0f} ms per flush (with the reads it needs), "
            f"{cpu_per_flush:.1f} ms of this process's CPU"
        )
        everything: dict[str, Any] = {"limit": 0}
        both_windows: dict[str, Any] = {
            "start": datetime.fromtimestamp(WINDOW_START, UTC),
            "end": datetime.fromtimestamp(WINDOW_START + 2 * HOUR, UTC),
            "limit": 0,
        }
        questions: list[tuple[str, dict[str, Any]]] = [
            ("all time, limit=0", everything),
            ("all time, limit=20", {"limit": 20}),
            ("range of 2 windows, limit=0", both_windows),
        ]
        for name, arguments in questions:
            fastest, slowest, answer = timed(
                functools.partial(reader.entities, "Reuters", **arguments), options.repeats
            )
            found = len(answer.entities) if answer is not None else 0
            print(f"entities({name}): {found:,} entities in {fastest:.2f}-{slowest:.2f} s")
            if arguments is everything and found != options.entities:
                sys.exit(f"the all-time answer holds {found} entities, not {options.entities}")
        fastest, slowest, windows = timed(lambda: reader.windows("Reuters", limit=10), options.repeats)
        print(f"windows(limit=10): {len(windows)} windows in {fastest:.2f}-{slowest:.2f} s")
        client = firestore.Client(project=project)
        documents = sum(
            1
            for name in ("publications", "rollups", "index")
            for _ in client.collection_group(name).select([]).stream()
        )
        print(f"count documents: {documents} (publications, their rollups, the entity index; {PARTITIONS} partitions)")
        client.close()
        sink.close()
        reader.close()


if __name__ == "__main__":
    main()
