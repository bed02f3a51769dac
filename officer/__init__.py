"""The officers' HTTP API: bearer tokens, roles, an audit log of every attempt.

``officer.roles`` says which role may do what, ``officer.tokens`` issues and checks the
tokens (only their SHA-256 is stored), ``officer.api`` is the FastAPI app and
``officer.cli`` the ``overdue officer`` commands.
"""
