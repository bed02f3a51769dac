"""The KPI report end to end: the synthetic portfolio of tests/kpi_dataset.py written to the
service's tables (SQLite, and PostgreSQL when configured), loaded for a date range, and
reported by ``overdue report`` (table, CSV, SVG) and the officers' API (JSON, CSV, SVG;
roles, audit, and never a 5xx for bad query parameters)."""

from __future__ import annotations

import asyncio
import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from domain.kpis import ALL, KpiRecords, compute_kpis
from officer.api import create_app
from officer.tokens import issue_token
from overdue.cli import app as cli_app
from overdue.settings import DatabaseSettings, Settings, get_settings
from overdue.storage.kpi_queries import kpi_report, load_kpi_records
from overdue.storage.models import (
    AuditEntry,
    BucketChange,
    CollectionCase,
    ContactAttempt,
    CoreBankingEventRecord,
    LegalCase,
    Negotiation,
    PromiseToPay,
)
from tests.kpi_dataset import END, H_LOGGED, RECORDS, START, at

ZERO = Decimal("0.00")


def rows_for(records: KpiRecords) -> list[Any]:
    """The dataset as the workflows' activities would have written it."""
    out: list[Any] = []
    for c in records.cases:
        out.append(CollectionCase(
            case_ref=c.case_ref, loan_id=c.loan_id, workflow_id=f"loan-{c.loan_id}",
            stage="closed" if c.closed_at else "early", outcome=c.outcome,
            arrears=ZERO if c.closed_at else Decimal("1000.00"), days_past_due=0, bucket=None,
            oldest_unpaid_due_date=c.oldest_unpaid_due_date, policy_version="2026.11-1",
            opened_at=c.opened_at, updated_at=c.updated_at or c.opened_at,
            closed_at=c.closed_at))
        if c.negotiation_started_at:
            out.append(Negotiation(
                negotiation_id=f"negotiation-{c.loan_id}-1", loan_id=c.loan_id,
                case_ref=c.case_ref, round=1, negotiator="neg-wang", status="failed",
                arrears_at_start=Decimal("1000.00"), started_at=c.negotiation_started_at))
            out.append(Negotiation(  # a second round: the first one's start counts
                negotiation_id=f"negotiation-{c.loan_id}-2", loan_id=c.loan_id,
                case_ref=c.case_ref, round=2, negotiator="neg-li", status="open",
                arrears_at_start=Decimal("1000.00"),
                started_at=c.negotiation_started_at + timedelta(days=20)))
    for e in records.events:
        out.append(CoreBankingEventRecord(
            event_id=e.event_id, type=e.type, loan_id=e.loan_id, occurred_at=e.at,
            received_at=e.at, status="delivered", workflow_id=f"loan-{e.loan_id}",
            payload_sha256="0" * 64, business_date=e.due_date))
    for i, a in enumerate(records.contacts):
        out.append(ContactAttempt(
            idempotency_key=f"k-{i}", loan_id=a.loan_id, step=f"step-{i}", channel=a.channel,
            template="reminder", locale="zh-Hans", recipient_masked="****",
            recipient_key="", status=a.status, scheduled_for=a.at, first_attempt_at=a.at,
            last_attempt_at=a.at, tries=1, answered=a.answered, outcome=a.outcome))
    for i, p in enumerate(records.promises):
        out.append(PromiseToPay(
            promise_key=f"p-{i}", loan_id=p.loan_id, source=p.source, made_by="x",
            amount=Decimal("500.00"), due_date=p.due_date, status=p.status, received=ZERO,
            made_at=p.made_at))
    cases = {c.loan_id: c.case_ref for c in records.cases}
    for x in records.legal:
        out.append(LegalCase(
            legal_id=x.legal_id, loan_id=x.loan_id, case_ref=cases[x.loan_id], trigger="rule",
            step="enforcement", claim_total=x.claim_total, recovered=x.recovered,
            opened_at=x.opened_at, updated_at=x.opened_at))
    return out


NOISE = [
    # A case closed before the range: not loaded. An event after it: not loaded.
    CollectionCase(case_ref="H:evt-h1", loan_id="H", workflow_id="loan-H", stage="closed",
                   outcome="cured", arrears=ZERO, days_past_due=0, bucket=None,
                   opened_at=at("2025-10-01"), updated_at=at("2025-11-01"),
                   closed_at=at("2025-11-01")),
    CoreBankingEventRecord(event_id="evt-a9", type="instalment.missed", loan_id="A",
                           occurred_at=at("2026-04-02"), received_at=at("2026-04-02"),
                           status="delivered", workflow_id="loan-A", payload_sha256="0" * 64,
                           business_date=date(2026, 4, 1)),
]


