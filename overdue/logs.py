"""structlog, configured once per process at its entry point.

JSON when stdout is not a terminal. Loan and workflow ids travel in contextvars. Keys
that could carry personal data are masked by a processor, whatever a caller logs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

PERSONAL_KEYS = frozenset({"name", "customer_name", "phone", "to", "email", "address", "body",
                           "message", "text"})


def _mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]
                        ) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS & event_dict.keys():
        if key != "event":
            event_dict[key] = "[redacted]"
    return event_dict


class _Stderr:
    """Whatever ``sys.stderr`` is when a record is written, not when logging was set up:
    a command run inside another program (a test's CLI runner) swaps it and closes it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_personal_data,
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if json_output
                     else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    # Library loggers (temporalio, uvicorn, alembic) go through the same renderer.
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared,
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
