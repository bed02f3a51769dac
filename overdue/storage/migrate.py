"""Run the Alembic migrations in ``migrations/`` from code.

The functions are async and safe to await inside a running event loop: alembic's commands
run in a worker thread (:func:`asyncio.to_thread`) where ``migrations/env.py`` starts its
own loop with :func:`asyncio.run`. They never touch the caller's logging configuration.

    await upgrade("sqlite+aiosqlite:///.data/overdue.db")
    await current(url)   # "0001_initial", or None for an empty database
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url

import overdue
from overdue.settings import DatabaseSettings
from overdue.storage.engine import create_engine

PROJECT_ROOT = Path(overdue.__file__).resolve().parent.parent
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    """The project's Alembic config, pointed at ``database_url``, usable from any cwd."""
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: no ConfigParser %-interpolation of
    # passwords, and env.py prefers it over sqlalchemy.url and the settings.
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    return cfg


def _sqlite_file(database_url: str) -> Path | None:
    """The database file of a file-backed SQLite URL, else ``None``."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_directory(database_url: str) -> None:
    """Create the parent directory of a file-backed SQLite database; no-op otherwise."""
    path = _sqlite_file(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the newest)."""
    ensure_sqlite_directory(database_url)
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)


async def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the database to ``revision`` (``"base"`` drops every table)."""
    ensure_sqlite_directory(database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), revision)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current(database_url: str) -> str | None:
    """The database's current revision, or ``None`` if it has never been migrated."""
    sqlite_file = _sqlite_file(database_url)
    if sqlite_file is not None and not sqlite_file.exists():
        return None  # don't create an empty database file just to look at it
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()
