"""The ``overdue`` command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from officer.cli import officer_app
from overdue.logs import configure_logging
from overdue.settings import Settings, get_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from temporalio.client import Client

    from domain.policy import Policy

if TYPE_CHECKING:
    from datetime import date

app = typer.Typer(help="overdue: collections orchestration on Temporal.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
events_app = typer.Typer(help="Core-banking events.", no_args_is_help=True)
policy_app = typer.Typer(help="The collections policy file.", no_args_is_help=True)
case_app = typer.Typer(help="Collections cases.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Local sandboxes of the outside world.", no_args_is_help=True)
dev_app = typer.Typer(help="Local development stack.", no_args_is_help=True)
negotiation_app = typer.Typer(help="Negotiation rounds (officers' commands).",
                              no_args_is_help=True)
legal_app = typer.Typer(help="Legal cases (lawyers' and officers' commands).",
                        no_args_is_help=True)
aftercare_app = typer.Typer(help="Aftercare: satisfaction surveys.", no_args_is_help=True)
early_warning_app = typer.Typer(help="Early warning before delinquency: schedule, scores, AUC.",
                                no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(policy_app, name="policy")
app.add_typer(case_app, name="case")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(dev_app, name="dev")
app.add_typer(negotiation_app, name="negotiation")
app.add_typer(legal_app, name="legal")
app.add_typer(aftercare_app, name="aftercare")
app.add_typer(early_warning_app, name="early-warning")

LEGAL_COMMANDS = {
    "settle": ("offer_settlement", "SettlementInput"),
    "settlement-answer": ("settlement_answer", "SettlementAnswer"),
    "asset-lead": ("add_asset_lead", "AssetLead"),
}
CASE_COMMANDS = {
    "legal-override": ("legal_override", "LegalOverride"),
    "write-off": ("write_off", "WriteOff"),
    "transfer": ("transfer", "Transfer"),
}

NEGOTIATION_COMMANDS = {
    "assign": ("assign_negotiator", "AssignInput"),
    "assess": ("record_assessment", "AssessmentInput"),
    "propose": ("propose_options", "ProposeInput"),
    "answer": ("record_customer_answer", "AnswerInput"),
    "approve": ("approve_agreement", "ApprovalInput"),
    "promise": ("record_promise", "PromiseInput"),
}


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from overdue.storage.migrate import upgrade

    settings = _settings()
    asyncio.run(upgrade(settings.database.url, revision))
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    from overdue.storage.migrate import downgrade

    settings = _settings()
    asyncio.run(downgrade(settings.database.url, revision))
    typer.echo(f"database at {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from overdue.storage.migrate import current

    settings = _settings()
    typer.echo(asyncio.run(current(settings.database.url)) or "(empty database)")


@policy_app.command("check")
def policy_check(path: Path) -> None:
    """Validate a policy file; the error names the field."""
    from overdue.policy_file import PolicyFileError, load_policy

    try:
        policy = load_policy(path)
    except PolicyFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{path}: policy {policy.version} is valid "
               f"({len(policy.reminders.ladder)} reminder step(s))")


@app.command("worker")
def worker_command() -> None:
    """Run a Temporal worker for collections cases."""
    import worker

    settings = _settings()
    asyncio.run(worker.run_worker(settings))


@app.command("intake")
def intake_command(host: str | None = None, port: int | None = None) -> None:
    """Serve the core-banking intake API."""
    import uvicorn

    from starter.api import create_app

    settings = _settings()
    uvicorn.run(create_app(settings), host=host or settings.intake.host,
                port=port or settings.intake.port, log_config=None)


@events_app.command("replay")
def events_replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    concurrency: int = 32,
) -> None:
    """Feed a JSON-lines file of core-banking events (e.g. a month-end batch)."""
    from tqdm import tqdm

    from overdue.storage.engine import create_engine, create_sessionmaker
    from overdue.temporal import connect
    from starter.intake import IntakeService
    from starter.replay import replay_file

    settings = _settings()
    total = sum(1 for line in file.open("rb") if line.strip())

    async def go() -> int:
        engine = create_engine(settings.database)
        client = await connect(settings.temporal)
        service = IntakeService(create_sessionmaker(engine), client, settings.temporal.task_queue)
        try:
            with tqdm(total=total, unit="event", desc=file.name) as bar:
                report = await replay_file(service, file, concurrency=concurrency,
                                           progress=bar.update)
        finally:
            await engine.dispose()
        typer.echo(f"{report.read} read, {report.accepted} accepted, {report.recorded} "
                   f"recorded for early warning, {report.duplicate} "
                   f"duplicate, {report.conflict} conflicting, {report.loan_closed} for closed "
                   f"loans (kept), {len(report.invalid)} invalid, {len(report.failed)} failed")
        for line in report.invalid + report.failed:
            typer.echo(f"  {line}", err=True)
        return 0 if report.ok else 1

    raise typer.Exit(asyncio.run(go()))


@case_app.command("show")
def case_show(loan_id: str) -> None:
    """Print a case's state (the workflow's query), as JSON."""
    from domain.case import QUERY_STATE, CaseView, workflow_id_for
    from overdue.temporal import connect

    settings = _settings()

    async def go() -> str:
        client = await connect(settings.temporal)
        handle = client.get_workflow_handle(workflow_id_for(loan_id))
        view: CaseView = await handle.query(QUERY_STATE, result_type=CaseView)
        return view.model_dump_json(indent=2)

    typer.echo(asyncio.run(go()))


async def _signal_case(loan_id: str, signal: str, arg: object) -> None:
    from domain.case import workflow_id_for
    from overdue.temporal import connect

    client = await connect(get_settings().temporal)
    await client.get_workflow_handle(workflow_id_for(loan_id)).signal(signal, arg)


@case_app.command("hardship")
def case_hardship(
    loan_id: str,
    kind: Annotated[str, typer.Option(help="illness, unemployment, disaster, bereavement, other")],
    officer: Annotated[str, typer.Option(help="Who flags it (recorded)")],
) -> None:
    """Flag special circumstances: a dedicated representative takes over, the ladder pauses."""
    from pydantic import ValidationError

    from domain.case import SIGNAL_HARDSHIP, HardshipFlag

    _settings()
    try:
        flag = HardshipFlag.model_validate({"kind": kind, "flagged_by": officer})
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--kind") from exc
    asyncio.run(_signal_case(loan_id, SIGNAL_HARDSHIP, flag))
    typer.echo(f"loan {loan_id}: special circumstances ({kind}) flagged by {officer}")


@case_app.command("representative-done")
def case_representative_done(
    loan_id: str, representative: str,
    outcome: Annotated[str, typer.Option(
        help="resume_collection, arrangement_made or handled")] = "handled",
) -> None:
    """The representative has handled the special circumstances: the ladder resumes."""
    from pydantic import ValidationError

    from domain.case import SIGNAL_REPRESENTATIVE_UPDATE, RepresentativeUpdate

    _settings()
    try:
        update = RepresentativeUpdate.model_validate(
            {"representative": representative, "outcome": outcome})
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--outcome") from exc
    asyncio.run(_signal_case(loan_id, SIGNAL_REPRESENTATIVE_UPDATE, update))
    typer.echo(f"loan {loan_id}: representative {representative} reported {outcome}")


@case_app.command("dispute")
def case_dispute(
    loan_id: str,
    officer: Annotated[str, typer.Option(help="Who records it")],
    resolved: Annotated[bool, typer.Option("--resolved/--open",
                                           help="Open a dispute or mark it resolved")] = False,
) -> None:
    """Open a dispute (collection pauses) or mark it resolved (collection resumes)."""
    from domain.case import SIGNAL_DISPUTE, DisputeUpdate

    _settings()
    asyncio.run(_signal_case(loan_id, SIGNAL_DISPUTE, DisputeUpdate(open=not resolved,
                                                                    by=officer)))
    typer.echo(f"loan {loan_id}: dispute {'resolved' if resolved else 'opened'} by {officer}")


async def _current_negotiation(loan_id: str) -> str:
    from domain.case import QUERY_STATE, CaseView, workflow_id_for
    from overdue.temporal import connect

    client = await connect(get_settings().temporal)
    view: CaseView = await client.get_workflow_handle(workflow_id_for(loan_id)).query(
        QUERY_STATE, result_type=CaseView)
    if view.negotiation_id is None:
        raise typer.BadParameter(f"loan {loan_id} has no negotiation round open "
                                 f"(stage {view.stage})", param_hint="LOAN_ID")
    return view.negotiation_id


@negotiation_app.command("show")
def negotiation_show(loan_id: str) -> None:
    """The open round: negotiator, assessment, proposals with schedules, history."""
    from domain.negotiation import QUERY_NEGOTIATION, NegotiationState
    from overdue.temporal import connect

    _settings()

    async def go() -> str:
        client = await connect(get_settings().temporal)
        handle = client.get_workflow_handle(await _current_negotiation(loan_id))
        state: NegotiationState = await handle.query(QUERY_NEGOTIATION,
                                                     result_type=NegotiationState)
        return state.model_dump_json(indent=2)

    typer.echo(asyncio.run(go()))


@negotiation_app.command("do")
def negotiation_do(
    loan_id: str,
    command: Annotated[str, typer.Argument(help=", ".join(NEGOTIATION_COMMANDS))],
    payload: Annotated[str, typer.Argument(help="The command's JSON, e.g. "
                                                '\'{"officer": "neg-wang"}\'')],
) -> None:
    """Send an officer's command to the open round; a refused command says why."""
    import domain.negotiation as negotiation

    _settings()
    if command not in NEGOTIATION_COMMANDS:
        raise typer.BadParameter(f"one of {', '.join(NEGOTIATION_COMMANDS)}",
                                 param_hint="COMMAND")
    update, model_name = NEGOTIATION_COMMANDS[command]
    body = _parse(negotiation, model_name, payload)
    _update(asyncio.run(_current_negotiation(loan_id)), update, body)


