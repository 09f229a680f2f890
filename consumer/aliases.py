"""The aliased view: what each of one article's counting keys is counted under once the spellings of one
entity are brought together. docs/aliases.md has the rules with examples and their measured precision.

Three rules, applied in this order and repeated until a round changes nothing:

1. **table**: a key the alias table lists is counted under its canonical entity (``US``/GPE and
   ``U.S.``/GPE -> ``United States``/GPE);
2. **person text**: a non-PERSON key whose text is, in the same article, the text or the last word(s) of a
   PERSON of two or more words is counted as a PERSON (``Trump``/ORG next to ``Donald Trump`` ->
   ``Trump``/PERSON); a table canonical keeps its label;
3. **surname**: a PERSON is counted under the one longer PERSON of the same article that it is a shorter form
   of (``Trump`` -> ``Donald Trump``; the longest of a chain, ``King`` -> ``Martin Luther King``); names are
   matched without a leading honorific or middle initials (``Mrs May``, ``Donald J. Trump``); when two
   longer names fit (``Donald Trump`` and ``Ivanka Trump``), it stays as it is.

Pure functions, except :func:`load_alias_table`, which reads the table files. The raw counts are never
changed: the aliased view is computed beside them.
"""

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path

from common.sinks.base import EntityCountingKey, SourceForm
from consumer.entities import ArticleEntity, counting_key, normalize_entity_text

PERSON = "PERSON"
LABELS = frozenset(
    {
        "PERSON",
        "NORP",
        "FAC",
        "ORG",
        "GPE",
        "LOC",
        "PRODUCT",
        "EVENT",
        "WORK_OF_ART",
        "LAW",
        "LANGUAGE",
        "DATE",
        "TIME",
        "PERCENT",
        "MONEY",
        "QUANTITY",
        "ORDINAL",
        "CARDINAL",
    }
)
"""The labels of the spaCy English models (OntoNotes 5): the only ones an alias table may use."""

DEFAULT_TABLE = "aliases_default.tsv"
"""The shipped table, a file of this package."""

