"""Async engine and session factory per dialect (Prefect's server does the same)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from overdue.settings import DatabaseSettings


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = settings.url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=settings.echo)
        busy_timeout = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            # WAL lets the intake read while the worker writes; foreign keys are off by
            # default in SQLite; busy_timeout waits for a lock instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
            cursor.close()

        return engine
    return create_async_engine(url, echo=settings.echo, pool_size=settings.pool_size,
                               pool_pre_ping=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
