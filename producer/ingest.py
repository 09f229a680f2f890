"""The write endpoints: ``POST /articles`` and ``POST /articles/batch``.

A body is read as a bounded stream (413 as soon as it exceeds MAX_BODY_BYTES, never buffered unbounded),
validated with the shared :class:`~common.article.Article` model, and published keyed by the article id.
An article is reported accepted only after Kafka acknowledged it.
"""

from collections.abc import Sequence
from typing import Any

import pydantic_core
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from common.article import Article
from producer.auth import require_api_key
from producer.batch_body import split_json_array, split_ndjson
from producer.errors import (
    ErrorBody,
    FieldProblem,
    InvalidInput,
    ValidationErrorBody,
    describe,
    validation_problems,
)
from producer.publisher import Delivery, Publisher, PublishError, RecordTooLarge
from producer.settings import ProducerSettings

INLINE_PARSE_BYTES = 64 * 1024
"""Bodies up to this size are parsed on the event loop (microseconds); larger ones in a worker thread."""

JSON = "application/json"
NDJSON = "application/x-ndjson"


class Accepted(BaseModel):
    """Kafka acknowledged the article: it is durable and will be counted."""

    id: str = Field(description="The article id (the client's `id`, else derived); the Kafka key.")
    partition: int = Field(description="Kafka partition the article was written to.")
    offset: int = Field(description="Offset of the article in that partition.")

    model_config = {
        "json_schema_extra": {"examples": [{"id": "5c2b3f8e0a1d4e6f9b7c8d2e1f0a3b4c", "partition": 7, "offset": 1042}]}
    }


class ItemResult(BaseModel):
    """The outcome of one item of a batch, in the order sent."""

    index: int = Field(description="Position of the item in the batch (0-based; NDJSON: blank lines skipped).")
    status: int = Field(description="202 accepted; 413 too large; 422 invalid; 503 Kafka unavailable, retry it.")
    id: str | None = Field(None, description="The article id, when the item was a valid article.")
    partition: int | None = Field(None, description="Kafka partition, when accepted.")
    offset: int | None = Field(None, description="Kafka offset, when accepted.")
    error: str | None = Field(None, description="What is wrong and what to do, when not accepted.")
    errors: list[FieldProblem] | None = Field(None, description="Each bad field and its problem (422).")


class BatchResult(BaseModel):
    accepted: int = Field(description="Items Kafka acknowledged.")
    rejected: int = Field(description="Items not accepted (see their status).")
    results: list[ItemResult]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "accepted": 1,
                    "rejected": 1,
                    "results": [
                        {
                            "index": 0,
                            "status": 202,
                            "id": "5c2b3f8e0a1d4e6f9b7c8d2e1f0a3b4c",
                            "partition": 7,
                            "offset": 1043,
                        },
                        {
                            "index": 1,
                            "status": 422,
                            "error": "content: Field required",
                            "errors": [{"field": "content", "problem": "Field required"}],
                        },
                    ],
                }
            ]
        }
    }


ARTICLE_SCHEMA = Article.model_json_schema()
ARTICLE_EXAMPLE = ARTICLE_SCHEMA["examples"][0]
BATCH_EXAMPLE = [
    ARTICLE_EXAMPLE,
    {
        "publication": "CNN (Web News)",
        "title": "Storm heads north",
        "content": "ATLANTA (CNN) - The National Weather Service warned on Monday...",
        "published_at": "2020-07-20T14:30:00Z",
        "id": "cnn-2020-07-20-storm",
    },
]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong X-API-Key."},
    413: {"model": ErrorBody, "description": "Body larger than MAX_BODY_BYTES (or batch over BATCH_MAX)."},
    415: {"model": ErrorBody, "description": "Content-Type not accepted."},
    422: {"model": ValidationErrorBody, "description": "Not an article: names each field and its problem."},
    503: {
        "model": ErrorBody,
        "description": "Kafka did not acknowledge in time (unreachable or local queue full); retry after "
        "the Retry-After header's seconds with the same article.",
    },
}

router = APIRouter(tags=["ingest"], dependencies=[Depends(require_api_key)])


@router.post(
    "/articles",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Publish one article",
    responses=PROBLEM_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": ARTICLE_SCHEMA, "example": ARTICLE_EXAMPLE}},
        }
    },
)
async def post_article(request: Request) -> Accepted:
    """Answers 202 once Kafka acknowledged the article (idempotent producer, acks=all); the Kafka key is
    the article id, so a retried article lands in the same partition."""
    settings: ProducerSettings = request.app.state.settings
    require_content_type(request, (JSON,))
    body = await read_body(request, settings.max_body_bytes)
    context = {"max_article_bytes": settings.max_article_bytes}
    try:
        if len(body) > INLINE_PARSE_BYTES:  # a large body takes CPU time: keep it off the event loop
            article = await run_in_threadpool(Article.model_validate_json, body, context=context)
        else:
            article = Article.model_validate_json(body, context=context)
    except ValidationError as error:
        request.app.state.metrics.articles_rejected.labels("invalid").inc()
        raise InvalidInput(validation_problems(error)) from None
    publisher: Publisher = request.app.state.publisher
    delivery = await publisher.publish(article.article_id, kafka_value(article))
    request.app.state.metrics.articles_accepted.inc()
    return Accepted(id=article.article_id, partition=delivery.partition, offset=delivery.offset)