HONORIFICS = frozenset({"mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "dr", "dr."})
"""Words before a surname that spaCy keeps in a PERSON ("Mrs May", "Dr Fauci"); other titles ("President")
it leaves outside the name."""

_VERSION_LINE = re.compile(r"#\s*version:\s*(\S*)\s*")
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")


class AliasFileError(ValueError):
    """An alias table file that cannot be used; the message names the file and line and what to change."""


# --- the alias table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canonical:
    """The entity a table entry counts its surface form under, and the text it is displayed with."""

    key: EntityCountingKey
    text: str


@dataclass(frozen=True)
class AliasEntry:
    """One line of a table file: ``surface`` (a counting key) is counted under ``canonical``."""

    surface: EntityCountingKey
    canonical: Canonical
    where: str
    """``file:line``, for error messages."""


@dataclass(frozen=True)
class AliasFile:
    """One parsed table file: its ``# version: N`` and its entries in file order."""

    version: int
    entries: tuple[AliasEntry, ...]


@dataclass(frozen=True)
class AliasTable:
    """Surface forms (counting keys) -> the canonical entity each is counted under.

    Every canonical key is also listed as its own surface, so a canonical spelled another way ("UNITED
    STATES") is displayed as the table writes it. ``version`` names what was loaded: the version of each file
    and a digest of the entries, e.g. ``1+user2:4f3c9a0b1d2e``; it changes whenever an entry changes."""

    entries: Mapping[EntityCountingKey, Canonical]
    version: str

    def lookup(self, key: EntityCountingKey) -> Canonical | None:
        return self.entries.get(key)


def parse_alias_file(text: str, source: str) -> AliasFile:
    """Parse a table file: UTF-8 text, a ``# version: N`` line before the first entry, then one entry a line,
    ``surface<TAB>label<TAB>canonical<TAB>canonical label``; blank lines and lines starting with ``#`` are
    comments. Texts are normalized as entity texts are (``the United States`` is ``United States``)."""
    version: int | None = None
    entries: list[AliasEntry] = []
    seen: dict[EntityCountingKey, AliasEntry] = {}
    for number, raw_line in enumerate(text.split("\n"), start=1):
        where, line = f"{source}:{number}", raw_line.removesuffix("\r")
        if line.lstrip().startswith("#"):
            if version is None and (match := _VERSION_LINE.fullmatch(line.strip())):
                version = _version(match.group(1), where)
            continue
        if not line.strip():
            continue
        if version is None:
            raise AliasFileError(f"{where}: the table has no '# version: N' line before its first entry: add one")
        entry = _entry(line, where)
        if (earlier := seen.get(entry.surface)) is not None:
            raise AliasFileError(
                f"{where}: {entry.surface[0]!r}/{entry.surface[1]} is already listed on {earlier.where} "
                f"(texts are compared normalized and case-folded): keep one of the two lines"
            )
        seen[entry.surface] = entry
        entries.append(entry)
    if version is None:
        raise AliasFileError(f"{source}:1: the table has no '# version: N' line: add one (N = 1 for a new table)")
    return AliasFile(version, tuple(entries))


def _version(text: str, where: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise AliasFileError(f"{where}: the version must be a positive whole number, not {text!r}")
    return int(text)


def _entry(line: str, where: str) -> AliasEntry:
    fields = line.split("\t")
    if len(fields) != 4:
        raise AliasFileError(
            f"{where}: {len(fields)} tab-separated field(s), expected 4: surface, label, canonical, canonical label"
        )
    surface, label, canonical, canonical_label = (part.strip() for part in fields)
    for name, value in (("label", label), ("canonical label", canonical_label)):
        if value not in LABELS:
            raise AliasFileError(f"{where}: unknown {name} {value!r}: use one of {', '.join(sorted(LABELS))}")
    if (label == PERSON) != (canonical_label == PERSON):
        raise AliasFileError(
            f"{where}: {label} -> {canonical_label}: an entry cannot turn a PERSON into another label or back "
            f"(the person rules decide that within each article)"
        )
    surface_text, canonical_text = normalize_entity_text(surface), normalize_entity_text(canonical)
    if not surface_text or not canonical_text:
        raise AliasFileError(f"{where}: the surface and the canonical text must not be empty")
    return AliasEntry(
        counting_key(surface_text, label),
        Canonical(counting_key(canonical_text, canonical_label), canonical_text),
        where,
    )


def build_alias_table(files: Sequence[AliasFile], names: Sequence[str]) -> AliasTable:
    """One table from ``files`` in order (a later file's entry replaces an earlier one for the same surface),
    checked as a whole: a canonical entity is never itself a surface of another one, and is spelled one way."""
    chosen: dict[EntityCountingKey, AliasEntry] = {}
    for one in files:
        chosen.update((entry.surface, entry) for entry in one.entries)
    spelled: dict[EntityCountingKey, AliasEntry] = {}
    for entry in chosen.values():
        canonical = entry.canonical
        onward = chosen.get(canonical.key)
        if onward is not None and onward.canonical.key != canonical.key:
            raise AliasFileError(
                f"{entry.where}: the canonical {canonical.text!r}/{canonical.key[1]} is itself mapped to "
                f"{onward.canonical.text!r} on {onward.where}: map to {onward.canonical.text!r} directly"
            )
        first = spelled.setdefault(canonical.key, entry)
        if first.canonical.text != canonical.text:
            raise AliasFileError(
                f"{entry.where}: the canonical is spelled {canonical.text!r} here and "
                f"{first.canonical.text!r} on {first.where}: spell it one way"
            )
    entries = {key: entry.canonical for key, entry in chosen.items()}
    for canonical_key, entry in spelled.items():
        entries.setdefault(canonical_key, entry.canonical)
    lines = sorted(f"{key[0]}\t{key[1]}\t{value.text}\t{value.key[1]}" for key, value in entries.items())
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
    versions = "+".join(f"{name}{one.version}" for name, one in zip(names, files, strict=True))
    return AliasTable(dict(sorted(entries.items())), f"{versions}:{digest}")


def load_alias_table(user_file: Path | None = None) -> AliasTable:
    """The shipped table, with the entries of ``user_file`` (the ``ALIASES_FILE`` setting) added to it; a user
    entry for a surface the shipped table lists replaces the shipped one."""
    shipped = resources.files(__package__).joinpath(DEFAULT_TABLE).read_text(encoding="utf-8")
    files = [parse_alias_file(shipped, DEFAULT_TABLE)]
    if user_file is not None:
        files.append(parse_alias_file(_read_text(user_file), str(user_file)))
    return build_alias_table(files, ["", "user"][: len(files)])


@functools.cache
def shipped_alias_table() -> AliasTable:
    """The shipped table alone (read once per process)."""
    return load_alias_table()


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AliasFileError(
            f"ALIASES_FILE={path}: cannot be read ({error.strerror}): fix the path or unset it"
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise AliasFileError(f"{path}:{line}: not UTF-8 text: save the file as UTF-8") from None


# --- one article's aliased view ------------------------------------------------------------------------


class Rule(StrEnum):
    """Why a raw key is counted under another key."""

    TABLE = "table"
    PERSON_TEXT = "person-text"
    SURNAME = "surname"


@dataclass(frozen=True)
class Resolution:
    """Where one raw key is counted in the aliased view: ``key``, displayed as ``text``; ``rules`` that
    moved it, in the order they applied (empty: it is counted under itself)."""

    key: EntityCountingKey
    text: str
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class AliasedArticle:
    """One article in the aliased view. ``entities`` are its count increments there, each key counting as
    one article with ``mentions`` occurrences (``surfaces``: the spellings of the key's own text, their most
    frequent is its display text); ``sources`` tell, per aliased key, the raw keys merged into it with their
    mentions; ``resolutions`` map each raw key to where it is counted. All three are in code-point order
    of their keys, whatever the order of the raw entities."""

    entities: dict[EntityCountingKey, ArticleEntity]
    sources: dict[EntityCountingKey, dict[EntityCountingKey, int]]
    resolutions: dict[EntityCountingKey, Resolution]


@dataclass
class _Group:
    """Raw keys counted together under one key, while the rules run."""

    mentions: int
    spellings: Counter[str]
    members: dict[EntityCountingKey, list[Rule]] = field(default_factory=dict)


def alias_article(entities: Mapping[EntityCountingKey, ArticleEntity], table: AliasTable) -> AliasedArticle:
    """The aliased view of one article's entities as :func:`consumer.entities.article_entities` gives them.

    The rules run in order (table, person text, surname) and again until a round changes nothing; every
    round merges keys or takes one closer to the table or to PERSON, so this ends after a few rounds. The
    result is a fixed point: aliasing its ``entities`` again gives them back."""
    groups = {key: _Group(entity.mentions, Counter(entity.surfaces), {key: []}) for key, entity in entities.items()}
    while True:
        before = _shape(groups)
        groups = _merge(groups, _table_moves(groups, table), Rule.TABLE, table)
        groups = _merge(groups, _person_text_moves(groups, table), Rule.PERSON_TEXT, table)
        groups = _merge(groups, _surname_moves(groups), Rule.SURNAME, table)
        if _shape(groups) == before:
            break
    aliased = {key: ArticleEntity(key[1], group.mentions, group.spellings) for key, group in sorted(groups.items())}
    sources = {
        key: {raw: entities[raw].mentions for raw in sorted(group.members)} for key, group in sorted(groups.items())
    }
    resolutions = {
        raw: Resolution(key, display_text(group.spellings), tuple(rules))
        for key, group in groups.items()
        for raw, rules in group.members.items()
    }
    return AliasedArticle(aliased, sources, dict(sorted(resolutions.items())))


def display_text(spellings: Counter[str]) -> str:
    """The most frequent spelling (ties: the first in code-point order), as the consumer displays a key."""
    return min(spellings.items(), key=lambda item: (-item[1], item[0]))[0]


def _shape(groups: Mapping[EntityCountingKey, _Group]) -> list[tuple[EntityCountingKey, int, Counter[str]]]:
    return sorted((key, group.mentions, group.spellings) for key, group in groups.items())


def _table_moves(
    groups: Mapping[EntityCountingKey, _Group], table: AliasTable
) -> dict[EntityCountingKey, EntityCountingKey]:
    return {key: canonical.key for key in groups if (canonical := table.lookup(key)) is not None}


def _person_text_moves(
    groups: Mapping[EntityCountingKey, _Group], table: AliasTable
) -> dict[EntityCountingKey, EntityCountingKey]:
    endings = {
        " ".join(words[start:])
        for text, label in groups
        if label == PERSON
        for words in [text.split(" ")]
        if len(words) > 1
        for start in range(len(words))
    }
    return {
        key: (key[0], PERSON) for key in groups if key[1] != PERSON and key[0] in endings and table.lookup(key) is None
    }


def name_words(text: str) -> tuple[str, ...]:
    """The words a person's (case-folded) name is matched by: without a leading honorific ("mrs may") and
    without middle initials ("donald j. trump", "george h.w. bush")."""
    words = text.split(" ")
    if len(words) > 1 and words[0] in HONORIFICS:
        words = words[1:]
    if len(words) > 2:
        words = [words[0], *(word for word in words[1:-1] if not _INITIALS.fullmatch(word)), words[-1]]
    return tuple(words)


def _surname_moves(groups: Mapping[EntityCountingKey, _Group]) -> dict[EntityCountingKey, EntityCountingKey]:
    """Each PERSON counted under the one name it is a shorter form of, when there is exactly one."""
    words = {text: name_words(text) for text, label in groups if label == PERSON}
    plain = {text for text, matched in words.items() if " ".join(matched) == text}
    variants = Counter(matched for text, matched in words.items() if text not in plain)

    def shorter_form(short: str, name: str) -> bool:
        """``short`` names the same person as ``name`` with fewer words, or is its only variant with an
        honorific or initials ("Mrs May" of "May", "Donald J. Trump" of "Donald Trump")."""
        short_words, name_words_ = words[short], words[name]
        if len(name_words_) > len(short_words):
            return name_words_[-len(short_words) :] == short_words
        return short_words == name_words_ and name in plain and short not in plain and variants[short_words] == 1

    longer = {short: [name for name in words if shorter_form(short, name)] for short in words}
    moves: dict[EntityCountingKey, EntityCountingKey] = {}
    for short, names in longer.items():
        fullest = [name for name in names if not longer[name]]
        if len(fullest) == 1:
            moves[short, PERSON] = (fullest[0], PERSON)
    return moves


def _merge(
    groups: Mapping[EntityCountingKey, _Group],
    moves: Mapping[EntityCountingKey, EntityCountingKey],
    rule: Rule,
    table: AliasTable,
) -> dict[EntityCountingKey, _Group]:
    """Each group moved to its key in ``moves`` (merged with what is there); the spellings a key keeps are
    those of its own text, or the table's spelling for a canonical key."""
    merged: dict[EntityCountingKey, _Group] = {}
    for key, group in groups.items():
        target = moves.get(key, key)
        into = merged.setdefault(target, _Group(0, Counter()))
        into.mentions += group.mentions
        if target[0] == key[0]:
            into.spellings.update(group.spellings)
        for raw, rules in group.members.items():
            into.members[raw] = [*rules, rule] if target != key else rules
    for key, group in merged.items():
        canonical = table.lookup(key)
        if canonical is not None and canonical.key == key:
            group.spellings = Counter({canonical.text: group.mentions})
    return dict(sorted(merged.items()))


# --- what the aliased view changes --------------------------------------------------------------------


@dataclass
class ViewChange:
    """How one key of one article differs between the views: the aliased view's mentions and articles minus
    the raw view's, its spellings in the aliased view when they display it otherwise than the raw ones do (a
    table's spelling, a key the raw view does not have; else none: its raw spelling stands) and the raw keys
    of other texts or labels counted under it, by (label, spelling)."""

    label: str
    mentions: int
    articles: int
    surfaces: Counter[str]
    sources: Counter[SourceForm]


def view_changes(
    raw: Mapping[EntityCountingKey, ArticleEntity], aliased: AliasedArticle
) -> dict[EntityCountingKey, ViewChange]:
    """The keys of one article whose aliased counts, merged raw keys or displayed spelling differ from the raw
    ones (every other key is counted and shown the same in both views): the raw counts plus these are the
    aliased ones."""
    changes: dict[EntityCountingKey, ViewChange] = {}
    for key in sorted(raw.keys() | aliased.entities.keys()):
        before, after = raw.get(key), aliased.entities.get(key)
        sources: Counter[SourceForm] = Counter()
        for source in aliased.sources.get(key, {}):
            if source != key:
                sources.update({(source[1], spelling): count for spelling, count in raw[source].surfaces.items()})
        mentions = (after.mentions if after else 0) - (before.mentions if before else 0)
        articles = (after is not None) - (before is not None)
        respelled = after is not None and (
            before is None or display_text(after.surfaces) != display_text(before.surfaces)
        )
        if mentions or articles or sources or respelled:
            surfaces = Counter(after.surfaces) if after is not None and respelled else Counter()
            changes[key] = ViewChange(key[1], mentions, articles, surfaces, sources)
    return changes
