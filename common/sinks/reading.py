"""How both sinks answer reads: the covers, merges, rankings and series are computed here, from a few
primitive reads each sink implements on one consistent snapshot of its store (:class:`Snapshot`).

So the SQLite and Firestore sinks give the same answer for the same flushes by construction; what differs
is only how each fetches the buckets of a cover. A snapshot of the aliased view adds the aliased changes to
the raw rows as it reads them (:class:`Row`), so every answer is made the same way in both views.
"""

import base64
import binascii
import heapq
import json
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from common.article import EARLIEST_PUBLISHED_AT, LATEST_PUBLISHED_AT
from common.keys import entity_key, publication_key, publication_name
from common.sinks.base import (
    ALL_VIEWS,
    CountReader,
    EntityCount,
    EntityInPublication,
    EntityMatch,
    EntityPublications,
    EntitySeries,
    InvalidRead,
    MergedForm,
    NamespaceRecord,
    PublicationEntities,
    PublicationPage,
    PublicationSummary,
    SeriesPoint,
    SourceForm,
    View,
    WindowSummary,
    rank_key,
    view_unavailable,
)
from common.sinks.buckets import (
    ALL_TIME,
    DAY_SECONDS,
    HOUR_SECONDS,
    Bucket,
    Level,
    SignedCover,
    Step,
    bucket_at,
    cheapest_cover,
    count_points,
    cover,
    epoch_ceiling,
    epoch_of,
    moment_of,
    plain_cover,
    step_points,
    widen,
)

MAX_SERIES_POINTS = 10_000
"""Most points one series answers (an hourly series of a year is 8,784)."""

MARGINS_LIMIT = 100
"""Most entities of an answer read by subtracting margins: each shown entity whose spelling a margin hides
costs a read of its own spelling; every entity (``limit=0``) reads the plain cover."""


RAW_SPELLING, ALIASED_SPELLING, NO_SPELLING = 0, 1, -1
"""Which spelling an aliased row shows: one the aliasing gave it (its table spelling, the longer name ...) over
its raw spelling; an aliased change with no spelling never shows its (empty) text."""


@dataclass
class Row:
    """An entity's counts merged over buckets (or documents); ``(spelled, seen, text)`` keeps the spelling to
    show (raw rows: the latest; aliased rows: the latest the aliasing gave, else the latest raw one). In the
    aliased view, raw rows and aliased changes add up to the aliased counts, and ``sources`` collects the raw
    rows of other keys counted in it, (label, spelling) -> mentions."""

    label: str
    text: str
    seen: int
    mentions: int = 0
    articles: int = 0
    spelled: int = RAW_SPELLING
    sources: dict[SourceForm, int] | None = None

    def add(self, other: "Row") -> None:
        self.mentions += other.mentions
        self.articles += other.articles
        if (other.spelled, other.seen, other.text) > (self.spelled, self.seen, self.text):
            self.spelled, self.seen, self.text = other.spelled, other.seen, other.text
        if other.sources:
            sources = self.sources if self.sources is not None else {}
            for source, mentions in other.sources.items():
                sources[source] = sources.get(source, 0) + mentions
            self.sources = sources

    def copy(self) -> "Row":
        sources = None if self.sources is None else dict(self.sources)
        return Row(self.label, self.text, self.seen, self.mentions, self.articles, self.spelled, sources)


def add_source(row: Row, source: SourceForm, mentions: int) -> None:
    """Count ``mentions`` of another key's raw row (``source``: its label and spelling) in an aliased row."""
    if row.sources is None:
        row.sources = {}
    row.sources[source] = row.sources.get(source, 0) + mentions


def change_row(label: str, text: str, seen: int | None, mentions: int, articles: int) -> Row:
    """An aliased change as a row to add to the raw one (``seen`` None: it has no spelling)."""
    if seen is None:
        return Row(label, "", 0, mentions, articles, NO_SPELLING)
    return Row(label, text, seen, mentions, articles, ALIASED_SPELLING)


