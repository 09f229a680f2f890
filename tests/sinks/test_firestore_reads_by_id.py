"""The Firestore reader fetches count documents by id: every generation of a family, including those written
after it last read there, and every partition group, from the namespace's ``groups`` or, in a namespace
written before that field, from its offsets."""

import pytest
from google.cloud import firestore

from common.keys import namespace_key
from common.sinks.buckets import Step
from tests.sinks.support import GROUP, TOPIC, Entities, SinkSpec, delta, flush, open_store, stored_count_documents

pytestmark = pytest.mark.integration

BASE = 1_700_000_000 // 3600 * 3600


def rows(start: int, stop: int) -> Entities:
    return [(f"Entity {n:04d}", "ORG", 1, 1) for n in range(start, stop)]


@pytest.mark.usefixtures("small_count_documents")
@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_a_reader_finds_the_generations_written_after_it_last_read(sink_spec: SinkSpec) -> None:
    store = open_store(sink_spec)
    try:
        lease = store.write(flush(0, 1, delta("Wide", {BASE: (1, rows(0, 4))})), store.read_offset(GROUP, TOPIC, 0))
        found = store.entities("Wide", limit=0)
        assert found is not None and len(found.entities) == 4
        for number, start in enumerate(range(4, 64, 6), start=2):  # many more generations of the same families
            lease = store.write(flush(0, number, delta("Wide", {BASE: (1, rows(start, start + 6))})), lease)
        generations = [d for d in stored_count_documents(sink_spec[1]) if d.get("cont") == "m202311"]
        assert len(generations) >= 8
        found = store.entities("Wide", limit=0)  # the same reader, which saw one or two generations before
        assert found is not None and found.articles == 11
        assert sorted((entity.text, entity.mentions) for entity in found.entities) == [
            (f"Entity {n:04d}", 1) for n in range(64)
        ]
        windows = store.windows("Wide", limit=0)
        assert windows is not None and [(w.articles, len(w.entities)) for w in windows] == [(11, 64)]
    finally:
        store.close()


@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_every_partition_group_is_read_with_or_without_the_namespace_recording_them(sink_spec: SinkSpec) -> None:
    store = open_store(sink_spec)
    client = firestore.Client(project=sink_spec[1])
    namespace = client.collection("namespaces").document(namespace_key(GROUP))
    try:
        for partition, entities in [(3, [("Fed", "ORG", 2, 1)]), (20, [("Fed", "ORG", 1, 1), ("Oslo", "GPE", 1, 1)])]:
            store.write(
                flush(partition, 1, delta("Daily One", {BASE: (1, entities)})),
                store.read_offset(GROUP, TOPIC, partition),
            )
        assert (namespace.get().to_dict() or {})["groups"] == 2  # partitions 0-15 and 16-31
        expected = [("Fed", 3), ("Oslo", 1)]
        found = store.entities("Daily One")
        assert found is not None and (found.articles, [(e.text, e.mentions) for e in found.entities]) == (2, expected)
        namespace.update({"groups": firestore.DELETE_FIELD})  # a namespace written before the field was recorded
    finally:
        store.close()
    store = open_store(sink_spec)
    try:
        found = store.entities("Daily One")
        assert found is not None and (found.articles, [(e.text, e.mentions) for e in found.entities]) == (2, expected)
        series = store.reader.series("Daily One", "Fed", "ORG", step=Step.HOUR)
        assert series is not None and [point.mentions for point in series.points] == [3]
        publications = store.reader.entity_publications("Fed", "ORG")
        assert [(row.publication, row.mentions) for row in publications.publications] == [("Daily One", 3)]
        # A writer of this version records the groups of every stored offset, not only of its own partition.
        lease = store.read_offset(GROUP, TOPIC, 3)
        store.write(flush(3, 2, delta("Daily One", {BASE: (1, [("Oslo", "GPE", 1, 1)])})), lease)
        assert (namespace.get().to_dict() or {})["groups"] == 2
        found = store.entities("Daily One")
        assert found is not None and (found.articles, [(e.text, e.mentions) for e in found.entities]) == (
            3,
            [("Fed", 3), ("Oslo", 2)],
        )
    finally:
        store.close()
        client.close()