def _update(workflow_id: str, update: str, body: object) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    from overdue.temporal import connect

    async def go() -> str:
        client = await connect(get_settings().temporal)
        result = await client.get_workflow_handle(workflow_id).execute_update(update, body)
        return json.dumps(result, ensure_ascii=False, indent=2, default=str)

    try:
        typer.echo(asyncio.run(go()))
    except WorkflowUpdateFailedError as exc:
        typer.echo(f"refused: {exc.cause}", err=True)
        raise typer.Exit(1) from exc


def _parse(module: object, model_name: str, payload: str) -> object:
    from pydantic import ValidationError

    try:
        return getattr(module, model_name).model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                                 param_hint="PAYLOAD") from exc


@case_app.command("do")
def case_do(
    loan_id: str,
    command: Annotated[str, typer.Argument(help=", ".join(CASE_COMMANDS))],
    payload: Annotated[str, typer.Argument(help="The command's JSON")],
) -> None:
    """Officers' decisions on a case: legal override, write-off, transfer (validated)."""
    import domain.case as case_models

    _settings()
    if command not in CASE_COMMANDS:
        raise typer.BadParameter(f"one of {', '.join(CASE_COMMANDS)}", param_hint="COMMAND")
    update, model_name = CASE_COMMANDS[command]
    _update(case_models.workflow_id_for(loan_id), update,
            _parse(case_models, model_name, payload))


