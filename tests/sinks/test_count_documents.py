"""Unit tests of the Firestore sink's write plan: which count document each entry goes to, within Firestore's
bounds (transforms per commit, a partition's quota of each document)."""

import pytest

import common.sinks.count_documents as limits
from common.sinks.count_documents import Entry, Family, Part, place


@pytest.fixture(autouse=True)
def small_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 transforms per document and commit; a partition's quota is 12 fields and 2,000 bytes."""
    monkeypatch.setattr(limits, "TRANSFORMS_PER_COMMIT", 10)
    monkeypatch.setattr(limits, "DOCUMENT_FIELDS", limits.RESERVED_FIELDS + 16 * 12)
    monkeypatch.setattr(limits, "DOCUMENT_BYTES", limits.RESERVED_BYTES + 16 * 2_000)


def entry(key: str, fields: int = 3, transforms: int = 3, shared: str = "shared") -> Entry:
    """An entry that creates the map ``shared`` (1 field, once per document) and its own ``fields - 1``."""
    return Entry(key, (Part(shared, 1, 10), Part(key, fields - 1, 50)), transforms)


def placed(family: Family, *entries: Entry, used: dict[int, int] | None = None) -> dict[int, list[str]]:
    return {generation: [e.key for e in share.entries] for generation, share in place(family, entries, used).items()}


def test_entries_fill_a_document_then_open_the_next() -> None:
    family = Family()
    # 3 transforms each: 3 per document and commit (9 of 10)
    assert placed(family, *(entry(k) for k in "abcde")) == {0: ["a", "b", "c"], 1: ["d", "e"]}
    # charges: the shared map once, then 2 fields per entry
    assert [(g.fields, g.bytes) for g in family.generations] == [(7, 160), (5, 110)]


def test_an_entry_goes_back_to_the_document_that_holds_it() -> None:
    family = Family()
    placed(family, *(entry(k) for k in "abcd"))
    # "a" is held by generation 0 (no new fields there); "f" is new: the first generation with room, also 0
    assert placed(family, entry("a"), entry("f")) == {0: ["a", "f"]}
    assert family.generations[0].fields == 7 + 2  # nothing new charged for "a"
    # "d" is held by generation 1: it goes back there even though generation 0 has room
    assert placed(family, entry("d")) == {1: ["d"]}


def test_the_quota_opens_a_new_document_before_the_transforms_do() -> None:
    family = Family()
    # 7 fields each (1 shared + 6): a quota of 12 takes the shared map and one entry
    assert placed(family, entry("a", fields=7, transforms=1), entry("b", fields=7, transforms=1)) == {
        0: ["a"],
        1: ["b"],
    }
    assert all(g.fields <= limits.quota_fields() for g in family.generations)


def test_transforms_already_used_in_a_document_count() -> None:
    family = Family()
    # a header's 4 transforms in generation 0 leave room for two entries of 3
    assert placed(family, *(entry(k) for k in "abc"), used={0: 4}) == {0: ["a", "b"], 1: ["c"]}
    assert placed(Family(), used={0: 4}) == {0: []}


def test_a_loaded_document_is_known_as_stored() -> None:
    family = Family()
    # stored by others: the shared map and x; this partition charged 11 of its 12 fields there earlier
    family.load(0, {"shared", "x"}, {"x"}, (11, 100))
    # "x" is there already (no charge, it is held); "y" would charge 2 fields: over the quota, so generation 1
    assert placed(family, entry("x"), entry("y")) == {0: ["x"], 1: ["y"]}
    assert (family.generations[0].fields, family.generations[1].fields) == (11, 3)


def test_an_entry_larger_than_a_quota_is_refused() -> None:
    with pytest.raises(ValueError, match="larger than a partition's quota"):
        place(Family(), [entry("huge", fields=40)])


def test_each_partition_fills_the_generations_from_its_cursor() -> None:
    """A partition that finds generations others filled writes into them (its own quota there is unused),
    oldest first, before it opens a new one: partitions writing at the same time share documents."""
    family = Family()
    for generation in range(3):  # three generations, where this partition never wrote
        family.load(generation, {"shared"}, (), (0, 0))
    assert placed(family, *(entry(f"k{n}") for n in range(5))) == {0: ["k0", "k1", "k2"], 1: ["k3", "k4"]}
    # "shared" was there already: 2 fields per entry, of a quota of 12
    assert [g.fields for g in family.generations] == [6, 4, 0]
    assert placed(family, *(entry(f"m{n}") for n in range(4))) == {0: ["m0", "m1", "m2"], 1: ["m3"]}
    # generation 0 is now full for this partition: later entries start at generation 1
    assert placed(family, *(entry(f"p{n}") for n in range(4))) == {1: ["p0", "p1", "p2"], 2: ["p3"]}
    assert (family.cursor, [g.fields for g in family.generations]) == (2, [12, 12, 2])
