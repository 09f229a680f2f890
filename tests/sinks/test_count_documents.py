"""Unit tests of the Firestore sink's write plan: which count document each entity goes to."""

import pytest

import common.sinks.count_documents
from common.sinks.count_documents import Shelf, documents_for, entry_bytes


@pytest.fixture(autouse=True)
def small_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """3 entities per document per commit, 5 per document."""
    monkeypatch.setattr(common.sinks.count_documents, "ENTITIES_PER_COMMIT", 3)
    monkeypatch.setattr(common.sinks.count_documents, "ENTITIES_PER_DOCUMENT", 5)


def entries(*keys: str) -> dict[str, int]:
    return dict.fromkeys(keys, 100)


def test_new_entities_fill_the_last_document_then_open_the_next() -> None:
    shelf = Shelf()
    assert shelf.place(entries("a", "b", "c", "d")) == {0: ["a", "b", "c"], 1: ["d"]}
    # generation 1 is the last: it takes new entities until it holds 5; "a" stays where it is
    assert shelf.place(entries("a", "e", "f", "g", "h")) == {0: ["a"], 1: ["e", "f", "g"], 2: ["h"]}
    assert shelf.entities == [3, 4, 1]


def test_an_entity_whose_document_took_enough_in_this_commit_goes_to_the_last_document() -> None:
    shelf = Shelf()
    shelf.place(entries("a", "b", "c"))
    shelf.place(entries("d"))  # generation 0 holds 4 of 5
    assert shelf.place(entries("a", "b", "c", "d")) == {0: ["a", "b", "c"], 1: ["d"]}
    assert shelf.holder["d"] == 1 and shelf.entities == [4, 1]


def test_a_document_full_by_size_is_closed() -> None:
    shelf = Shelf()
    shelf.record(0, "a", common.sinks.count_documents.BYTES_PER_DOCUMENT - 50)
    assert shelf.place({"b": 100}) == {1: ["b"]}
    assert shelf.place({"c": 40}) == {1: ["c"]}


def test_no_entities_still_names_one_document() -> None:
    shelf = Shelf()
    assert shelf.place({}) == {0: []}
    shelf.place(entries("a", "b", "c", "d"))
    assert shelf.place({}) == {1: []}


def test_a_loaded_shelf_places_like_the_one_that_wrote() -> None:
    writer, loaded = Shelf(), Shelf()
    for generation, keys in writer.place(entries("a", "b", "c", "d")).items():
        for key in keys:
            loaded.record(generation, key, 100)
    assert loaded.place(entries("d", "x")) == writer.place(entries("d", "x")) == {1: ["d", "x"]}


def test_documents_for_and_entry_bytes() -> None:
    assert [documents_for(n) for n in (0, 1, 3, 4, 7)] == [1, 1, 1, 2, 3]
    assert entry_bytes("k" * 32, "Donald Trump", "PERSON") == 33 + 2 + 24 + 1 + 2 + 6 + 1 + 20 + 16
