"""A Firestore namespace records the layout of its count documents: a namespace of an older layout (layout 1
kept the year buckets with all time) is refused by writers and readers, with what to do, not misread."""

import pytest
from google.cloud import firestore

from common.keys import namespace_key
from common.sinks.base import NamespaceOutdated
from common.sinks.firestore_layout import LAYOUT_VERSION
from tests.sinks.support import GROUP, TOPIC, SinkSpec, delta, flush, open_store

pytestmark = pytest.mark.integration

OUTDATED = (
    "counts namespace 'contract' was counted in layout 1 of this sink, this version reads and writes layout 2: "
    "recount the topic into a new namespace with `python -m consumer.recount --namespace NEW_NAME` and point "
    "COUNTS_NAMESPACE at it (docs/sinks.md, 'Upgrading')"
)


@pytest.mark.parametrize("sink_spec", ["firestore"], indirect=True)
def test_a_namespace_of_the_layout_before_is_refused_by_writers_and_readers(sink_spec: SinkSpec) -> None:
    store = open_store(sink_spec)
    client = firestore.Client(project=sink_spec[1])
    namespace = client.collection("namespaces").document(namespace_key(GROUP))
    try:
        store.write(
            flush(0, 1, delta("Daily One", {0: (1, [("Fed", "ORG", 1, 1)])})), store.read_offset(GROUP, TOPIC, 0)
        )
        assert (namespace.get().to_dict() or {})["layout"] == LAYOUT_VERSION == 2
        namespace.update({"layout": firestore.DELETE_FIELD})  # what a namespace claimed before layout 2 holds
    finally:
        store.close()
    store = open_store(sink_spec)  # a writer and a reader opened afresh (the first ones checked it once)
    try:
        with pytest.raises(NamespaceOutdated) as refused:
            store.read_offset(GROUP, TOPIC, 0)
        assert str(refused.value) == OUTDATED
        with pytest.raises(NamespaceOutdated) as refused:
            store.entities("Daily One")
        assert str(refused.value) == OUTDATED
        namespace.update({"layout": LAYOUT_VERSION})
        found = store.entities("Daily One")
        assert found is not None and [(e.text, e.mentions) for e in found.entities] == [("Fed", 1)]
    finally:
        store.close()
        client.close()