@pytest.fixture
async def portfolio(sessions: async_sessionmaker[AsyncSession]
                    ) -> async_sessionmaker[AsyncSession]:
    async with sessions.begin() as session:
        session.add_all(rows_for(RECORDS) + NOISE)
    return sessions


async def test_loaded_records_are_the_dataset(
        portfolio: async_sessionmaker[AsyncSession]) -> None:
    async with portfolio() as session:
        loaded = await load_kpi_records(session, start=START, end=END, tz=UTC)
    assert {c.case_ref for c in loaded.cases} == {c.case_ref for c in RECORDS.cases}
    assert {(c.case_ref, c.negotiation_started_at, c.legal_opened_at) for c in loaded.cases} \
        == {(c.case_ref, c.negotiation_started_at, c.legal_opened_at) for c in RECORDS.cases}
    assert {e.event_id for e in loaded.events} == {e.event_id for e in RECORDS.events}
    assert len(loaded.contacts) == len(RECORDS.contacts)
    # Promises falling due in the range only (A's 04-05 one is not).
    assert sorted(p.due_date for p in loaded.promises) == sorted(
        p.due_date for p in RECORDS.promises if START <= p.due_date <= END)


@pytest.mark.parametrize("by", ["month", "stage", "channel"])
async def test_report_from_the_database_equals_the_hand_computed_one(
        portfolio: async_sessionmaker[AsyncSession], by: str) -> None:
    expected = compute_kpis(RECORDS, start=START, end=END, tz=UTC, by=by)  # type: ignore[arg-type]
    async with portfolio() as session:
        report = await kpi_report(session, start=START, end=END, tz=UTC,
                                  by=by)  # type: ignore[arg-type]
    assert report == expected
    # Two values of tests/domain/test_kpis.py, for the record.
    if by == "channel":
        recovery = report.get("recovery_rate", ALL)
        assert recovery is not None and recovery.value == Decimal(1) / Decimal(6)
        phone = report.get("right_party_contact_rate", "phone")
        assert phone is not None and (phone.numerator, phone.denominator) == (2, 4)