@dataclass
class BucketRows:
    """A publication's counts in one bucket: articles (of them ``undated_articles`` without ``published_at``)
    and entities by entity key."""

    articles: int = 0
    entities: dict[str, Row] = field(default_factory=dict)
    undated_articles: int = 0

    def add(self, entity: str, row: Row) -> None:
        known = self.entities.get(entity)
        if known is None:
            self.entities[entity] = row
        else:
            known.add(row)

    def add_source(self, entity: str, source: SourceForm, mentions: int) -> None:
        """Count another key's raw row in the aliased row of ``entity`` (read with its change before)."""
        add_source(self.entities[entity], source, mentions)


@dataclass
class IndexRows:
    """The entity index in one bucket, for one entity: per publication key its [mentions, articles], and the
    articles of every publication in the bucket."""

    articles: dict[str, int] = field(default_factory=dict)
    entity: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Header:
    """What a store keeps of a publication beside its counts."""

    pub_key: str
    name: str
    articles: int
    first: int
    """Start of its first window (epoch seconds)."""
    last: int
    """Start of its last window."""
    updated_at: datetime | None
    undated_articles: int = 0
    """Of ``articles``, those without ``published_at``."""


@dataclass(frozen=True)
class Known:
    """One entity of the dictionary (every publication, all time)."""

    entity: str
    row: Row


class Snapshot(ABC):
    """Primitive reads, all from one consistent state of the store, of one view (:attr:`view`): in the aliased
    view, the entity rows read are the raw ones with the aliased changes added (:class:`Row`)."""

    def __init__(self, view: View) -> None:
        self.view = view

    @abstractmethod
    def namespace(self) -> NamespaceRecord | None:
        """The namespace's record; None when it was never claimed."""

    @abstractmethod
    def header(self, pub_key: str) -> Header | None: ...

    @abstractmethod
    def page(self, limit: int, after: tuple[int, str] | None) -> list[Header]:
        """Up to ``limit`` publications (0: all) most articles first, then name, after ``(articles, name)``."""

    @abstractmethod
    def rollups(
        self, pub_key: str, buckets: Sequence[Bucket], entity: tuple[str, str] | None = None
    ) -> dict[Bucket, BucketRows]:
        """The publication's counts in ``buckets`` (only ``entity`` = (entity key, label) when given)."""

    def sums(self, pub_key: str, groups: Sequence[Sequence[Bucket]]) -> list[tuple[int, int, dict[str, Row]]]:
        """Articles, undated articles and entity counts of the publication summed over each group of buckets,
        in one read (a bucket may be in several groups; a store may sum as it reads, without a row per bucket)."""
        found = self.rollups(pub_key, tuple(dict.fromkeys(bucket for group in groups for bucket in group)))
        return [merged(found[bucket] for bucket in group) for group in groups]

    def ranked(
        self, pub_key: str, signed: SignedCover, label: str | None, limit: int
    ) -> tuple[int, int, list[EntityCount]]:
        """Articles, undated articles and the first ``limit`` entities (0: all; only ``label`` when given) of
        the publication over the range ``signed`` covers, in :func:`top` order (a store may rank as it reads).

        With margins to subtract (raw view only): the buckets and the margins in one read, the margins'
        counts taken off; an entity whose latest spelling in the buckets is in a margin after the range has
        it replaced, if the answer shows it, by its latest spelling in the range's tiles: subtraction gives
        counts, not which spelling was seen last before the range's end. Those spellings come from the
        range's last days and windows, read with the margins (the same month as the margin after it), and
        for an entity not seen there from :meth:`latest_spellings`."""
        if not signed.less:
            ((articles, undated, rows),) = self.sums(pub_key, (signed.buckets,))
            return articles, undated, top(rows, label, limit, self.view)
        end = signed.tiles[-1].end
        last_month = bucket_at(Level.MONTH, end - 1, 1).start
        after = any(bucket.start >= end for bucket in signed.less)  # a margin that may hide spellings
        tail = tuple(b for b in signed.tiles if after and b.start >= last_month and b.level <= Level.DAY)
        (articles, undated, rows), margins, (_, _, in_tail) = self.sums(pub_key, (signed.buckets, signed.less, tail))
        articles -= margins[0]
        undated -= margins[1]
        for entity, margin in margins[2].items():
            rows[entity].mentions -= margin.mentions
            rows[entity].articles -= margin.articles
        shown = {entity: row for entity, row in rows.items() if row.mentions and (label is None or row.label == label)}
        hidden = {entity: row.label for entity, row in _answer_of(shown, limit).items() if row.seen >= end}
        latest = {entity: (row.seen, row.text) for entity, row in in_tail.items()}
        spellings = {entity: latest[entity] for entity in hidden if entity in latest}
        unseen = {entity: label for entity, label in hidden.items() if entity not in latest}
        spellings.update(self.latest_spellings(pub_key, signed.tiles, unseen) if unseen else {})
        for entity, (seen, text) in spellings.items():
            shown[entity].seen, shown[entity].text = seen, text
        return articles, undated, top(shown, label, limit, self.view)

    def latest_spellings(
        self, pub_key: str, buckets: Sequence[Bucket], entities: dict[str, str]
    ) -> dict[str, tuple[int, str]]:
        """(window, text) of the latest spelling (then the larger text) of each of ``entities`` (entity key ->
        label) in the publication's ``buckets`` (disjoint); a store may read the latest buckets first and stop
        once it has them all."""
        found: dict[str, tuple[int, str]] = {}
        for entity, label in entities.items():
            for counts in self.rollups(pub_key, buckets, (entity, label)).values():
                row = counts.entities.get(entity)
                if row is not None and (row.seen, row.text) > found.get(entity, (-1, "")):
                    found[entity] = (row.seen, row.text)
        return found

    @abstractmethod
    def windows(self, pub_key: str, low: int, high: int) -> dict[Bucket, BucketRows]:
        """The publication's windows that start before ``high`` and end after ``low``."""

    @abstractmethod
    def index_years(self) -> list[int]:
        """Starts of the years that hold any article of any publication."""

    @abstractmethod
    def index(self, entity: str, label: str, buckets: Sequence[Bucket]) -> dict[Bucket, IndexRows]:
        """The entity index's counts of the entity in ``buckets`` (days, months, years)."""

    @abstractmethod
    def dictionary(self, folded_prefix: str, label: str | None) -> Iterable[Known]:
        """Entities that may match (a superset is fine: the answer checks each one)."""


