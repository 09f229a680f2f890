"""Error answers: one JSON shape for every error, and handlers that turn failures into clear 4xx/503s.

Every error body has ``detail`` (one line saying what is wrong and what to do); a 422 also lists each bad
field and its problem. Nothing a client sends may end in a 500: the catch-all handler exists for bugs
only, logs them with a reference, and never echoes the request.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import ClientDisconnect

from common.sinks.base import NamespaceOutdated, SinkError, ViewUnavailable
from producer.http_protocol import TIMED_OUT
from producer.publisher import PublishError, RecordTooLarge
from producer.security_headers import SECURITY_HEADERS

log = logging.getLogger(__name__)

REQUEST_SOURCES = ("body", "query", "path", "header")

CLIENT_CLOSED_REQUEST = 499
"""The status a request the client abandoned is counted under (nginx's convention; nothing is sent)."""


class FieldProblem(BaseModel):
    field: str = Field(description="The field (or `body` for the whole body).", examples=["content"])
    problem: str = Field(examples=["Field required"])


class ErrorBody(BaseModel):
    detail: str = Field(description="What is wrong and what to do next.")


class ValidationErrorBody(ErrorBody):
    errors: list[FieldProblem] = Field(description="Each bad field and its problem.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"detail": "content: Field required", "errors": [{"field": "content", "problem": "Field required"}]}
            ]
        }
    }


class InvalidInput(Exception):
    """A body, an article or a parameter that the endpoint cannot take: answered 422."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(describe(problems))
        self.problems = problems


def describe(problems: list[FieldProblem]) -> str:
    """``content: Field required; publication: must not be empty``."""
    return "; ".join(f"{p.field}: {p.problem}" for p in problems)


def validation_problems(errors: ValidationError | Sequence[Any], whole: str = "body") -> list[FieldProblem]:
    """Name each bad field (dotted path, without the request source) and its problem, never the input.

    ``whole`` names what was validated when the problem is with all of it (``body``, or ``item`` in a batch).
    """
    items = errors.errors(include_url=False, include_input=False) if isinstance(errors, ValidationError) else errors
    problems = []
    for item in items:
        loc = [str(part) for part in item["loc"]]
        if len(loc) > 1 and loc[0] in REQUEST_SOURCES:
            loc = loc[1:]
        if item["type"] == "model_type":
            problem = "expected a JSON object (one article)"
        else:
            problem = str(item["msg"]).removeprefix("Value error, ")
        problems.append(FieldProblem(field=".".join(loc) or whole, problem=problem))
    return problems


def unavailable(detail: str, retry_after: int) -> JSONResponse:
    return JSONResponse(
        {"detail": detail}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(retry_after)}
    )


def install_error_handlers(app: FastAPI) -> None:
    retry_after: int = app.state.settings.retry_after

    async def on_unprocessable(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidInput)
        body = ValidationErrorBody(detail=describe(error.problems), errors=error.problems)
        return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    async def on_request_validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = validation_problems(error.errors())
        body = ValidationErrorBody(detail=describe(problems), errors=problems)
        return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    async def on_publish_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, PublishError)
        if isinstance(error, RecordTooLarge):
            return JSONResponse({"detail": error.reason}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
        return unavailable(error.reason, retry_after)

    async def on_recount_needed(_: Request, error: Exception) -> JSONResponse:
        # The namespace was counted before the view (or this layout) existed: no retry helps, a recount does.
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_409_CONFLICT)

    async def on_sink_error(_: Request, error: Exception) -> JSONResponse:
        # Transient (SinkUnavailable) or not (a misconfigured sink): either way the counts cannot be served now.
        log.warning("the sink failed a read: %s", error)
        return unavailable(f"the counts store cannot be read right now ({error}); retry later", retry_after)

    async def on_client_disconnect(request: Request, _: Exception) -> Response:
        # The client went away while its body was being read: not a failure of the service. The answer is
        # never sent; its status is what the request metrics count.
        if request.scope.get(TIMED_OUT):  # the protocol answered 408 and logged it
            return Response(status_code=status.HTTP_408_REQUEST_TIMEOUT)
        client = f"{request.client.host}:{request.client.port}" if request.client else "client"
        log.info(
            "%s - %s %s: the client disconnected before sending the whole body",
            client,
            request.method,
            request.url.path,
        )
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    async def on_bug(request: Request, error: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s in %s %s", reference, request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error (reference {reference}); it was logged, please report it"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            headers=SECURITY_HEADERS,  # answered outside the middleware that adds them to every other answer
        )

    app.add_exception_handler(InvalidInput, on_unprocessable)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(PublishError, on_publish_error)
    app.add_exception_handler(ViewUnavailable, on_recount_needed)
    app.add_exception_handler(NamespaceOutdated, on_recount_needed)
    app.add_exception_handler(SinkError, on_sink_error)
    app.add_exception_handler(ClientDisconnect, on_client_disconnect)
    app.add_exception_handler(Exception, on_bug)