async def test_bucket_changes_are_loaded_and_make_past_buckets_exact(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """Case H of the dataset with its log in ``bucket_changes`` (rows after the range are
    not loaded): January's report is the hand-computed one of tests/domain/test_kpis.py."""
    log = [BucketChange(change_key=f"{b.case_ref}:{b.sequence}", case_ref=b.case_ref,
                        loan_id="H", sequence=b.sequence, changed_on=b.changed_on,
                        from_bucket=None, to_bucket=b.to_bucket, days_past_due=0,
                        oldest_unpaid_due_date=b.oldest_unpaid_due_date,
                        arrears=Decimal("500.00"), recorded_at=at(b.changed_on.isoformat()))
           for b in H_LOGGED.bucket_changes]
    later = BucketChange(change_key="H:evt-h1:6", case_ref="H:evt-h1", loan_id="H",
                         sequence=6, changed_on=date(2026, 2, 20), from_bucket="M1",
                         to_bucket="M2", days_past_due=31,
                         oldest_unpaid_due_date=date(2026, 1, 20), arrears=ZERO,
                         recorded_at=at("2026-02-20"))
    async with sessions.begin() as session:
        session.add_all([*rows_for(H_LOGGED), *log, later])
    january = date(2026, 1, 1), date(2026, 1, 31)
    async with sessions() as session:
        loaded = await load_kpi_records(session, start=january[0], end=january[1], tz=UTC)
        report = await kpi_report(session, start=january[0], end=january[1], tz=UTC,
                                  by="month")
    assert loaded.bucket_changes == H_LOGGED.bucket_changes
    assert report == compute_kpis(H_LOGGED, start=january[0], end=january[1], tz=UTC,
                                  by="month")
    assert [(t.from_state, t.to_state) for t in report.transitions] == [("M1", "M1")]


# --- overdue report --------------------------------------------------------------------------


async def test_cli_report_table_csv_and_chart(portfolio: async_sessionmaker[AsyncSession],
                                              database_url: str, tmp_path: Path) -> None:
    # The default policy counts days in Asia/Shanghai: every time in the dataset (09:00 to
    # 12:00 UTC) falls on the same date there, so the values are the UTC ones.
    runner = CliRunner()
    env = {"OVERDUE_DATABASE__URL": database_url, "COLUMNS": "200"}
    out_csv, out_svg = tmp_path / "kpis.csv", tmp_path / "kpis.svg"
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(
            runner.invoke, cli_app, ["report", "--from", "2026-01-01", "--to", "2026-03-31",
                                     "--csv", str(out_csv), "--chart", str(out_svg)], env=env)
        assert result.exit_code == 0, result.output
        assert "Collection KPIs 2026-01-01 .. 2026-03-31, by month" in result.output
        line = next(x for x in result.output.splitlines() if "cure_rate " in x
                    and "bucket" not in x)
        assert "33.3%" in line and "0.0%" in line  # 2/6, 0/4, 0/3
        rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
        recovery = next(r for r in rows if r["kpi"] == "recovery_rate"
                        and r["group"] == "2026-01")
        assert (recovery["numerator"], recovery["denominator"], recovery["value"],
                recovery["display"]) == ("2500.00", "10000.00", "0.25", "25.0%")
        svg = ET.fromstring(out_svg.read_text(encoding="utf-8"))
        texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
        assert {"2026-01", "2026-02", "2026-03", "roll M1", "cure rate"} <= set(texts)

        by_stage = await asyncio.to_thread(
            runner.invoke, cli_app, ["report", "--from", "2026-01-01", "--to", "2026-03-31",
                                     "--by", "stage"], env=env)
        assert by_stage.exit_code == 0, by_stage.output
        assert "negotiation" in by_stage.output
        for args, message in ((["--by", "week"], "one of month, stage, channel"),
                              (["--from", "2026-13-01"], "is not a date"),
                              (["--from", "2026-03-01", "--to", "2026-01-01"], "before it"),
                              (["--chart", str(tmp_path / "x.png")], "SVG")):
            bad = await asyncio.to_thread(runner.invoke, cli_app, ["report", *args], env=env)
            assert bad.exit_code == 2, (args, bad.output)
            assert message in bad.output, (args, bad.output)
    finally:
        get_settings.cache_clear()


# --- the officers' API -----------------------------------------------------------------------


class Api:
    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http, self.tokens = http, tokens

    async def get(self, who: str | None, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.http.get(path, headers=headers, params=params)


@pytest.fixture
async def api(portfolio: async_sessionmaker[AsyncSession], database_url: str
              ) -> AsyncIterator[Api]:
    async with portfolio.begin() as session:
        tokens = {who: await issue_token(session, who, role) for who, role in (
            ("ops-li", "ops"), ("sup-liu", "supervisor"), ("col-zhao", "collector"))}
    # No Temporal client: reports read the database only.
    app = create_app(Settings(database=DatabaseSettings(url=database_url)), None, portfolio)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://officers") as http:
        yield Api(http, tokens)


RANGE = {"from": "2026-01-01", "to": "2026-03-31"}


async def test_api_kpis_json_csv_and_chart(api: Api,
                                           portfolio: async_sessionmaker[AsyncSession]) -> None:
    answer = await api.get("ops-li", "/v1/reports/kpis", **RANGE, by="channel")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"], body["by"]) == ("2026-01-01", "2026-03-31", "channel")
    kpis = {(k["kpi"], k["segment"], k["group"]): k for k in body["kpis"]}
    assert kpis[("promise_kept_rate", "", "phone")] | {} == {
        "kpi": "promise_kept_rate", "segment": "", "group": "phone", "numerator": "1",
        "denominator": "2", "value": "0.5", "display": "50.0%"}
    assert kpis[("contacts_per_cure", "", "email")]["display"] == "0.50"
    assert kpis[("roll_rate", "M2", ALL)]["value"] == "1"
    assert [p["cures"] for p in body["series"]] == [2, 0, 0]

    monthly = (await api.get("sup-liu", "/v1/reports/kpis", **RANGE)).json()
    assert {k["group"] for k in monthly["kpis"] if k["kpi"] == "cure_rate"} == {
        "2026-01", "2026-02", "2026-03"}

    as_csv = await api.get("ops-li", "/v1/reports/kpis", **RANGE, format="csv")
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "kpis-2026-01-01-2026-03-31-month.csv" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {"kpi": "cure_rate", "group": "2026-01", "numerator": "2", "denominator": "6"}.items() \
        <= next(r for r in rows if r["kpi"] == "cure_rate" and r["group"] == "2026-01").items()

    chart = await api.get("ops-li", "/v1/reports/kpis/chart.svg", **RANGE)
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert ET.fromstring(chart.text).tag == "{http://www.w3.org/2000/svg}svg"

    # Defaults: the last six months up to today; nothing in them here, and still a report.
    default = await api.get("ops-li", "/v1/reports/kpis")
    assert default.status_code == 200 and len(default.json()["series"]) == 6

    async with portfolio() as session:
        audit = (await session.execute(select(AuditEntry).where(
            AuditEntry.action == "report.read").order_by(AuditEntry.id))).scalars().all()
    assert [(a.officer, a.result) for a in audit][:2] == [("ops-li", "ok"), ("sup-liu", "ok")]
    assert audit[0].detail["range"] == {"from": "2026-01-01", "to": "2026-03-31",
                                        "by": "channel"}


async def test_api_kpis_roles_and_bad_parameters(api: Api) -> None:
    assert (await api.get(None, "/v1/reports/kpis")).status_code == 401
    refused = await api.get("col-zhao", "/v1/reports/kpis")
    assert refused.status_code == 403 and "report.read" in refused.json()["message"]
    assert (await api.get("col-zhao", "/v1/reports/kpis/chart.svg")).status_code == 403
    for params, field in (({"from": "2026-02-30"}, "from"), ({"to": "yesterday"}, "to"),
                          ({"by": "week"}, "by"), ({"format": "xml"}, "format"),
                          ({"from": "2026-03-01", "to": "2026-01-01"}, "from/to"),
                          ({"from": "1999-12-31", "to": "2000-01-31"}, "from/to"),
                          ({"from": "9999-12-01", "to": "9999-12-31"}, "from/to"),
                          ({"from": "2000-01-01", "to": "2199-12-31"}, "from/to")):
        answer = await api.get("ops-li", "/v1/reports/kpis", **params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["message"].startswith(f"{field}: "), answer.json()
    chart = await api.get("ops-li", "/v1/reports/kpis/chart.svg", **{"from": "x"})
    assert chart.status_code == 422 and chart.json()["message"].startswith("from: ")


QUERY_VALUES = st.one_of(
    st.dates().map(date.isoformat), st.text(max_size=12),
    st.sampled_from(["month", "stage", "channel", "csv", "json", "", "2026-01-01",
                     "2026-1-1", "0000-00-00", "9999-12-31", "0001-01-01"]))


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=st.dictionaries(st.sampled_from(["from", "to", "by", "format", "other"]),
                              QUERY_VALUES, max_size=4),
       chart=st.booleans())
async def test_api_kpis_bad_query_is_a_clear_4xx(api: Api, params: dict[str, str],
                                                 chart: bool) -> None:
    path = "/v1/reports/kpis/chart.svg" if chart else "/v1/reports/kpis"
    answer = await api.get("ops-li", path, **params)
    assert answer.status_code in (200, 422), (params, answer.text)
    if answer.status_code == 422:
        body = answer.json()
        assert body["error"] == "invalid_request", body
        field, _, message = body["message"].partition(": ")
        assert field and message, body


@pytest.mark.parametrize("path", ["/v1/reports/kpis", "/v1/reports/kpis/chart.svg"])
async def test_schemathesis_report_operations(api: Api, database_url: str, path: str) -> None:
    if "postgresql" in database_url:
        pytest.skip("fuzzing runs on SQLite only (run time)")
    import schemathesis
    from schemathesis import GenerationMode

    transport = api.http._transport
    assert isinstance(transport, httpx.ASGITransport)
    schema = schemathesis.openapi.from_asgi("/openapi.json", transport.app)
    operation = schema[path]["GET"]
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))
    examples: list[Any] = []

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def generated(case: Any) -> None:
        examples.append(case)

    generated()
    assert examples
    for case in examples:
        params = case.query or {}
        answer = await api.get("ops-li", path, **params)
        assert answer.status_code in (200, 422), (params, answer.text)
        if answer.status_code == 422:
            assert answer.json()["message"].partition(": ")[2], answer.text