def fold(text: str) -> str:
    """Case- and accent-insensitive form for search: ``"Zürich"`` and ``"ZURICH"`` are both ``"zurich"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def lookup_key(text: str, label: str) -> tuple[str, str]:
    """(entity key, label) of an entity named as the answers show it (its text is already normalized, so
    case-folding it gives its counting key)."""
    return entity_key(" ".join(unicodedata.normalize("NFKC", text).split()).casefold(), label), label


def encode_cursor(articles: int, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([articles, name]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        articles, name = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(articles, int) and isinstance(name, str):
            return articles, name
    except (ValueError, TypeError, binascii.Error):
        pass
    raise InvalidRead("cursor", "not a cursor this service issued: send the Next-Cursor of the previous page")


def counted(row: Row) -> bool:
    """False for an aliased row whose raw rows were all counted under other keys (nothing is left in it)."""
    return bool(row.mentions or row.articles)


def merged_forms(row: Row) -> list[MergedForm]:
    """The raw rows counted in an aliased row, most mentions first: its own (what the other keys' do not
    explain), and the other keys' by counting key, each shown in its most mentioned spelling. Empty when it
    holds no other key's row."""
    if not row.sources:
        return []
    others: dict[tuple[str, str], dict[str, int]] = {}
    for (label, spelling), mentions in row.sources.items():
        spellings = others.setdefault((spelling.casefold(), label), {})
        spellings[spelling] = spellings.get(spelling, 0) + mentions
    forms = [
        MergedForm.model_construct(
            text=min(spellings, key=lambda text: (-spellings[text], text)),
            label=label,
            mentions=sum(spellings.values()),
        )
        for (_, label), spellings in others.items()
    ]
    own = row.mentions - sum(form.mentions for form in forms)
    if own > 0:
        forms.append(MergedForm.model_construct(text=row.text, label=row.label, mentions=own))
    forms.sort(key=lambda form: rank_key(form.mentions, form.text, form.label))
    return forms


