"""The application factory: ``create_app(settings)`` wires the store, routers, UI and handlers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from server import pages
from server.api.routes import captures, exports, findings, flights, login, missions, sites, users
from server.errors import (
    ConflictError,
    FlightControlError,
    NotFoundError,
    UploadRejectedError,
    UploadTooLargeError,
)
from server.flights import FlightManager
from server.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from server.settings import Settings, get_settings
from store.db import make_engine

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
DEFAULT_BODY_LIMIT = 20 * 1024 * 1024


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _validation_reason(exc: RequestValidationError) -> str:
    """One readable line: where the input is wrong and why."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": _validation_reason(exc), "errors": _jsonable(exc.errors())}, status_code=422
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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    del _invalid, _integrity, _db_down, _unexpected, _http


def _jsonable(errors: object) -> object:
    """Validation errors with their ``ctx`` made JSON-safe (exceptions become strings)."""
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, custom_encoder={Exception: str})


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application bound to ``settings`` (read from the environment when omitted).

    The schema is not migrated here: ``ecopatrol serve`` (or a test fixture) runs
    ``store.db.migrate`` first, so importing the app never touches a database.
    """
    settings = settings or get_settings()
    engine = make_engine(settings.db_url)
    manager = FlightManager(engine, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await manager.shutdown()
            engine.dispose()

    app = FastAPI(
        title=f"{settings.title} API",
        version="1",
        description="Plan, fly and review environmental drone patrols.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.flights = manager
    for module in (login, users, sites, missions, flights, captures, findings, exports):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(flights.ws_router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("server", "static")]), name="static")
    _install_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        upload_limit=settings.upload_max_bytes,
        default_limit=DEFAULT_BODY_LIMIT,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    return app
