"""Thin, idempotent activity adapters over storage and the outside world.

Each activity is keyed by loan id + step (never a run id, which continue-as-new changes).
Transient failures raise and Temporal retries; permanent ones raise
``ApplicationError(non_retryable=True)``.
"""
