"""The read endpoints: publications, their top entities and their windows, as the consumer group counted them.

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
from common.sinks.base import PublicationEntities, PublicationSummary, Sink, WindowSummary
from producer.auth import require_read_key
from producer.errors import ErrorBody, FieldProblem, InvalidInput, ValidationErrorBody
from producer.settings import ProducerSettings
from producer.sink_pool import SinkPool

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
    Query(description="Only windows that end after this instant (ISO 8601; no zone means UTC)."),
]
End = Annotated[
    Timestamp | None,
    Query(description="Only windows that start before this instant (ISO 8601; no zone means UTC)."),
]

READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "READ_REQUIRES_KEY is set and X-API-Key is missing or wrong."},
    404: {"model": ErrorBody, "description": "No counts for this publication (see GET /publications)."},
    422: {"model": ValidationErrorBody, "description": "A bad parameter: names it and its problem."},
    503: {"model": ErrorBody, "description": "The counts store cannot be read right now; retry later."},
}

T = TypeVar("T")

MAX_LIMIT = 1_000_000
"""A larger limit means the same as 0 (every entity); bounded so no store sees an absurd number."""
MAX_LABEL_CHARS = 64
"""spaCy labels are short words; a longer one cannot match and is refused before it reaches the store."""

PUBLICATIONS = TypeAdapter(list[PublicationSummary])
WINDOWS = TypeAdapter(list[WindowSummary])

router = APIRouter(tags=["counts"], dependencies=[Depends(require_read_key)])


@router.get(
    "/publications",
    response_model=list[PublicationSummary],
    summary="Every publication with counts, most articles first",
    responses={key: READ_RESPONSES[key] for key in (401, 503)},
)
async def list_publications(request: Request) -> Response:
    summaries = await read(request, lambda sink: sink.publications())
    return json(PUBLICATIONS.dump_json(summaries))


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
    label: Annotated[
        str | None,
        Query(
            max_length=MAX_LABEL_CHARS, description="Only this spaCy label (PERSON, ORG, GPE, ...); empty means all."
        ),
    ] = None,
    start: Start = None,
    end: End = None,
) -> Response:
    """All time without `start`/`end`; with them, the windows overlapping `[start, end)`, merged."""
    name = publication_name(publication)
    check_range(start, end)
    wanted_label = label.strip().upper() if label and label.strip() else None
    counts = await read(
        request, lambda sink: sink.entities(name, start=start, end=end, label=wanted_label, limit=limit)
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
) -> Response:
    """Per window overlapping `[start, end)`: its start, end, articles and top `limit` entities."""
    name = publication_name(publication)
    check_range(start, end)
    windows = await read(request, lambda sink: sink.windows(name, start=start, end=end, limit=limit))
    if windows is None:
        raise unknown_publication(name)
    return json(WINDOWS.dump_json(windows))


async def read(request: Request, call: Callable[[Sink], T]) -> T:
    """Run a sink read on the pool, bounded by READ_TIMEOUT."""
    settings: ProducerSettings = request.app.state.settings
    sinks: SinkPool = request.app.state.sinks
    return await sinks.call(call, settings.read_timeout.total_seconds())


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