@legal_app.command("show")
def legal_show(loan_id: str, number: int = 1) -> None:
    """A legal case: step, claim, hearing, judgment, enforcement, settlement, history."""
    from domain.legal_case import QUERY_LEGAL, LegalState, legal_id_for
    from overdue.temporal import connect

    _settings()

    async def go() -> str:
        client = await connect(get_settings().temporal)
        state: LegalState = await client.get_workflow_handle(
            legal_id_for(loan_id, number)).query(QUERY_LEGAL, result_type=LegalState)
        return state.model_dump_json(indent=2)

    typer.echo(asyncio.run(go()))


@legal_app.command("do")
def legal_do(
    loan_id: str,
    command: Annotated[str, typer.Argument(help=", ".join(LEGAL_COMMANDS))],
    payload: Annotated[str, typer.Argument(help="The command's JSON")],
    number: int = 1,
) -> None:
    """Offer a settlement, record the customer's answer, or supply an asset lead."""
    import domain.legal_case as legal_models

    _settings()
    if command not in LEGAL_COMMANDS:
        raise typer.BadParameter(f"one of {', '.join(LEGAL_COMMANDS)}", param_hint="COMMAND")
    update, model_name = LEGAL_COMMANDS[command]
    _update(legal_models.legal_id_for(loan_id, number), update,
            _parse(legal_models, model_name, payload))


