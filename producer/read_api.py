"""The read endpoints: publications, their top entities, windows and series, and entities across publications,
as the consumer group counted them (one counts namespace, COUNTS_NAMESPACE), in either view (``view=raw``,
the default, or ``aliased``).

The publication in the path is the name as sent, URL-encoded (``/publications/CNN%20(Web%20News)/entities``);
names may contain ``/`` (sent as ``%2F`` or as is), which the ``path`` converter keeps. Answers are
serialized straight from the sink's models, so ``limit=0`` stays fast for tens of thousands of entities.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import AfterValidator, BeforeValidator, TypeAdapter

from common.article import MAX_PUBLICATION_CHARS, normalize_publication, publication_problem
from common.moments import as_utc, date_means_midnight
from common.sinks.base import (
    CountReader,
    EntityMatch,
    EntityPublications,
    EntitySeries,
    InvalidRead,
    PublicationEntities,
    PublicationSummary,
    View,
    WindowSummary,
)
from common.sinks.buckets import Step
from producer.auth import require_read_key
from producer.errors import ErrorBody, FieldProblem, InvalidInput, ValidationErrorBody
from producer.reads import Reads
from producer.settings import ProducerSettings

Timestamp = Annotated[datetime, BeforeValidator(date_means_midnight), AfterValidator(as_utc)]
"""ISO 8601 date or date-time in a query; no zone means UTC (as in the article model)."""

PublicationName = Annotated[
    str,
    Path(
        description="The publication name as sent, URL-encoded (e.g. `CNN%20(Web%20News)`); normalized as in the "
        "articles. A name that is `.` or `..` is sent with a leading space (`%20..`): clients drop dot segments.",
        examples=["Reuters"],
    ),
]
Start = Annotated[
    Timestamp | None,
    Query(description="Start of the range (ISO 8601; no zone means UTC); the answer says the range it covers."),
]
End = Annotated[
    Timestamp | None,
    Query(description="End of the range, exclusive (ISO 8601; no zone means UTC)."),
]
MAX_TEXT_CHARS = 500
"""Longest entity text a query may name."""
MAX_LABEL_CHARS = 64
"""spaCy labels are short words; a longer one cannot match and is refused before it reaches the store."""
EntityText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The entity as the answers show it (case does not matter).",
        examples=["Donald Trump"],
    ),
]
EntityLabel = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_LABEL_CHARS,
        description="Its spaCy label (case does not matter).",
        examples=["PERSON"],
    ),
]
LabelFilter = Annotated[
    str | None,
    Query(max_length=MAX_LABEL_CHARS, description="Only this spaCy label (PERSON, ORG, GPE, ...); empty means all."),
]
ViewName = Annotated[
    View,
    Query(
        description="`raw` (the default): each entity as spelled and labelled, the exact reference. `aliased`: the "
        "spellings of one entity in an article counted as one row (`Trump` under `Donald Trump`, `U.S.` under "
        "`United States`; docs/aliases.md), each row listing the raw rows it `merged`."
    ),
]

READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "READ_REQUIRES_KEY is set and X-API-Key is missing or wrong."},
    404: {"model": ErrorBody, "description": "No counts for this publication (see GET /publications)."},
    409: {
        "model": ErrorBody,
        "description": "`view=aliased` in a counts namespace counted before that view existed: recount it "
        "(`python -m consumer.recount`), or ask for `view=raw`.",
    },
    422: {"model": ValidationErrorBody, "description": "A bad parameter: names it and its problem."},
    503: {"model": ErrorBody, "description": "The counts store cannot be read right now; retry later."},
}
ANY_PUBLICATION: dict[int | str, dict[str, Any]] = {key: READ_RESPONSES[key] for key in (401, 409, 422, 503)}

T = TypeVar("T")

MAX_LIMIT = 1_000_000
"""A larger limit means the same as 0 (every entity); bounded so no store sees an absurd number."""
MAX_PAGE = 1_000
"""Most publications on one page."""

PUBLICATIONS = TypeAdapter(list[PublicationSummary])
WINDOWS = TypeAdapter(list[WindowSummary])
MATCHES = TypeAdapter(list[EntityMatch])

router = APIRouter(tags=["counts"], dependencies=[Depends(require_read_key)])


@router.get(
    "/publications",
    response_model=list[PublicationSummary],
    summary="Publications with counts, most articles first, a page at a time",
    responses={
        200: {
            "headers": {
                "Next-Cursor": {
                    "description": "Present when more publications follow: send it as `cursor` for the next page.",
                    "schema": {"type": "string"},
                }
            }
        },
        **ANY_PUBLICATION,
    },
)
async def list_publications(
    request: Request,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE, description="Publications per page; 0 returns all.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=2_000, description="The `Next-Cursor` of the previous page.")
    ] = None,
    view: ViewName = View.RAW,
) -> Response:
    """Most articles first, then name. The next page's cursor comes in the `Next-Cursor` header (and a `Link`
    header with `rel="next"`); the last page has neither."""
    page = await read(request, lambda reader: reader.publications(limit=limit, cursor=cursor, view=view))
    answer = json(PUBLICATIONS.dump_json(page.publications))
    if page.next_cursor is not None:
        answer.headers["Next-Cursor"] = page.next_cursor
        answer.headers["Link"] = f'</publications?limit={limit}&cursor={page.next_cursor}>; rel="next"'
    return answer


@router.get(
    "/publications/{publication:path}/entities",
    response_model=PublicationEntities,
    summary="A publication's entities, most mentioned first",
    responses=READ_RESPONSES,
)
async def publication_entities(
    request: Request,
    publication: PublicationName,
    limit: Annotated[
        int, Query(ge=0, le=MAX_LIMIT, description="Most entities returned; 0 returns every entity.")
    ] = 20,
    label: LabelFilter = None,
    start: Start = None,
    end: End = None,
    view: ViewName = View.RAW,
) -> Response:
    """All time without `start`/`end`; with them, the windows overlapping `[start, end)`, merged. `start` and
    `end` of the answer are the range covered: the request widened to whole windows."""
    name = publication_name(publication)
    check_range(start, end)
    wanted_label = label_filter(label)
    counts = await read(
        request,
        lambda reader: reader.entities(name, start=start, end=end, label=wanted_label, limit=limit, view=view),
    )
    if counts is None:
        raise unknown_publication(name)
    return json(counts.model_dump_json().encode())


@router.get(
    "/publications/{publication:path}/windows",
    response_model=list[WindowSummary],
    summary="A publication's windows in time order, each with its top entities",
    responses=READ_RESPONSES,
)
async def publication_windows(
    request: Request,
    publication: PublicationName,
    start: Start = None,
    end: End = None,
    limit: Annotated[
        int, Query(ge=0, le=MAX_LIMIT, description="Top entities per window; 0 returns every entity.")
    ] = 10,
    view: ViewName = View.RAW,
) -> Response:
    """Per window overlapping `[start, end)`: its start, end, articles and top `limit` entities."""
    name = publication_name(publication)
    check_range(start, end)
    windows = await read(request, lambda reader: reader.windows(name, start=start, end=end, limit=limit, view=view))
    if windows is None:
        raise unknown_publication(name)
    return json(WINDOWS.dump_json(windows))


@router.get(
    "/publications/{publication:path}/series",
    response_model=EntitySeries,
    summary="One entity's counts in a publication, one point per step",
    responses=READ_RESPONSES,
)
async def publication_series(
    request: Request,
    publication: PublicationName,
    text: EntityText,
    label: EntityLabel,
    step: Annotated[Step, Query(description="Length of a point; weeks start on Monday, UTC.")] = Step.DAY,
    start: Start = None,
    end: End = None,
    view: ViewName = View.RAW,
) -> Response:
    """Points over `[start, end)` widened to whole steps (without `start`/`end`: from the publication's first
    window to its last), zeros included; each point has the publication's articles too, for shares. The
    points add up to what `/entities` answers for the same range."""
    name = publication_name(publication)
    check_range(start, end)
    series = await read(
        request,
        lambda reader: reader.series(name, text, label.strip().upper(), step=step, start=start, end=end, view=view),
    )
    if series is None:
        raise unknown_publication(name)
    return json(series.model_dump_json().encode())


@router.get(
    "/entities",
    response_model=EntityPublications,
    summary="The publications that mention an entity, most mentions first",
    responses=ANY_PUBLICATION,
)
async def entity_publications(
    request: Request,
    text: EntityText,
    label: EntityLabel,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT, description="Most publications; 0 returns all.")] = 20,
    view: ViewName = View.RAW,
) -> Response:
    """Over `[start, end)` widened to whole UTC days (all time without them): per publication the entity's
    mentions, the articles mentioning it, and all the publication's articles in that range."""
    check_range(start, end)
    found = await read(
        request,
        lambda reader: reader.entity_publications(
            text, label.strip().upper(), start=start, end=end, limit=limit, view=view
        ),
    )
    return json(found.model_dump_json().encode())


