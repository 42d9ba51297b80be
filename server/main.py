"""The application factory: ``create_app(settings)`` wires the store, routers, UI and handlers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from server import pages
from server.api.deps import storable_request
from server.api.routes import (
    alerts,
    basemap,
    captures,
    casefile,
    exports,
    findings,
    flights,
    login,
    missions,
    objects,
    readings,
    schedules,
    sites,
    users,
)
from server.errors import (
    ConflictError,
    FlightControlError,
    NotFoundError,
    UploadRejectedError,
    UploadTooLargeError,
)
from server.flights import FlightManager
from server.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from server.processing import LocalProcessing
from server.scheduler import Scheduler
from server.settings import Settings, get_settings
from server.throttle import LoginThrottle
from server.uploads import sweep_partials
from store.db import make_engine

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
DEFAULT_BODY_LIMIT = 20 * 1024 * 1024
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/login/access-token", f"{API_PREFIX}/logout"})


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _validation_reason(exc: RequestValidationError) -> str:
    """One readable line: where the input is wrong and why."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts) or "invalid request"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # the input is not echoed: it may be a password, or text that cannot be encoded
        errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
        return JSONResponse(
            {"detail": _validation_reason(exc), "errors": _jsonable(errors)}, status_code=422
        )

    status_of: list[tuple[type[Exception], int]] = [
        (NotFoundError, 404),
        (UploadTooLargeError, 413),
        (UploadRejectedError, 415),
        (ConflictError, 409),
        (FlightControlError, 409),
    ]
    for exc_type, code in status_of:

        async def _mapped(_: Request, exc: Exception, code: int = code) -> JSONResponse:
            return _error(code, str(exc))

        app.add_exception_handler(exc_type, _mapped)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        logger.info("integrity error: %s", exc.orig)
        return _error(409, "the change conflicts with existing records")

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        logger.error("database unavailable: %s", exc.orig)
        return _error(503, "the database is unavailable; try again shortly")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        logger.exception("unhandled error %s on %s %s", incident, request.method, request.url.path)
        return _error(500, f"internal error (incident {incident}); the operator has the log")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the first matching route's methods; list every route's.
            headers["Allow"] = ", ".join(sorted(_allowed_methods(app, request)))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    del _invalid, _integrity, _db_down, _unexpected, _http


def _allowed_methods(app: FastAPI, request: Request) -> set[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _scope = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


def _jsonable(errors: object) -> object:
    """Validation errors with their ``ctx`` made JSON-safe (exceptions become strings)."""
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, custom_encoder={Exception: str})


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The generated schema, corrected to say what the handlers really return.

    Validation errors carry a one-line ``detail`` plus the ``errors`` list; every
    route but sign-in may answer 401/403; any body may be refused as too large.
    """

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["HTTPValidationError"] = {
            "title": "HTTPValidationError",
            "type": "object",
            "properties": {
                "detail": {"type": "string", "title": "Detail"},
                "errors": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ValidationError"},
                },
            },
            "required": ["detail"],
        }
        components["ErrorDetail"] = {
            "title": "ErrorDetail",
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
        error = {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}
            }
        }
        invalid = {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
            }
        }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code, response in responses.items():
                    if code == "422":
                        response["content"] = invalid["content"]
                    elif code.startswith(("4", "5")):
                        response["content"] = error["content"]
                if path not in PUBLIC_PATHS:
                    responses.setdefault("401", {"description": "not signed in", **error})
                    responses.setdefault("403", {"description": "role not allowed", **error})
                if "requestBody" in operation:
                    responses.setdefault("400", {"description": "body not parseable", **error})
                    responses.setdefault("413", {"description": "body too large", **error})
                    responses.setdefault("422", {"description": "invalid input", **invalid})
        app.openapi_schema = schema
        return schema

    return build


async def _sweep_partials_forever(settings: Settings) -> None:
    """Delete stale unfinished files in the data directory at start-up, then periodically."""
    timeout_s = settings.partial_upload_timeout_s
    while True:
        try:
            await asyncio.to_thread(sweep_partials, settings.data_dir, older_than_s=timeout_s)
        except OSError as exc:  # a full or unreadable disk must not stop the service
            logger.warning("sweeping unfinished uploads failed: %s", exc)
        await asyncio.sleep(min(timeout_s / 2, 600.0))


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application bound to ``settings`` (read from the environment when omitted).

    The schema is not migrated here: ``ecopatrol serve`` (or a test fixture) runs
    ``store.db.migrate`` first, so importing the app never touches a database.
    """
    settings = settings or get_settings()
    engine = make_engine(settings.db_url)
    manager = FlightManager(engine, settings)
    processing = LocalProcessing(engine, n_workers=settings.processing_workers)
    scheduler = Scheduler(engine, manager)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.close_orphans()
        sweeper = asyncio.create_task(_sweep_partials_forever(settings))
        scheduling = asyncio.create_task(scheduler.run_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            scheduling.cancel()
            await manager.shutdown()
            await processing.shutdown()
            engine.dispose()

    app = FastAPI(
        title=f"{settings.title} API",
        version="1",
        description=(
            "Plan, fly and review environmental drone patrols. Sign in with the OAuth2 password "
            "flow (bearer token) or the session cookie the web UI gets. Live flight state is a "
            "WebSocket at `/api/v1/flights/{flight_id}/telemetry` (JSON messages: a snapshot "
            "with the track so far, then every change)."
        ),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(storable_request)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.flights = manager
    app.state.processing = processing
    app.state.scheduler = scheduler
    app.state.login_throttle = LoginThrottle()
    app.state.object_pages = objects.PageCache()
    routers = (login, users, sites, missions, flights, captures, findings, objects, exports)
    for module in (*routers, readings, alerts, casefile, basemap, schedules):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(flights.ws_router, prefix=API_PREFIX)
    app.include_router(flights.records_router, prefix=API_PREFIX)
    app.include_router(findings.audit_router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("server", "static")]), name="static")
    _install_handlers(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(
        BodyLimitMiddleware,
        upload_limit=settings.upload_max_bytes,
        default_limit=DEFAULT_BODY_LIMIT,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    return app
