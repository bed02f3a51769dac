"""Throwaway databases for tests, on SQLite always and on PostgreSQL when available.

Usage from any test module::

    from tests.dbutil import DB_KINDS, fresh_database

    @pytest.fixture(params=DB_KINDS)
    async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
        async with fresh_database(request.param, tmp_path) as url:
            yield url

``fresh_database(kind, tmp_path)`` yields the SQLAlchemy async URL of a new, empty database
(no tables: run ``await overdue.storage.migrate.upgrade(url)`` for the schema) and removes it
afterwards:

* ``"sqlite"``: a new file in ``tmp_path`` (``sqlite+aiosqlite:///<tmp_path>/<hex>.db``).
* ``"postgresql"``: needs ``OVERDUE_TEST_DATABASE_URL``, e.g.
  ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``. A database ``<prefix>_<hex>`` is
  created on that server and dropped ``WITH (FORCE)`` on exit. The database named in the
  variable is only used as the maintenance connection for CREATE/DROP DATABASE; nothing
  is ever written to it. Without the variable the test is skipped.

``DB_KINDS`` is the matching list of ``pytest.param`` values: ``"postgresql"`` carries the
``postgres`` marker and is skipped (with the reason shown) when the variable is unset.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

POSTGRES_ENV = "OVERDUE_TEST_DATABASE_URL"
POSTGRES_SKIP_REASON = (
    f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"
)


def postgres_server_url() -> str | None:
    """The PostgreSQL server to create test databases on, or None if not configured."""
    return os.environ.get(POSTGRES_ENV) or None


DB_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(postgres_server_url() is None, reason=POSTGRES_SKIP_REASON),
        ],
    ),
]


async def _admin_connect(server: URL) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        database=server.database,
    )


@asynccontextmanager
async def _fresh_postgres(prefix: str) -> AsyncIterator[str]:
    raw = postgres_server_url()
    if raw is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    server = make_url(raw)
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"  # lowercase hex: a safe bare identifier
    admin = await _admin_connect(server)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    try:
        # Always asyncpg: overdue's engine is async whatever driver the variable names.
        yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        admin = await _admin_connect(server)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


@asynccontextmanager
async def fresh_database(
    kind: str, tmp_path: Path, *, prefix: str = "overdue_mig"
) -> AsyncIterator[str]:
    """Yield the URL of a new empty database of ``kind`` ("sqlite" or "postgresql")."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,30}", prefix):
        raise ValueError(f"prefix must be a short lowercase identifier, got {prefix!r}")
    if kind == "sqlite":
        path = tmp_path / f"{prefix}_{uuid.uuid4().hex[:16]}.db"
        try:
            yield f"sqlite+aiosqlite:///{path}"
        finally:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
    elif kind == "postgresql":
        async with _fresh_postgres(prefix) as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r} (want 'sqlite' or 'postgresql')")