@aftercare_app.command("report")
def aftercare_report() -> None:
    """Satisfaction surveys by case outcome: sent, answered, average rating, fairness."""
    from overdue.storage.aftercare_queries import survey_summary
    from overdue.storage.engine import create_engine, create_sessionmaker

    settings = _settings()

    async def go() -> list[tuple[str, int, int, str, str]]:
        engine = create_engine(settings.database)
        try:
            async with create_sessionmaker(engine)() as session:
                return await survey_summary(session)
        finally:
            await engine.dispose()

    rows = asyncio.run(go())
    typer.echo(f"{'outcome':<14}{'sent':>6}{'answered':>10}{'avg rating':>12}{'fair':>8}")
    for outcome, sent, answered, rating, fair in rows:
        typer.echo(f"{outcome:<14}{sent:>6}{answered:>10}{rating:>12}{fair:>8}")


def _report_date(value: str | None, option: str) -> date | None:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)",
                                 param_hint=option) from None


@app.command("report")
def report(
    date_from: Annotated[str | None, typer.Option(
        "--from", help="First day (YYYY-MM-DD); default: the first day of the month five "
                       "months back")] = None,
    date_to: Annotated[str | None, typer.Option(
        "--to", help="Last day (YYYY-MM-DD); default: today in the bank's time zone")] = None,
    by: Annotated[str, typer.Option(help="Group by month, stage or channel")] = "month",
    csv_file: Annotated[Path | None, typer.Option(
        "--csv", help="Also write the KPIs as CSV (exact values) to FILE")] = None,
    chart: Annotated[Path | None, typer.Option(
        "--chart", help="Also write an SVG chart of roll rates and cures per month")] = None,
) -> None:
    """Collection KPIs (cure, roll, promise-kept, right-party-contact and recovery rates,
    contacts per cure) from the database; definitions in docs/kpis.md."""
    from datetime import datetime

    from rich.console import Console

    from domain.kpis import DIMENSIONS, KpiRecords, check_range, compute_kpis
    from overdue.kpi_report import table, to_csv, to_svg
    from overdue.policy_file import load_policy
    from overdue.storage.engine import create_engine, create_sessionmaker
    from overdue.storage.kpi_queries import (
        default_range,
        load_kpi_records,
        policy_buckets,
        policy_zone,
    )

    if by not in DIMENSIONS:
        raise typer.BadParameter(f"one of {', '.join(DIMENSIONS)}", param_hint="--by")
    if chart is not None and chart.suffix.lower() != ".svg":
        raise typer.BadParameter("the chart is an SVG file (FILE.svg)", param_hint="--chart")
    settings = _settings()
    policy = load_policy(settings.policy.path)
    tz = policy_zone(policy)
    start_default, end_default = default_range(datetime.now(tz).date())
    end = _report_date(date_to, "--to") or end_default
    try:
        start = _report_date(date_from, "--from") or (
            start_default if date_to is None else default_range(end)[0])
        check_range(start, end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None

    async def go() -> KpiRecords:
        engine = create_engine(settings.database)
        try:
            async with create_sessionmaker(engine)() as session:
                return await load_kpi_records(session, start=start, end=end, tz=tz)
        finally:
            await engine.dispose()

    records = asyncio.run(go())
    result = compute_kpis(records, start=start, end=end, tz=tz, by=by,
                          buckets=policy_buckets(policy))
    Console().print(table(result))
    if csv_file is not None:
        csv_file.write_text(to_csv(result), encoding="utf-8")
        typer.echo(f"CSV written to {csv_file}")
    if chart is not None:
        chart.write_text(to_svg(result), encoding="utf-8")
        typer.echo(f"chart written to {chart}")


@app.command("simulate")
def simulate(
    policy_path: Annotated[Path, typer.Option(
        "--policy", help="The champion policy (e.g. policy/default.toml)")],
    vs: Annotated[Path, typer.Option(
        "--vs", help="The challenger policy (e.g. policy/challenger.toml)")],
    loans: Annotated[int, typer.Option(min=1, help="Loans in the synthetic portfolio")] = 1000,
    days: Annotated[int, typer.Option(min=1, max=400, help="Case days simulated")] = 120,
    seed: Annotated[int, typer.Option(help="Seed of the customers' behaviour")] = 7,
    by: Annotated[str, typer.Option(help="Group the KPIs by channel, stage or month")
                  ] = "channel",
    csv_file: Annotated[Path | None, typer.Option(
        "--csv", help="Also write the KPIs side by side as CSV (exact values) to FILE")] = None,
    workdir: Annotated[Path | None, typer.Option(
        help="Keep each run's database and sandbox logs here (default: a temporary "
             "directory)")] = None,
    concurrency: Annotated[int, typer.Option(
        min=1, max=512, help="Events and call outcomes in flight at once")] = 64,
) -> None:
    """Run a synthetic portfolio through the real workflows under two policies (champion
    and challenger) on the time-skipping server; print their KPIs side by side."""
    import time

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from domain.kpis import DIMENSIONS
    from overdue.simulation.report import comparison_csv, kpi_table, portfolio_table
    from overdue.simulation.run import SimulationConfig
    from overdue.simulation.run import simulate as run_simulation

    if by not in DIMENSIONS:
        raise typer.BadParameter(f"one of {', '.join(DIMENSIONS)}", param_hint="--by")
    champion = _policy_or_exit(policy_path)
    challenger = _policy_or_exit(vs)
    settings = get_settings()
    # Thousands of cases: only errors (the legal team's reminders are warnings).
    configure_logging("ERROR", settings.log_format)
    config = SimulationConfig(loans=loans, days=days, seed=seed, by=by,
                              concurrency=concurrency, workdir=workdir)
    console = Console()
    console.print(f"Simulating {loans} loans over {days} days (seed {seed}): champion "
                  f"{policy_path} ({champion.version}) vs challenger {vs} "
                  f"({challenger.version})")
    began = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("days"), TimeElapsedColumn(), console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        result = asyncio.run(run_simulation(policy_path, vs, config, progress))
    console.print(kpi_table(result))
    console.print(portfolio_table(result))
    console.print(f"run time {time.monotonic() - began:.1f} s "
                  f"(champion {result.champion.seconds:.1f} s, "
                  f"challenger {result.challenger.seconds:.1f} s)")
    if csv_file is not None:
        csv_file.write_text(comparison_csv(result), encoding="utf-8")
        typer.echo(f"CSV written to {csv_file}")


@sandbox_app.command("legal")
def sandbox_legal(host: str = "127.0.0.1", port: int = 8029, store: Path | None = None) -> None:
    """Run the legal case-management sandbox (lawyers, courts, bailiffs; signed callbacks)."""
    from sandbox.legal_system import run

    _settings()
    run(host, port, store)


@app.command("codec-server")
def codec_server(host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve /encode and /decode so the Web UI and the CLI can show decrypted payloads."""
    from overdue.codec_server import run

    settings = _settings()
    run(host, port or settings.codec_server_port, settings.codec)


@sandbox_app.command("smtp")
def sandbox_smtp(host: str = "127.0.0.1", smtp_port: int = 8026, http_port: int = 8027,
                 store: Path | None = None) -> None:
    """Run the SMTP sink (stores every e-mail; listing API on the HTTP port)."""
    from sandbox.smtp_sink import run

    _settings()
    run(host, smtp_port, http_port, store)


@sandbox_app.command("contact-centre")
def sandbox_contact_centre(host: str = "127.0.0.1", port: int = 8028,
                           store: Path | None = None) -> None:
    """Run the contact-centre sandbox (phone tasks, agents' outcomes, callbacks)."""
    from sandbox.contact_centre import run

    _settings()
    run(host, port, store)


@sandbox_app.command("sms")
def sandbox_sms(host: str = "127.0.0.1", port: int = 8025,
                store: Path | None = None) -> None:
    """Run the SMS gateway sandbox (records messages, honours idempotency keys)."""
    from sandbox.sms_gateway import run

    _settings()
    run(host, port, store)


@dev_app.command("up")
def dev_up(policy: Path = Path("policy/demo.toml"), demo_events: bool = True) -> None:
    """Start the whole local stack (what `make run` runs) and feed demo events."""
    from overdue.devstack import run_stack

    raise typer.Exit(run_stack(policy=policy, feed_demo=demo_events))


@events_app.command("post")
def events_post(
    event: Annotated[str, typer.Argument(help="The event's JSON, or @FILE")],
    url: str | None = None,
) -> None:
    """Post one core-banking event to the intake API, HMAC-signed as core banking does."""
    import httpx

    from starter.signing import signed_headers

    settings = _settings()
    body = (Path(event[1:]).read_bytes() if event.startswith("@") else event.encode())
    target = url or f"http://{settings.intake.host}:{settings.intake.port}"
    response = httpx.post(
        f"{target}/v1/core-banking/events", content=body, timeout=30,
        headers=signed_headers(settings.intake.hmac_secret.get_secret_value().encode(), body))
    typer.echo(f"{response.status_code} {response.text}")
    raise typer.Exit(0 if response.status_code < 300 else 1)


@events_app.command("demo")
def events_demo(out: Path = Path(".data/demo-events.jsonl"), loans: int = 5) -> None:
    """Write a JSON-lines file of demo instalment.missed events due yesterday."""
    from overdue.demo import demo_events

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as handle:
        for event in demo_events(loans):
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {loans} events to {out}")


@app.command("calc")
def calc_command(
    loan_id: str,
    days: Annotated[list[int] | None, typer.Option(
        "--days", min=0, help="Pay in full N days from today (repeatable; default 0 7 30).")
    ] = None,
    today: Annotated[str | None, typer.Option(
        help="YYYY-MM-DD (default: today in the policy's time zone).")] = None,
) -> None:
    """Repayment scenarios of a loan's open case: pay now, later, or in instalments."""
    from datetime import date, datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from domain.calculator import (
        DEFAULT_DAY_BASIS,
        INSTALMENT_INTERVAL_DAYS,
        CalculatorError,
        repayment_scenarios,
    )
    from domain.money import format_amount
    from overdue.policy_file import PolicyFileError, load_policy
    from overdue.storage.engine import create_engine, create_sessionmaker
    from overdue.storage.selfhelp_queries import CalculatorInputs, calculator_inputs

    settings = _settings()
    try:
        policy = load_policy(settings.policy.path)
    except PolicyFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    try:
        as_of = (date.fromisoformat(today) if today is not None
                 else datetime.now(ZoneInfo(policy.case.timezone)).date())
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--today") from exc

    async def load() -> CalculatorInputs | None:
        engine = create_engine(settings.database)
        try:
            async with create_sessionmaker(engine)() as session:
                return await calculator_inputs(session, loan_id)
        finally:
            await engine.dispose()

    found = asyncio.run(load())
    if found is None or not found.is_open:
        why = ("no collections case" if found is None
               else f"no open collections case (the latest one closed: {found.outcome})")
        typer.echo(f"loan {loan_id}: {why}", err=True)
        raise typer.Exit(1)
    if found.oldest_unpaid_due_date is None or found.arrears <= 0:
        typer.echo(f"loan {loan_id}: the open case has no arrears to calculate", err=True)
        raise typer.Exit(1)
    if found.annual_rate is None or found.currency is None:
        typer.echo(f"loan {loan_id}: no loan snapshot (contract rate unknown)", err=True)
        raise typer.Exit(1)
    uplift = policy.penalty.uplift
    try:
        scenarios = repayment_scenarios(
            arrears=found.arrears, oldest_due=found.oldest_unpaid_due_date, today=as_of,
            annual_rate=found.annual_rate, uplift=uplift,
            in_days=[0, *days] if days else (0, 7, 30))
    except CalculatorError as exc:
        typer.echo(f"loan {loan_id}: cannot calculate: {exc}", err=True)
        raise typer.Exit(2) from exc

    currency = found.currency

    def money(amount: Decimal) -> str:
        return format_amount(amount, currency)

    def table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
        return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                                 for i, (cell, w) in enumerate(zip(line, widths, strict=True))
                                 ).rstrip()
                for line in (header, *rows)]

    def percent(fraction: Decimal) -> str:
        return f"{(fraction * 100).normalize():f}%"

    lines = [
        f"Loan {loan_id} - case {found.case_ref} ({found.stage}) - as of {as_of.isoformat()}",
        f"Arrears {money(found.arrears)} since {found.oldest_unpaid_due_date.isoformat()} "
        f"({scenarios.today.days_overdue} days overdue)",
        f"Contract rate {percent(found.annual_rate)} + penalty uplift {percent(uplift)} "
        f"(policy {policy.version}), {DEFAULT_DAY_BASIS}-day year",
        "",
        "Pay the arrears in full",
    ]
    pays = (scenarios.today, *scenarios.later)
    lines += table(
        ["when", "pay on", "days overdue", "penalty", "total"],
        [["today" if pay.label == "today" else f"in {(pay.pay_on - as_of).days} days",
          pay.pay_on.isoformat(), str(pay.days_overdue), money(pay.penalty), money(pay.total)]
         for pay in pays],
        right={2, 3, 4})
    for option in scenarios.plans:
        lines += ["", f"{option.instalments} instalments, one every "
                      f"{INSTALMENT_INTERVAL_DAYS} days: "
                      f"total {money(option.total)}"]
        lines += table(
            ["#", "pay on", "part of arrears", "penalty", "total"],
            [[str(row.number), row.pay_on.isoformat(), money(row.principal_part),
              money(row.penalty), money(row.total)] for row in option.rows],
            right={0, 2, 3, 4})
    lines += ["", "An estimate: penalty on the whole overdue amount, no interest on penalty."]
    typer.echo("\n".join(lines))


app.add_typer(officer_app, name="officer",
              help="Officers' tools: tokens, and commands through the officer API.")


def main() -> None:
    app()


def _policy_or_exit(path: Path) -> Policy:
    from overdue.policy_file import PolicyFileError, load_policy

    try:
        return load_policy(path)
    except PolicyFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _on_schedule(action: Callable[[Client, Policy, str], Awaitable[str]]) -> tuple[str, Policy]:
    """``action`` on the early-warning schedule with the configured Temporal and policy."""
    from overdue.temporal import connect

    settings = _settings()
    policy = _policy_or_exit(settings.policy.path)

    async def go() -> str:
        client = await connect(settings.temporal)
        return await action(client, policy, settings.temporal.task_queue)

    return asyncio.run(go()), policy


@early_warning_app.command("schedule")
def early_warning_schedule() -> None:
    """Create or update the daily schedule of the early-warning sweep (idempotent).

    The worker does the same when it starts."""
    from overdue.early_warning import ensure_early_warning_schedule

    result, policy = _on_schedule(ensure_early_warning_schedule)
    ew = policy.early_warning
    when = (f"daily at {ew.run_at} {policy.case.timezone}" if ew and ew.enabled
            else "paused (early warning disabled in the policy)")
    typer.echo(f"schedule early-warning-daily {result}: {when}, policy {policy.version}")


@early_warning_app.command("run-now")
def early_warning_run_now() -> None:
    """Run the early-warning sweep now, as the schedule's daily run would (it scores the
    instalments due within the lead days that no earlier run settled)."""
    from overdue.early_warning import sweep_now

    state, policy = _on_schedule(sweep_now)
    typer.echo(f"early-warning sweep triggered (schedule {state}, policy {policy.version}); "
               f"see the workflows with id early-warning-sweep-* and "
               f"`overdue early-warning show <loan>`")


@early_warning_app.command("evaluate")
def early_warning_evaluate(
    loans: Annotated[int, typer.Option(min=10, help="Loans in the generated portfolio")] = 10000,
    seed: Annotated[int, typer.Option(help="Seed of the generator")] = 7,
    policy_path: Annotated[Path | None, typer.Option(
        "--policy", help="Policy file (default: the configured one)")] = None,
) -> None:
    """The model's discrimination (AUC) on a generated portfolio with known outcomes."""
    from overdue.early_warning import evaluate

    settings = get_settings()
    policy = _policy_or_exit(policy_path or settings.policy.path)
    try:
        result = evaluate(policy, loans, seed)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"policy {policy.version}: {loans} generated loans, seed {seed}")
    typer.echo(f"AUC {float(result.auc):.4f} (hidden-risk ceiling {float(result.oracle_auc):.4f})")
    typer.echo(f"missed the instalment: {result.missed_rate:.1%} of loans; "
               f"mean predicted {result.mean_probability:.1%}")
    threshold = policy.early_warning.threshold if policy.early_warning else "-"
    typer.echo(f"flagged (probability >= {threshold}): {result.flagged_rate:.1%}; "
               f"missed among flagged {result.missed_rate_flagged:.1%}, among the others "
               f"{result.missed_rate_not_flagged:.1%}")