def top(rows: dict[str, Row], label: str | None, limit: int, view: View = View.RAW) -> list[EntityCount]:
    """Entities in :func:`common.sinks.base.rank_key` order (only ``label`` when given); ``limit=0``: all. In
    the aliased view, with what each merged, and without the rows that hold nothing."""
    kept = {entity: row for entity, row in rows.items() if (label is None or row.label == label) and counted(row)}
    chosen = sorted(_answer_of(kept, limit).values(), key=lambda row: rank_key(row.mentions, row.text, row.label))
    chosen = chosen if limit == 0 else chosen[:limit]
    if view is View.RAW:
        return [
            EntityCount.model_construct(text=row.text, label=row.label, mentions=row.mentions, articles=row.articles)
            for row in chosen
        ]
    return [
        EntityCount.model_construct(
            text=row.text, label=row.label, mentions=row.mentions, articles=row.articles, merged=merged_forms(row)
        )
        for row in chosen
    ]


def _answer_of(rows: dict[str, Row], limit: int) -> dict[str, Row]:
    """The rows an answer of ``limit`` entities may show, whatever their spellings: those with more mentions
    than the ``limit``-th and all tied with it (their texts order them)."""
    if not limit or len(rows) <= limit:
        return rows
    least = heapq.nlargest(limit, (row.mentions for row in rows.values()))[-1]
    return {entity: row for entity, row in rows.items() if row.mentions >= least}


def merged(buckets: Iterable[BucketRows]) -> tuple[int, int, dict[str, Row]]:
    """Articles, undated articles and entity counts summed over ``buckets`` (rows are copied, the inputs stay
    as they are)."""
    articles, undated, rows = 0, 0, dict[str, Row]()
    for counts in buckets:
        articles += counts.articles
        undated += counts.undated_articles
        for entity, row in counts.entities.items():
            known = rows.get(entity)
            if known is None:
                rows[entity] = row.copy()
            else:
                known.add(row)
    return articles, undated, rows