@router.post(
    "/articles/batch",
    response_model=BatchResult,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Publish many articles (JSON array or NDJSON)",
    responses={
        **PROBLEM_RESPONSES,
        207: {
            "model": BatchResult,
            "description": "Some items were not accepted: each result has its own status (422 invalid, "
            "413 too large, 503 retry later). The accepted items are durable; resend only the others.",
        },
        503: {
            "model": BatchResult,
            "description": "No item was accepted because Kafka is unavailable; retry the whole batch after "
            "the Retry-After header's seconds.",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": {"type": "array", "items": ARTICLE_SCHEMA}, "example": BATCH_EXAMPLE},
                NDJSON: {
                    "schema": {"type": "string", "description": "One article (JSON object) per line."},
                    "example": "\n".join(pydantic_core.to_json(item).decode() for item in BATCH_EXAMPLE) + "\n",
                },
            },
        }
    },
)
async def post_batch(request: Request) -> JSONResponse:
    """Up to BATCH_MAX articles. One bad item does not reject the others: every item gets its own result.
    202 when every item was accepted; 207 when some were not (see each item's status); 503 when none was
    accepted because Kafka is unavailable. A body that is not a JSON array (or NDJSON) at all is a 422."""
    settings: ProducerSettings = request.app.state.settings
    content_type = require_content_type(request, (JSON, NDJSON))
    body = await read_body(request, settings.max_body_bytes)
    # Splitting and validating up to 8 MiB is CPU work: keep it off the event loop.
    results, valid = await run_in_threadpool(prepare_batch, body, content_type == NDJSON, settings)
    metrics = request.app.state.metrics
    metrics.articles_rejected.labels("invalid").inc(len(results) - len(valid))
    publisher: Publisher = request.app.state.publisher
    outcomes = await publisher.publish_many([(article.article_id, kafka_value(article)) for _, article in valid])
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        record_outcome(results[index], outcome)
    metrics.articles_accepted.inc(sum(1 for result in results if result.status == 202))
    return batch_response(results, settings.retry_after)


def prepare_batch(
    body: bytes, ndjson: bool, settings: ProducerSettings
) -> tuple[list[ItemResult], list[tuple[int, Article]]]:
    """A result per item (202 pending publication, or 422 with the problems) and the valid articles."""
    items: Sequence[str | bytes] = (
        split_ndjson(body, settings.batch_max) if ndjson else split_json_array(body, settings.batch_max)
    )
    context = {"max_article_bytes": settings.max_article_bytes}
    results: list[ItemResult] = []
    valid: list[tuple[int, Article]] = []
    for index, item in enumerate(items):
        try:
            article = Article.model_validate_json(item, context=context)
        except ValidationError as error:
            problems = validation_problems(error, whole="item")
            results.append(ItemResult(index=index, status=422, error=describe(problems), errors=problems))
            continue
        valid.append((index, article))
        results.append(ItemResult(index=index, status=202, id=article.article_id))
    return results, valid


def record_outcome(result: ItemResult, outcome: Delivery | PublishError) -> None:
    if isinstance(outcome, Delivery):
        result.partition, result.offset = outcome.partition, outcome.offset
    else:
        result.status = 413 if isinstance(outcome, RecordTooLarge) else 503
        result.error = outcome.reason


def batch_response(results: list[ItemResult], retry_after: int) -> JSONResponse:
    accepted = sum(1 for result in results if result.status == 202)
    unavailable = any(result.status == 503 for result in results)
    if accepted == len(results):
        code = status.HTTP_202_ACCEPTED
    elif accepted == 0 and unavailable:
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    else:
        code = status.HTTP_207_MULTI_STATUS
    body = BatchResult(accepted=accepted, rejected=len(results) - accepted, results=results)
    headers = {"Retry-After": str(retry_after)} if unavailable else None
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=code, headers=headers)


def kafka_value(article: Article) -> bytes:
    """The record value: the validated article as JSON, with its id filled in (what the consumer parses)."""
    return article.model_copy(update={"id": article.article_id}).model_dump_json(exclude_none=True).encode()


def require_content_type(request: Request, accepted: tuple[str, ...]) -> str:
    """The request's media type if accepted, else 415 naming the accepted ones."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in accepted:
        shown = repr(media_type) if media_type else "none"
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {shown} is not accepted here: send {' or '.join(accepted)}",
        )
    return media_type


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and refused (413) as soon as it exceeds ``limit`` bytes."""
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the request body is larger than MAX_BODY_BYTES ({limit} bytes): send fewer or smaller articles",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