@early_warning_app.command("show")
def early_warning_show(loan_id: str) -> None:
    """A loan's early-warning scores: probability, factors (largest effect first), reminder."""
    from sqlalchemy import select

    from overdue.storage.engine import create_engine, create_sessionmaker
    from overdue.storage.models import EarlyWarning

    settings = _settings()

    async def go() -> list[EarlyWarning]:
        engine = create_engine(settings.database)
        try:
            async with create_sessionmaker(engine)() as session:
                return list((await session.execute(
                    select(EarlyWarning).where(EarlyWarning.loan_id == loan_id)
                    .order_by(EarlyWarning.due_date))).scalars())
        finally:
            await engine.dispose()

    rows = asyncio.run(go())
    if not rows:
        typer.echo(f"loan {loan_id}: no early-warning score")
        raise typer.Exit(1)
    for row in rows:
        typer.echo(f"due {row.due_date} ({row.amount_due}): probability {row.probability} "
                   f"(threshold {row.threshold}) {'FLAGGED' if row.flagged else 'not flagged'}"
                   f"; reminder {row.reminder_status}"
                   f"{' by ' + row.reminder_channel if row.reminder_channel else ''}; "
                   f"scored {row.scored_on} on policy {row.policy_version}")
        typer.echo(f"  intercept {row.factors.get('intercept')}, "
                   f"log-odds {row.factors.get('log_odds')}")
        for factor in row.factors.get("factors", []):
            note = f" ({factor['note']})" if factor.get("note") else ""
            typer.echo(f"  {factor['feature']:<26} value {factor['value']:>8} x weight "
                       f"{factor['weight']:>7} = {factor['contribution']:>8}{note}")
