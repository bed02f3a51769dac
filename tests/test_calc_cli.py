"""``overdue calc LOAN_ID``: the repayment scenarios of a loan's open case, from the database.

The policy used is a copy of ``policy/default.toml`` with the uplift changed to 0.30, so the
figures prove the command takes the uplift from the policy file. With rate 4.35%, the
penalty rate is 0.0435 x 1.3 = 0.05655 a year; on 1,000.00 that is 56.55 / 360 a day.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from overdue.settings import DatabaseSettings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.migrate import upgrade
from overdue.storage.models import CollectionCase, Customer, Loan
from overdue.storage.selfhelp_queries import calculator_inputs
from tests.dbutil import fresh_database

OVERDUE = Path(sys.executable).parent / "overdue"
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policy" / "default.toml"
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def _case(loan_id: str, ref: str, *, outcome: str | None, arrears: str, oldest: date | None,
          updated: datetime, stage: str = "early") -> CollectionCase:
    return CollectionCase(
        case_ref=ref, loan_id=loan_id, workflow_id=f"loan-{loan_id}", stage=stage,
        outcome=outcome, arrears=Decimal(arrears), days_past_due=0, bucket=None,
        oldest_unpaid_due_date=oldest, assigned_officer=None, policy_version="test",
        opened_at=T0, updated_at=updated,
        closed_at=None if outcome is None else updated)


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database("sqlite", tmp_path) as url:
        await upgrade(url)
        engine = create_engine(DatabaseSettings(url=url))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                session.add(Customer(
                    customer_id="C1", name="Test Customer", phone="+8613800000000",
                    email=None, locale="zh-Hans", timezone=None, birth_year=None,
                    preferred_channel=None, sms_consent=True, email_consent=True,
                    phone_consent=True, updated_at=T0))
                for loan_id in ("L-OPEN", "L-CLOSED"):
                    session.add(Loan(
                        loan_id=loan_id, customer_id="C1", product="consumer", branch="WH-001",
                        currency="CNY", principal_outstanding=Decimal("12000.00"),
                        annual_rate=Decimal("0.043500"), instalment_amount=Decimal("1000.00"),
                        remaining_instalments=12, updated_at=T0))
                await session.flush()  # loans before cases (no FK, but keep the order)
                session.add_all([
                    # The open case, though a closed one was updated later: open wins.
                    _case("L-OPEN", "L-OPEN/1", outcome=None, arrears="1000.00",
                          oldest=date(2026, 1, 15), updated=T0 + timedelta(days=1)),
                    _case("L-OPEN", "L-OPEN/0", outcome="cured", arrears="0.00", oldest=None,
                          updated=T0 + timedelta(days=5), stage="closed"),
                    # Only closed cases: the latest is reported.
                    _case("L-CLOSED", "L-CLOSED/0", outcome="loan_closed", arrears="0.00",
                          oldest=None, updated=T0, stage="closed"),
                    _case("L-CLOSED", "L-CLOSED/1", outcome="cured", arrears="0.00",
                          oldest=None, updated=T0 + timedelta(days=2), stage="closed"),
                ])
        finally:
            await engine.dispose()
        yield url


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    text, replaced = re.subn(r'(?m)^uplift = "0\.50"$', 'uplift = "0.30"',
                             DEFAULT_POLICY.read_text(encoding="utf-8"))
    assert replaced == 1, "policy/default.toml no longer has a single uplift line"
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def run_calc(database_url: str, policy_path: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "OVERDUE_DATABASE__URL": database_url,
           "OVERDUE_POLICY__PATH": str(policy_path), "OVERDUE_LOG_FORMAT": "json"}
    process = await asyncio.create_subprocess_exec(
        str(OVERDUE), "calc", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _cells(output: str) -> list[list[str]]:
    """Table lines split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines()
            if line.startswith("  ")]


