"""Business counters, exported with the SDK's own metrics on the worker's Prometheus
endpoint (``OVERDUE_METRICS__BIND_ADDRESS``, default 127.0.0.1:9464, ``/metrics``).

Counters come from Temporal's metric meter, so a workflow replay never counts twice.
Names (Prometheus adds the ``overdue_`` prefix given here):

- ``overdue_contacts{channel,result}``: reminders and tasks by channel and result
- ``overdue_stage_transitions{stage}``: cases entering a stage or an outcome
- ``overdue_agreements{status}``: negotiation agreements kept / broken
- ``overdue_legal_filings``: suits filed
- ``overdue_recovered_fen``: money recovered through enforcement, in fen
"""

from __future__ import annotations

from temporalio import activity, workflow


def count_contact(channel: str, result: str) -> None:
    activity.metric_meter().create_counter(
        "overdue_contacts", "Customer contacts by channel and result").add(
        1, {"channel": channel, "result": result})


def count_stage(stage: str) -> None:
    workflow.metric_meter().create_counter(
        "overdue_stage_transitions", "Cases entering a stage or closing with an outcome").add(
        1, {"stage": stage})


def count_agreement(status: str) -> None:
    workflow.metric_meter().create_counter(
        "overdue_agreements", "Negotiated agreements by how they ended").add(
        1, {"status": status})


def count_filing() -> None:
    workflow.metric_meter().create_counter("overdue_legal_filings", "Suits filed").add(1)


def count_recovered(fen: int) -> None:
    if fen > 0:
        workflow.metric_meter().create_counter(
            "overdue_recovered_fen", "Recovered through enforcement, in fen").add(fen)