@router.get(
    "/entities/search",
    response_model=list[EntityMatch],
    summary="Known entities by the start of their text (case and accents ignored), most mentioned first",
    responses=ANY_PUBLICATION,
)
async def search_entities(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=MAX_TEXT_CHARS, description="The start of the text.")],
    label: LabelFilter = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Most matches.")] = 10,
    view: ViewName = View.RAW,
) -> Response:
    """For type-ahead: `q=zur` finds `Zürich` and `ZURICH`; counts are all time, every publication."""
    wanted_label = label_filter(label)
    found = await read(request, lambda reader: reader.search(q, label=wanted_label, limit=limit, view=view))
    return json(MATCHES.dump_json(found))


async def read(request: Request, call: Callable[[CountReader], T]) -> T:
    """Run a sink read on the reader's threads, bounded by READ_TIMEOUT; a read the sink cannot answer as
    asked is a 422 naming the parameter."""
    settings: ProducerSettings = request.app.state.settings
    reads: Reads = request.app.state.reads
    try:
        return await reads.call(call, settings.read_timeout.total_seconds())
    except InvalidRead as error:
        raise InvalidInput([FieldProblem(field=error.field, problem=str(error))]) from None


def label_filter(label: str | None) -> str | None:
    return label.strip().upper() if label and label.strip() else None


def publication_name(raw: str) -> str:
    """The name normalized as in the articles; one over 200 characters is unknown without a read (404), one
    with a character no article may carry is refused (422, saying which)."""
    name = normalize_publication(raw)
    if len(name) > MAX_PUBLICATION_CHARS:
        raise unknown_publication(name[:40] + "...")
    problem = publication_problem(name)
    if problem is not None:
        raise InvalidInput([FieldProblem(field="publication", problem=problem)])
    return name


def check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise InvalidInput([FieldProblem(field="end", problem="must be later than start")])


def unknown_publication(name: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no counts for publication {name!r}: GET /publications lists the known names "
        "(send the name URL-encoded, exactly as in the articles)",
    )


def json(body: bytes) -> Response:
    return Response(body, media_type="application/json")