async def test_calc_prints_the_scenarios(database_url: str, policy_path: Path) -> None:
    code, out, err = await run_calc(database_url, policy_path, "L-OPEN", "--today", "2026-02-14")
    assert code == 0, err
    assert "Loan L-OPEN - case L-OPEN/1 (early) - as of 2026-02-14" in out
    assert "Arrears ¥1,000.00 since 2026-01-15 (30 days overdue)" in out
    assert "Contract rate 4.35% + penalty uplift 30%" in out
    cells = _cells(out)
    assert cells[:4] == [
        ["when", "pay on", "days overdue", "penalty", "total"],
        # 1000 x 0.05655 x 30 / 360 = 1696.5 / 360 = 4.7125 -> 4.71
        ["today", "2026-02-14", "30", "¥4.71", "¥1,004.71"],
        # 37 days: 2092.35 / 360 = 5.812083... -> 5.81
        ["in 7 days", "2026-02-21", "37", "¥5.81", "¥1,005.81"],
        # 60 days: 3393 / 360 = 9.425 -> half cent, 2 is even -> 9.42
        ["in 30 days", "2026-03-16", "60", "¥9.42", "¥1,009.42"],
    ]
    assert "2 instalments, one every 30 days: total ¥1,011.78" in out
    assert cells[4:7] == [
        ["#", "pay on", "part of arrears", "penalty", "total"],
        # first period 01-15 -> 03-16, 60 days on 1000.00: 9.42
        ["1", "2026-03-16", "¥500.00", "¥9.42", "¥509.42"],
        # 30 days on 500.00: 848.25 / 360 = 2.35625 -> 2.36
        ["2", "2026-04-15", "¥500.00", "¥2.36", "¥502.36"],
    ]  # 509.42 + 502.36 = 1011.78
    assert "3 instalments, one every 30 days" in out
    assert "6 instalments, one every 30 days" in out
    # the columns are aligned (amounts right-aligned): every line of a table has the same width
    first_table = [line for line in out.splitlines() if line.startswith("  ")][:4]
    assert len({len(line) for line in first_table}) == 1


async def test_calc_with_custom_days(database_url: str, policy_path: Path) -> None:
    code, out, err = await run_calc(database_url, policy_path, "L-OPEN", "--today",
                                    "2026-02-14", "--days", "14", "--days", "3")
    assert code == 0, err
    cells = _cells(out)
    assert [row[0] for row in cells[1:4]] == ["today", "in 3 days", "in 14 days"]
    # 44 days: 1000 x 0.05655 x 44 / 360 = 2488.2 / 360 = 6.91166... -> 6.91
    assert cells[3] == ["in 14 days", "2026-02-28", "44", "¥6.91", "¥1,006.91"]
    # 33 days: 1866.15 / 360 = 5.18375 -> 5.18
    assert cells[2] == ["in 3 days", "2026-02-17", "33", "¥5.18", "¥1,005.18"]


async def test_calc_without_open_case(database_url: str, policy_path: Path) -> None:
    code, out, err = await run_calc(database_url, policy_path, "L-CLOSED")
    assert code == 1
    assert "loan L-CLOSED: no open collections case (the latest one closed: cured)" in err
    assert out == ""


async def test_calc_unknown_loan(database_url: str, policy_path: Path) -> None:
    code, _, err = await run_calc(database_url, policy_path, "NOPE")
    assert code == 1
    assert "loan NOPE: no collections case" in err


async def test_calc_bad_today(database_url: str, policy_path: Path) -> None:
    code, _, err = await run_calc(database_url, policy_path, "L-OPEN", "--today", "14/02/2026")
    assert code == 2
    assert "--today" in err
    # before the oldest due date: the calculator refuses, naming the field
    code, _, err = await run_calc(database_url, policy_path, "L-OPEN", "--today", "2026-01-01")
    assert code == 2
    assert "oldest_due" in err


async def test_calculator_inputs_query(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with create_sessionmaker(engine)() as session:
            found = await calculator_inputs(session, "L-OPEN")
            closed = await calculator_inputs(session, "L-CLOSED")
            missing = await calculator_inputs(session, "NOPE")
    finally:
        await engine.dispose()
    assert found is not None and found.is_open
    assert (found.case_ref, found.arrears, found.oldest_unpaid_due_date) == (
        "L-OPEN/1", Decimal("1000.00"), date(2026, 1, 15))
    assert (found.annual_rate, found.currency) == (Decimal("0.043500"), "CNY")
    assert closed is not None and not closed.is_open
    assert (closed.case_ref, closed.outcome) == ("L-CLOSED/1", "cured")
    assert missing is None
