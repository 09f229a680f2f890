"""The FastAPI application: ingest, read API, health, metrics and the dashboard, wired to one settings object.

``create_app`` checks what it can up front (API keys) so a misconfigured service fails at start with a
clear message; the Kafka producer and the sink reader live for the app's lifespan.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from common.sinks.factory import open_reader
from producer import ingest, read_api, status
from producer.auth import load_api_keys
from producer.errors import install_error_handlers
from producer.metrics import ProducerMetrics, RequestMetricsMiddleware
from producer.publisher import Publisher
from producer.reads import Reads
from producer.security_headers import SecurityHeadersMiddleware
from producer.settings import ProducerSettings

STATIC_DIR = Path(__file__).with_name("static")

DESCRIPTION = """\
Newsrooms post articles here; they are published to Kafka, where a consumer group counts the people,
organisations and places each publication mentions, per tumbling time window. The read endpoints serve
those counts.

**Auth**: the write endpoints need an `X-API-Key` header (keys from `API_KEYS` or `API_KEYS_FILE`).
The read endpoints are open unless `READ_REQUIRES_KEY=true`.

**Errors**: every error answers `{"detail": "..."}` saying what is wrong and what to do; a `422` also
lists each bad field and its problem. A `503` carries `Retry-After`.
"""


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="`ready` or `unavailable`.", examples=["ready"])
    kafka: str = Field(description="`ok`, or why the broker is not usable.", examples=["ok"])
    sink: str = Field(description="`ok`, or why the counts store cannot be read.", examples=["ok"])


def create_app(settings: ProducerSettings) -> FastAPI:
    """The app for ``settings``; raises :class:`producer.auth.NoApiKeys` when no API key is configured."""
    api_keys = load_api_keys(settings)
    metrics = ProducerMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = Publisher(settings, metrics)
        publisher.start()
        reads = Reads(lambda: open_reader(settings), settings.read_threads)
        app.state.publisher = publisher
        app.state.reads = reads
        try:
            yield
        finally:
            await asyncio.to_thread(publisher.close)
            await asyncio.to_thread(reads.close)

    app = FastAPI(
        title="newscounts",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by add_dashboard from the service's own files (no CDN)
        redoc_url=None,
        openapi_tags=[
            {"name": "ingest", "description": "Publish articles to Kafka (X-API-Key required)."},
            {"name": "counts", "description": "The counts kept by the consumer group."},
            {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
        ],
    )
    app.state.settings = settings
    app.state.api_keys = api_keys
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    if origins := [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"])
    app.add_middleware(SecurityHeadersMiddleware)  # added last: the outermost, it sees every answer
    app.include_router(ingest.router)
    app.include_router(read_api.router)
    app.include_router(status.router)
    add_operations(app)
    add_dashboard(app)
    return app


def add_operations(app: FastAPI) -> None:
    settings: ProducerSettings = app.state.settings
    metrics: ProducerMetrics = app.state.metrics

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["operations"],
        summary="The process is alive",
        responses={503: {"model": Health, "description": "The Kafka producer failed: restart the process."}},
    )
    async def healthz(request: Request) -> Any:
        fatal = request.app.state.publisher.fatal_error
        if fatal is not None:
            return JSONResponse({"status": f"the Kafka producer failed: {fatal}"}, status_code=503)
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["operations"],
        summary="Kafka reachable, sink readable",
        responses={503: {"model": Readiness, "description": "Kafka or the sink is not usable (says which)."}},
    )
    async def readyz(request: Request) -> Any:
        timeout = settings.ready_timeout.total_seconds()
        publisher: Publisher = request.app.state.publisher
        reads: Reads = request.app.state.reads
        kafka_problem, sink_problem = await asyncio.gather(
            asyncio.to_thread(publisher.check_broker, timeout), reads.problem(timeout)
        )
        ready = kafka_problem is None and sink_problem is None
        answer = Readiness(
            status="ready" if ready else "unavailable", kafka=kafka_problem or "ok", sink=sink_problem or "ok"
        )
        return answer if ready else JSONResponse(answer.model_dump(), status_code=503)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def add_dashboard(app: FastAPI) -> None:
    """The dashboard page at ``/``, the API docs page (Swagger UI) at ``/docs``, and their files at ``/static``
    (same origin as the read API; nothing is loaded from elsewhere)."""

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
