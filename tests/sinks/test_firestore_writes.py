"""The Firestore sink builds count documents' writes itself (the client's merge is quadratic): they must be
exactly what ``batch.set(reference, fields, merge=True)`` sends. No emulator needed: nothing is sent."""

from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1 import Increment

from common.sinks.base import EntityTally
from common.sinks.firestore import count_write


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> firestore.Client:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never contacted
    return firestore.Client(project="writes")


def comparable(write: Any) -> tuple[Any, ...]:
    """A write with its mask and transforms as sets: the client sorts them, order means nothing."""
    message = type(write).pb(write)
    transforms = {(t.field_path, t.increment.integer_value) for t in message.update_transforms}
    return message.update, set(message.update_mask.field_paths), transforms, message.HasField("current_document")


SCOPES: list[dict[str, Any]] = [
    {
        "publication": "p_UmV1dGVycw",
        "shard": "newscounts.articles.3",
        "gen": 2,
        "window_start": 1_699_999_200,
        "start": datetime(2023, 11, 14, 22, tzinfo=UTC),
        "end": datetime(2023, 11, 14, 23, tzinfo=UTC),
    },
    {"publication": "p_UmV1dGVycw", "shard": "team%2Fa.articles.0", "gen": 0},
]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("articles", [None, 3])
@pytest.mark.parametrize("keys", [[], ["0a1b2c"], ["0a1b2c", "fed0", "Zz_9", "a b`c"]])
def test_a_count_write_is_what_a_merge_set_sends(
    client: firestore.Client, scope: dict[str, Any], articles: int | None, keys: list[str]
) -> None:
    reference = client.collection("publications").document("p_UmV1dGVycw").collection("windows").document("d.0")
    counts = [
        (key, EntityTally(text=f"Text {n} ü", label="ORG", mentions=n + 2, articles=n + 1))
        for n, key in enumerate(keys)
    ]
    fields: dict[str, Any] = dict(scope)
    if counts:
        fields["e"] = {
            key: {"t": tally.text, "l": tally.label, "m": Increment(tally.mentions), "a": Increment(tally.articles)}
            for key, tally in counts
        }
    if articles is not None:
        fields["articles"] = Increment(articles)
    batch = client.batch()
    batch.set(reference, fields, merge=True)

    built = count_write(reference._document_path, scope, counts, articles)

    assert comparable(built) == comparable(batch._write_pbs[0])
