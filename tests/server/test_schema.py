"""Schemathesis over the app's own OpenAPI schema: no 5xx, responses as documented."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import checks

from server.accounts import add_user
from server.main import create_app
from server.settings import Settings
from store.db import make_engine, migrate
from store.models import Role
from tests.pg import scratch_database

from .conftest import PASSWORD, SITES, seed_findings, token_for


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def schema_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """SQLite, and PostgreSQL where reachable (it refuses what SQLite lets through: NUL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('schema-db') / 'db.sqlite'}"
        return
    with scratch_database("ecopatrol_schema") as url:
        yield url


@pytest.fixture(scope="module")
def schema_app(
    schema_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[object, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("schema")
    config = Settings(
        data_dir=tmp / "data",
        database_url=schema_db,
        secret_key="schemathesis-secret-0123456789abcdef",
        upload_max_bytes=64 * 1024,
    )
    engine = make_engine(config.db_url)
    migrate(engine)
    add_user(engine, "admin", PASSWORD, role=Role.ADMIN)
    seed_findings(engine, 20)
    app = create_app(config)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token_for(client, 'admin')}"}
        # a small zone (one yard, one dock) keeps each generated plan request quick
        zone = json.loads(SITES.read_text())
        zone["features"] = [
            f for f in zone["features"] if f["properties"]["id"] in ("ent-01", "ent-01-s1")
        ] + [f for f in zone["features"] if f["properties"]["kind"] == "dock"][:1]
        client.put("/api/v1/sites", json=zone, headers=headers)
        yield app, headers
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(schema_app):  # type: ignore[no-untyped-def]
    app, headers = schema_app
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=headers)


schema = schemathesis.pytest.from_fixture("api_schema")


# ECOPATROL_SCHEMA_EXAMPLES=200 for a deeper run by hand; 10 keeps the suite quick.
EXAMPLES = int(os.environ.get("ECOPATROL_SCHEMA_EXAMPLES", "10"))


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, schema_app) -> None:  # type: ignore[no-untyped-def]
    """Every check but ``positive_data_acceptance``: a schema cannot say that a polygon must
    not cross itself or that a launch needs a connection or SITL, so the server rightly
    refuses some schema-valid inputs with a 422 and a reason."""
    _app, headers = schema_app
    case.call_and_validate(headers=headers, excluded_checks=[checks.positive_data_acceptance])


@pytest.mark.slow
def test_api_stateful(api_schema, schema_app) -> None:  # type: ignore[no-untyped-def]
    """Sequences of calls along the links schemathesis infers between operations (a created
    site's id into read/replace/delete, a flight record's id into uploads...): no 5xx there
    either. Same exclusion as above, for the same reason."""
    _app, headers = schema_app
    machine = api_schema.as_state_machine()

    class Stateful(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case):  # type: ignore[no-untyped-def]
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):  # type: ignore[no-untyped-def]
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=[checks.positive_data_acceptance],
                transport_kwargs=kwargs,
            )

    Stateful.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=6,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Stateful.TestCase().runTest()
