"""SQLAlchemy 2 async storage: SQLite (aiosqlite) embedded, PostgreSQL (asyncpg) in production."""
