"""Feeds a JSON-lines file of core-banking events through the intake service.

Events of one loan keep their order; different loans run concurrently.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from domain.events import AnyEvent, event_adapter, loan_id_of
from starter.api import describe_validation_error
from starter.intake import IntakeService


@dataclass
class ReplayReport:
    read: int = 0
    accepted: int = 0
    recorded: int = 0
    duplicate: int = 0
    conflict: int = 0
    loan_closed: int = 0
    invalid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.failed and not self.conflict


def read_events(path: Path, report: ReplayReport) -> dict[str, list[tuple[int, bytes, AnyEvent]]]:
    by_loan: dict[str, list[tuple[int, bytes, AnyEvent]]] = defaultdict(list)
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            raw = line.strip()
            if not raw:
                continue
            report.read += 1
            try:
                event = event_adapter.validate_json(raw)
            except ValidationError as exc:
                first = describe_validation_error(exc)[0]
                report.invalid.append(f"line {number}: {first['field']}: {first['message']}")
                continue
            by_loan[loan_id_of(event)].append((number, raw, event))
    return by_loan


async def replay_file(service: IntakeService, path: Path, *, concurrency: int = 32,
                      progress: Callable[[int], object] | None = None) -> ReplayReport:
    report = ReplayReport()
    by_loan = read_events(path, report)
    if progress is not None and report.invalid:
        progress(len(report.invalid))
    gate = asyncio.Semaphore(concurrency)

    async def one_loan(events: list[tuple[int, bytes, AnyEvent]]) -> None:
        async with gate:
            for number, raw, event in events:
                try:
                    result = await service.ingest(event, raw)
                except Exception as exc:  # reported per line; the rest of the file goes on
                    report.failed.append(f"line {number}: {type(exc).__name__}: {exc}")
                else:
                    setattr(report, result.status, getattr(report, result.status) + 1)
                if progress is not None:
                    progress(1)

    await asyncio.gather(*(one_loan(events) for events in by_loan.values()))
    return report