class RollupReader(CountReader):
    """A :class:`CountReader` answering from :class:`Snapshot` reads; sinks provide :meth:`_snapshot` and
    :meth:`ping`/:meth:`close`."""

    subtracts_margins = False
    """Whether top entities may read a range as larger buckets less their margins (:func:`cheapest_cover`):
    worth it where a read costs every entity it decodes (Firestore), not where the store sums and ranks in
    SQL (SQLite; its tests turn it on to check the subtraction)."""

    def __init__(self, window_seconds: int) -> None:
        self.window_seconds = window_seconds
        self._holds_every_view = False
        """Set once the namespace's record says it holds every view (a record never loses one)."""

    @abstractmethod
    def _snapshot(self, what: str, view: View = View.RAW) -> AbstractContextManager[Snapshot]:
        """A consistent snapshot of ``view`` for one answer; errors become sink errors saying they could not
        ``what``."""

    @contextmanager
    def _reading(self, what: str, view: View) -> Iterator[Snapshot]:
        """A snapshot of ``view``, after checking that the namespace holds it (raises :class:`ViewUnavailable`)."""
        with self._snapshot(what, view) as snapshot:
            if view is not View.RAW and not self._holds_every_view:
                record = snapshot.namespace()
                if record is not None and view not in record.views:
                    raise view_unavailable(record, view)
                self._holds_every_view = record is not None and record.views >= ALL_VIEWS
            yield snapshot

    def namespace(self) -> NamespaceRecord | None:
        with self._snapshot("read the counts namespace") as snapshot:
            return snapshot.namespace()

    # --- the answers ---

    def publications(self, *, limit: int = 0, cursor: str | None = None, view: View = View.RAW) -> PublicationPage:
        after = None if cursor is None else decode_cursor(cursor)
        with self._reading("list publications", view) as snapshot:
            headers = snapshot.page(limit + 1 if limit else 0, after)
        more = bool(limit) and len(headers) > limit
        shown = headers[:limit] if limit else headers
        return PublicationPage(
            publications=[self._summary(header) for header in shown],
            next_cursor=encode_cursor(shown[-1].articles, shown[-1].name) if more else None,
        )

    def _summary(self, header: Header) -> PublicationSummary:
        return PublicationSummary(
            publication=header.name,
            articles=header.articles,
            undated_articles=header.undated_articles,
            updated_at=header.updated_at,
            start=moment_of(header.first),
            end=moment_of(header.last + self.window_seconds),
        )

    def entities(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        label: str | None = None,
        limit: int = 20,
        view: View = View.RAW,
    ) -> PublicationEntities | None:
        low, high = self._widened(start, end, self.window_seconds)
        with self._reading("read entities", view) as snapshot:
            header = snapshot.header(publication_key(publication))
            if header is None:
                return None
            signed = self._ranked_cover(header, low, high, view, limit)
            articles, undated, ranked = snapshot.ranked(header.pub_key, signed, label, limit)
        return PublicationEntities(
            publication=header.name,
            articles=articles,
            undated_articles=undated,
            start=None if low is None else moment_of(low),
            end=None if high is None else moment_of(high),
            entities=ranked,
        )

    def windows(
        self,
        publication: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
        view: View = View.RAW,
    ) -> list[WindowSummary] | None:
        with self._reading("read windows", view) as snapshot:
            header = snapshot.header(publication_key(publication))
            if header is None:
                return None
            low = header.first if start is None else max(header.first, epoch_of(start))
            high = header.last + self.window_seconds if end is None else epoch_ceiling(end)
            found = snapshot.windows(header.pub_key, low, high) if low < high else {}
        return [
            WindowSummary(
                start=moment_of(bucket.start),
                end=moment_of(bucket.end),
                articles=counts.articles,
                entities=top(counts.entities, None, limit, view),
            )
            for bucket, counts in sorted(found.items())
        ]

    def series(
        self,
        publication: str,
        text: str,
        label: str,
        *,
        step: Step,
        start: datetime | None = None,
        end: datetime | None = None,
        view: View = View.RAW,
    ) -> EntitySeries | None:
        if step is Step.HOUR and HOUR_SECONDS % self.window_seconds:
            raise InvalidRead(
                "step", f"an hourly series needs windows that divide an hour (WINDOW is {self.window_seconds}s)"
            )
        entity = lookup_key(text, label)
        with self._reading("read a series", view) as snapshot:
            header = snapshot.header(publication_key(publication))
            if header is None:
                return None
            high = header.last + self.window_seconds if end is None else _storable(epoch_ceiling(end))
            low = min(header.first, high - 1) if start is None else _storable(epoch_of(start))
            high = max(high, low + 1)  # an open end before the first window: still the point of ``start``
            if count_points(low, high, step) > MAX_SERIES_POINTS:
                raise InvalidRead(
                    "step", f"more than {MAX_SERIES_POINTS:,} points: ask for a longer step or a shorter range"
                )
            points = step_points(low, high, step)
            covers = [self._cover(header, point_start, point_end) for point_start, point_end in points]
            found = snapshot.rollups(header.pub_key, sorted({b for buckets in covers for b in buckets}), entity)
        answer = []
        whole: Row | None = None
        for (point_start, point_end), buckets in zip(points, covers, strict=True):
            articles, undated, rows = merged(found.get(bucket, BucketRows()) for bucket in buckets)
            row = rows.get(entity[0])
            if row is not None and whole is None:
                whole = row.copy()
            elif row is not None and whole is not None:
                whole.add(row)
            answer.append(
                SeriesPoint(
                    start=moment_of(point_start),
                    end=moment_of(point_end),
                    articles=articles,
                    undated_articles=undated,
                    mentions=0 if row is None else row.mentions,
                    entity_articles=0 if row is None else row.articles,
                )
            )
        return EntitySeries(
            publication=header.name,
            text=" ".join(text.split()),
            label=label,
            step=step,
            start=moment_of(points[0][0]),
            end=moment_of(points[-1][1]),
            points=answer,
            merged=None if view is View.RAW else [] if whole is None else merged_forms(whole),
        )

    def entity_publications(
        self,
        text: str,
        label: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 20,
        view: View = View.RAW,
    ) -> EntityPublications:
        entity, _ = lookup_key(text, label)
        low, high = self._widened(start, end, DAY_SECONDS)
        totals: dict[str, list[int]] = {}
        with self._reading("read an entity's publications", view) as snapshot:
            first, last = low, high
            if first is None or last is None:
                years = snapshot.index_years()
                first = (min(years) if years else 0) if first is None else first
                last = (bucket_at(Level.YEAR, max(years), DAY_SECONDS).end if years else 0) if last is None else last
            buckets = cover(first, last, DAY_SECONDS, finest=Level.DAY).buckets if first < last else ()
            for counts in snapshot.index(entity, label, buckets).values():
                for pub_key, (mentions, articles) in counts.entity.items():
                    total = totals.setdefault(pub_key, [0, 0, 0])
                    total[0] += mentions
                    total[1] += articles
                for pub_key, articles in counts.articles.items():
                    totals.setdefault(pub_key, [0, 0, 0])[2] += articles
        found = [
            EntityInPublication(
                publication=publication_name(pub_key),
                mentions=mentions,
                articles=articles,
                publication_articles=publication_articles,
            )
            for pub_key, (mentions, articles, publication_articles) in totals.items()
            if articles
        ]
        found.sort(key=lambda row: (-row.mentions, row.publication))
        return EntityPublications(
            text=" ".join(text.split()),
            label=label,
            start=None if low is None else moment_of(low),
            end=None if high is None else moment_of(high),
            publications=found if limit == 0 else found[:limit],
        )

    def search(
        self, prefix: str, *, label: str | None = None, limit: int = 10, view: View = View.RAW
    ) -> list[EntityMatch]:
        wanted = fold(" ".join(prefix.split()))
        with self._reading("search entities", view) as snapshot:
            candidates = list(snapshot.dictionary(wanted, label))
        rows = [
            known.row
            for known in candidates
            if fold(known.row.text).startswith(wanted)
            and (label is None or known.row.label == label)
            and counted(known.row)
        ]
        rows.sort(key=lambda row: rank_key(row.mentions, row.text, row.label))
        return [
            EntityMatch(
                text=row.text,
                label=row.label,
                mentions=row.mentions,
                articles=row.articles,
                merged=None if view is View.RAW else merged_forms(row),
            )
            for row in rows[:limit]
        ]

    # --- covers ---

    @staticmethod
    def _widened(start: datetime | None, end: datetime | None, unit: int) -> tuple[int | None, int | None]:
        """The requested bounds widened to whole ``unit`` seconds, within the years counts can be in; None stays
        unbounded."""
        low = None if start is None else widen(_storable(epoch_of(start)), 0, unit)[0]
        high = None if end is None else widen(0, _storable(epoch_ceiling(end)), unit)[1]
        return low, high

    def _ranked_cover(self, header: Header, low: int | None, high: int | None, view: View, limit: int) -> SignedCover:
        """How to read the range of a top-entities answer: its plain cover, or (where :attr:`subtracts_margins`,
        raw view, at most :data:`MARGINS_LIMIT` entities) the :func:`cheapest_cover` of it."""
        buckets = self._cover(header, low, high)
        if not (self.subtracts_margins and view is View.RAW and 0 < limit <= MARGINS_LIMIT) or len(buckets) < 2:
            return plain_cover(buckets)
        stop = header.last + self.window_seconds
        return cheapest_cover(buckets[0].start, buckets[-1].end, header.first, stop, self.window_seconds)

    def _cover(self, header: Header, low: int | None, high: int | None) -> tuple[Bucket, ...]:
        """The buckets of ``[low, high)`` (None: unbounded) that can hold counts of this publication: all
        time when the range holds every window it has, else the cover of the overlap with its windows."""
        first, stop = header.first, header.last + self.window_seconds
        begin = first if low is None else max(low, first)
        finish = stop if high is None else min(high, stop)
        if begin <= first and finish >= stop:
            return (ALL_TIME,)
        if begin >= finish:
            return ()
        return cover(begin, finish, self.window_seconds).buckets


_EARLIEST, _LATEST = epoch_of(EARLIEST_PUBLISHED_AT), epoch_of(LATEST_PUBLISHED_AT)


def _storable(seconds: int) -> int:
    """``seconds`` within the years an article's window can be in (no counts exist outside them)."""
    return min(max(seconds, _EARLIEST), _LATEST)


def chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``values`` in slices of at most ``size`` (Firestore's ``in`` takes 30)."""
    for first in range(0, len(values), size):
        yield values[first : first + size]
