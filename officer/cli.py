"""``overdue officer ...``: tokens (straight in the database) and calls to the officers' API.

    overdue officer token issue neg-wang negotiator      # prints the token once
    overdue officer token revoke tok_0123456789abcdef
    export OVERDUE_OFFICER_TOKEN=ovd_...
    overdue officer call show LOAN_ID
    overdue officer call negotiation-propose LOAN_ID '{"officer": "neg-wang"}'
    overdue officer search --stage negotiation --min-dpd 30
    overdue officer serve                                # the API on 127.0.0.1:8001
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

officer_app = typer.Typer(help="Officers: API tokens and calls to the officers' API.",
                          no_args_is_help=True)
token_app = typer.Typer(help="API tokens (written straight to the database).",
                        no_args_is_help=True)
officer_app.add_typer(token_app, name="token")

DEFAULT_URL = "http://127.0.0.1:8001"
TOKEN_ENV = "OVERDUE_OFFICER_TOKEN"  # noqa: S105 (the variable's name)

# CLI action -> (HTTP method, path under /v1/cases/{loan_id}).
CALLS: dict[str, tuple[str, str]] = {
    "show": ("GET", ""),
    "history": ("GET", "/history"),
    "hardship": ("POST", "/hardship"),
    "representative-done": ("POST", "/representative-done"),
    "dispute": ("POST", "/dispute"),
    "call-outcome": ("POST", "/call-outcome"),
    "legal-override": ("POST", "/legal-override"),
    "write-off": ("POST", "/write-off"),
    "transfer": ("POST", "/transfer"),
    "negotiation": ("GET", "/negotiation"),
    "negotiation-assign": ("POST", "/negotiation/assign"),
    "negotiation-assess": ("POST", "/negotiation/assess"),
    "negotiation-propose": ("POST", "/negotiation/propose"),
    "negotiation-answer": ("POST", "/negotiation/answer"),
    "negotiation-approve": ("POST", "/negotiation/approve"),
    "negotiation-promise": ("POST", "/negotiation/promise"),
    "legal": ("GET", "/legal"),
    "legal-settle": ("POST", "/legal/settle"),
    "legal-settlement-answer": ("POST", "/legal/settlement-answer"),
    "legal-asset-lead": ("POST", "/legal/asset-lead"),
    "legal-step": ("POST", "/legal/step"),
}

Url = Annotated[str, typer.Option(help="The officers' API")]
Token = Annotated[str, typer.Option(envvar=TOKEN_ENV, show_default=False,
                                    help=f"Your bearer token (or ${TOKEN_ENV})")]


@officer_app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve the officers' API (OpenAPI docs at /docs)."""
    import uvicorn

    from officer.api import create_app
    from overdue.logs import configure_logging
    from overdue.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


@token_app.command("issue")
def token_issue(officer: str, role: str) -> None:
    """Issue a token for OFFICER acting as ROLE; the token is shown only this once."""
    from officer.tokens import issue
    from overdue.settings import Settings
    from overdue.storage.engine import create_engine, create_sessionmaker

    async def go() -> dict[str, str]:
        engine = create_engine(Settings().database)
        try:
            async with create_sessionmaker(engine).begin() as session:
                issued = await issue(session, officer, role)
        finally:
            await engine.dispose()
        return {"token_id": issued.token_id, "officer": issued.officer, "role": issued.role,
                "token": issued.token}

    try:
        typer.echo(json.dumps(asyncio.run(go()), indent=2))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (``tok_...``); it stops working at once."""
    from officer.tokens import revoke
    from overdue.settings import Settings
    from overdue.storage.engine import create_engine, create_sessionmaker

    async def go() -> bool:
        engine = create_engine(Settings().database)
        try:
            async with create_sessionmaker(engine).begin() as session:
                return await revoke(session, token_id)
        finally:
            await engine.dispose()

    if not asyncio.run(go()):
        typer.echo(f"no active token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"token_id": token_id, "revoked": True}))


def _show(response: httpx.Response) -> None:
    try:
        body: Any = response.json()
    except ValueError:
        body = {"status": response.status_code, "body": response.text}
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    if response.status_code >= 400:
        raise typer.Exit(1)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@officer_app.command("call")
def call(
    action: Annotated[str, typer.Argument(help=", ".join(CALLS))],
    loan_id: str,
    payload: Annotated[str | None, typer.Argument(help="The command's JSON body")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Call the officers' API for one loan and print its JSON answer (exit 1 on an error)."""
    if action not in CALLS:
        raise typer.BadParameter(f"one of {', '.join(CALLS)}", param_hint="ACTION")
    if not token:
        raise typer.BadParameter(f"--token or ${TOKEN_ENV} is required", param_hint="--token")
    method, suffix = CALLS[action]
    body: Any = None
    if method == "POST":
        try:
            body = json.loads(payload or "{}")
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="PAYLOAD") from exc
    elif payload:
        raise typer.BadParameter(f"{action} takes no body", param_hint="PAYLOAD")
    path = f"{url.rstrip('/')}/v1/cases/{quote(loan_id, safe='')}{suffix}"
    response = httpx.request(method, path, json=body, headers=_headers(token), timeout=60)
    _show(response)


@officer_app.command("search")
def search(
    stage: str | None = None, bucket: str | None = None, branch: str | None = None,
    min_dpd: int | None = None, limit: int = 50, url: Url = DEFAULT_URL, token: Token = "",
) -> None:
    """Search cases (Temporal visibility and the database, both shown)."""
    if not token:
        raise typer.BadParameter(f"--token or ${TOKEN_ENV} is required", param_hint="--token")
    params = {k: v for k, v in (("stage", stage), ("bucket", bucket), ("branch", branch),
                                ("min_dpd", min_dpd), ("limit", limit)) if v is not None}
    _show(httpx.get(f"{url.rstrip('/')}/v1/cases", params=params, headers=_headers(token),
                    timeout=60))