def test_side_by_side_rendering() -> None:
    from rich.console import Console

    from domain.kpis import compare
    from overdue.kpi_report import side_by_side, side_by_side_csv

    champion = compute_kpis(RECORDS, start=START, end=END, tz=UTC, by="channel")
    challenger = compute_kpis(
        KpiRecords(cases=RECORDS.cases, events=RECORDS.events, contacts=RECORDS.contacts,
                   promises=RECORDS.promises), start=START, end=END, tz=UTC, by="channel")
    comparisons = compare(champion, challenger)
    console = Console(width=160, record=True, file=io.StringIO(), color_system=None)
    console.print(side_by_side(comparisons, "policy 2026.11-1", "policy 2026.12-1"))
    text = console.export_text()
    line = next(x for x in text.splitlines() if "recovery_rate" in x)
    # Champion 2500.00/15000.00 = 16.7 %; the challenger has no legal cases: no value.
    assert "16.7%" in line and "pt" not in line
    rows = list(csv.DictReader(io.StringIO(side_by_side_csv(comparisons))))
    cure = next(r for r in rows if r["kpi"] == "cure_rate")
    assert (cure["champion"], cure["challenger"], cure["difference"]) == (
        str(Decimal(2) / Decimal(13)), str(Decimal(2) / Decimal(13)), "0")
