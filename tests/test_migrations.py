"""Alembic migrations: up/down/up, no drift from the models, exact Money and UTC round trips."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Numeric, inspect, select
from sqlalchemy.engine import Connection

from overdue.settings import DatabaseSettings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.migrate import alembic_config, current, downgrade, upgrade
from overdue.storage.models import Base, Customer, Loan
from tests.dbutil import DB_KINDS, fresh_database

REVISIONS = [script.revision for script in reversed(list(
    ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()))]
HEAD = REVISIONS[-1]
MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=DB_KINDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as url:
        yield url


async def _run_sync(url: str, fn: Any) -> Any:
    engine = create_engine(DatabaseSettings(url=url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_downgrade_upgrade(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the config must not depend on the working directory
    app_logger = logging.getLogger("overdue.test_migrations")

    assert await current(database_url) is None

    await upgrade(database_url)
    assert await current(database_url) == HEAD
    assert await _run_sync(database_url, _table_names) == MODEL_TABLES | {"alembic_version"}

    await downgrade(database_url, "base")
    assert await current(database_url) is None
    assert await _run_sync(database_url, _table_names) == {"alembic_version"}

    await upgrade(database_url, "head")
    assert await current(database_url) == HEAD
    assert await _run_sync(database_url, _table_names) == MODEL_TABLES | {"alembic_version"}

    assert not app_logger.disabled  # programmatic runs leave logging alone


def _drift_from_narrower_arrears(conn: Connection) -> list[Any]:
    """Compare against a copy of the models whose arrears column is NUMERIC(12, 2)."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["collection_cases"].c.arrears.type = Numeric(12, 2)
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_models(database_url: str) -> None:
    await upgrade(database_url)
    assert await _run_sync(database_url, _schema_diff) == []
    # ...and the comparison is not vacuous: a changed column type is reported.
    drift = await _run_sync(database_url, _drift_from_narrower_arrears)
    assert [(d[0][0], d[0][2], d[0][3]) for d in drift] == [
        ("modify_type", "collection_cases", "arrears")
    ]


async def test_money_and_utc_round_trip(database_url: str) -> None:
    await upgrade(database_url)
    updated_at = datetime(2025, 3, 4, 21, 6, 7, 123456, tzinfo=timezone(timedelta(hours=8)))
    engine = create_engine(DatabaseSettings(url=database_url))
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            session.add(
                Customer(
                    customer_id="C1",
                    name="Ana",
                    phone="+351900000000",
                    email=None,
                    locale="pt-PT",
                    timezone=None,
                    birth_year=None,
                    preferred_channel=None,
                    updated_at=updated_at,
                )
            )
            session.add(
                Loan(
                    loan_id="L1",
                    customer_id="C1",
                    product="mortgage",
                    branch="LIS",
                    currency="EUR",
                    principal_outstanding=Decimal("1234.56"),
                    annual_rate=Decimal("0.043500"),
                    instalment_amount=Decimal("0.10"),
                    remaining_instalments=12,
                    updated_at=updated_at,
                )
            )

        async with sessions() as session:
            loan = (await session.execute(select(Loan))).scalar_one()
            customer = (await session.execute(select(Customer))).scalar_one()
    finally:
        await engine.dispose()

    assert loan.principal_outstanding == Decimal("1234.56")
    assert str(loan.principal_outstanding) == "1234.56"
    assert str(loan.instalment_amount) == "0.10"
    assert loan.annual_rate == Decimal("0.043500")
    assert customer.sms_consent is True  # the model's Python-side default

    for value in (loan.updated_at, customer.updated_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == updated_at
        assert value == datetime(2025, 3, 4, 13, 6, 7, 123456, tzinfo=UTC)


async def test_sqlite_file_and_directory_are_created_on_upgrade(tmp_path: Path) -> None:
    db_file = tmp_path / "not" / "yet" / "overdue.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    assert await current(url) is None
    assert not db_file.parent.exists()  # looking does not create anything
    await upgrade(url)
    assert db_file.is_file()
    assert await current(url) == HEAD


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///offline.db", "VARCHAR(32)"),
        ("postgresql+asyncpg://postgres@127.0.0.1/offline", "NUMERIC(15, 2)"),
    ],
    ids=["sqlite", "postgresql"],
)
def test_offline_sql(url: str, expected: str) -> None:
    cfg = alembic_config(url)
    cfg.output_buffer = io.StringIO()
    command.upgrade(cfg, "head", sql=True)  # offline: renders SQL, never connects
    sql = cfg.output_buffer.getvalue()
    for table in MODEL_TABLES:
        assert f"CREATE TABLE {table} (" in sql
    assert "CONSTRAINT fk_loans_customer_id_customers FOREIGN KEY" in sql
    assert "CREATE INDEX ix_core_banking_events_loan_received" in sql
    assert f"principal_outstanding {expected} NOT NULL" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001_initial')" in sql
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in sql


async def test_each_revision_steps_up_and_down(database_url: str) -> None:
    """Every revision on its own: up one, down one, up again, on both databases."""
    assert REVISIONS[0] == "0001_initial" and len(REVISIONS) >= 2
    previous = "base"
    for revision in REVISIONS:
        await upgrade(database_url, revision)
        assert await current(database_url) == revision
        await downgrade(database_url, previous)
        assert await current(database_url) == (None if previous == "base" else previous)
        await upgrade(database_url, revision)
        previous = revision
