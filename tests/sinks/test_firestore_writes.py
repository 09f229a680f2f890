"""The Firestore sink builds count documents' writes itself (the client's merge is quadratic in the fields):
they must be exactly what ``batch.set(reference, fields, merge=True)`` sends for the same fields and
transforms. No emulator needed: nothing is sent."""

from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1 import SERVER_TIMESTAMP, Increment, Maximum, Minimum

from common.sinks.firestore_layout import Change, DocumentId, DocumentPlan
from common.sinks.firestore_writer import count_write


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> firestore.Client:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never contacted
    return firestore.Client(project="writes")


def comparable(write: Any) -> tuple[Any, ...]:
    """A write with its mask and transforms as sets: the client sorts them, order means nothing."""
    message = type(write).pb(write)
    transforms = {
        (t.field_path, t.WhichOneof("transform_type"), str(getattr(t, t.WhichOneof("transform_type"))))
        for t in message.update_transforms
    }
    return message.update, set(message.update_mask.field_paths), transforms, message.HasField("current_document")


KINDS = {"increment": Increment, "maximum": Maximum, "minimum": Minimum}


def nested(plan: DocumentPlan) -> dict[str, Any]:
    """The plan as the nested fields a merge-set takes."""
    fields: dict[str, Any] = {}
    for names, value in plan.values.items():
        inner = fields
        for name in names[:-1]:
            inner = inner.setdefault(name, {})
        inner[names[-1]] = value
    for change in plan.changes:
        inner = fields
        for name in change.path[:-1]:
            inner = inner.setdefault(name, {})
        inner[change.path[-1]] = SERVER_TIMESTAMP if change.kind == "request_time" else KINDS[change.kind](change.value)
    return fields


@pytest.mark.parametrize("entities", [[], ["0a1b2cPERSON"], ["0a1b2cORG", "fed0GPE", "Zz_9WORK_OF_ART", "a b`cX"]])
@pytest.mark.parametrize("header", [False, True])
def test_a_count_write_is_what_a_merge_set_sends(client: firestore.Client, entities: list[str], header: bool) -> None:
    reference = client.collection("namespaces").document("n_x").collection("index").document("m202311.0.1")
    plan = DocumentPlan(DocumentId(None, "m202311", 0, 1), {("cont",): "m202311", ("grp",): 0, ("gen",): 1})
    plan.values[("q", "3", "f")] = 120
    plan.values[("q", "3", "b")] = 4_000
    plan.changes.append(Change(("n", "w1699999200"), "increment", 2))
    for number, key in enumerate(entities):
        plan.changes += [
            Change(("e", "w1699999200", key, "m"), "increment", number + 2),
            Change(("e", "w1699999200", key, "a"), "increment", number + 1),
            Change(("e", "w1699999200", key, "s", f"~Text {number} ü.x"), "maximum", 1_699_999_200),
        ]
    if header:
        plan.values[("name",)] = "CNN (Web News)"
        plan.changes += [
            Change(("articles",), "increment", 3),
            Change(("first",), "minimum", 1_699_999_200),
            Change(("last",), "maximum", 1_700_002_800),
            Change(("updated_at",), "request_time"),
        ]
    batch = client.batch()
    batch.set(reference, nested(plan), merge=True)

    built = count_write(reference._document_path, plan)

    assert comparable(built) == comparable(batch._write_pbs[0])
