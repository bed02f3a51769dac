"""Alembic environment: async engine from overdue.storage.engine, batch mode on SQLite.

The database URL is, in order: ``config.attributes["database_url"]`` (set by
:mod:`overdue.storage.migrate`), ``sqlalchemy.url`` from the ini file, then
``overdue.settings.get_settings().database.url``.

Online mode runs the async engine with :func:`asyncio.run`, so this module must be
executed in a thread with no running event loop: the alembic CLI, or
:mod:`overdue.storage.migrate`, which runs alembic's commands via :func:`asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection, make_url

from overdue.settings import DatabaseSettings, get_settings
from overdue.storage.engine import create_engine
from overdue.storage.migrate import ensure_sqlite_directory
from overdue.storage.models import Base

config = context.config

# Only the CLI configures logging (and never disables loggers that already exist);
# programmatic callers keep their own logging untouched.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else get_settings().database.url


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render overdue's column types as ``Money()`` etc. with a matching import."""
    if type_ == "type" and type(obj).__module__ == "overdue.storage.types":
        name = type(obj).__name__
        autogen_context.imports.add(f"from overdue.storage.types import {name}")
        return f"{name}()"
    return False


def _configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "render_item": _render_item,
    }


def run_migrations_offline() -> None:
    """Emit SQL to the script output instead of connecting (``alembic ... --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_configure_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **_configure_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    url = database_url()
    ensure_sqlite_directory(url)  # e.g. .data/ on a fresh checkout
    engine = create_engine(DatabaseSettings(url=url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        # A caller already holds a sync connection (e.g. inside AsyncConnection.run_sync).
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
