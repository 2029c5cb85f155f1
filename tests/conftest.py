"""The `store_url` fixture: a fresh, empty log store on each backend (SQLite, PostgreSQL).

The PostgreSQL variant uses the server at $COACHRL_TEST_POSTGRES_URL (`make test` sets it
and starts the server with scripts/test_services.sh); each test gets its own schema (via
`search_path` in the URL), dropped afterwards, so tests and xdist workers never share
state. No URL or no server: the test fails when COACHRL_REQUIRE_SERVICES=1 (as in CI),
else it is skipped with the reason.
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_URL_ENV = "COACHRL_TEST_POSTGRES_URL"
REQUIRE_SERVICES_ENV = "COACHRL_REQUIRE_SERVICES"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_ENV}=1: the service is required)")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A SQLAlchemy URL of an empty database, for `coachrl.coach.store.open_store`."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'coach.db'}"
        return
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        _unavailable(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to test against")
    url = sa.make_url(base)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.SQLAlchemyError as e:
        admin.dispose()
        _unavailable(f"PostgreSQL at {url.render_as_string()} is unreachable: "
                     f"{type(e).__name__}: {e}")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
