"""`make run`: the whole stack on one machine, stopped cleanly with Ctrl-C.

Temporal dev server (SQLite file under .data/, UI on 8233, search attributes registered),
SMS gateway sandbox, worker and intake API, each a child process; then demo events.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from overdue.demo import demo_events, due_soon_events, payment_for
from overdue.settings import DATA_DIR, PROJECT_ROOT, get_settings
from starter.signing import signed_headers
from workflows.search_attributes import dev_server_flags

BIN = Path(sys.executable).parent
SMTP_SINK_HTTP_PORT = 8027
"""The SMTP sink's listing API (the SMTP port itself is OVERDUE_SMTP__PORT, 8026)."""


def temporal_server_command(host: str, port: int, ui_port: int, db_file: Path,
                            codec_endpoint: str | None = None) -> list[str]:
    return [
        str(BIN / "temporal"), "server", "start-dev",
        "--ip", host, "--port", str(port), "--ui-port", str(ui_port),
        "--db-filename", str(db_file), "--log-level", "warn",
        *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
        # WAL + synchronous=normal: ~2.5x the start rate of the default settings here.
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        *dev_server_flags(),
    ]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def run_stack(policy: Path, feed_demo: bool = True) -> int:
    settings = get_settings()
    DATA_DIR.mkdir(exist_ok=True)
    logs = DATA_DIR / "logs"
    logs.mkdir(exist_ok=True)
    temporal_host, _, temporal_port = settings.temporal.address.rpartition(":")
    ui_port = urlparse(settings.temporal.ui_url).port or 8233
    sms = urlparse(settings.sms.url)
    # The local UI has no sign-in and so sends no token to the codec server, which listens
    # on loopback only.
    env = {**os.environ, "OVERDUE_POLICY__PATH": str(policy.resolve()),
           "OVERDUE_CODEC__SERVER_REQUIRES_TOKEN": "false"}
    codec_url = f"http://127.0.0.1:{settings.codec_server_port}"
    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log_file = (logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
        children.append((name, proc))
        print(f"  started {name:<9} (pid {proc.pid}, log {log_file.name})", flush=True)
        return proc

    def stop_all() -> None:
        for _, proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(children):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"  stopped {name}", flush=True)

    stopping = False

    def on_signal(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    overdue = str(BIN / "overdue")
    try:
        print("Starting the overdue stack:", flush=True)
        codec = start("codec", [overdue, "codec-server", "--host", "127.0.0.1",
                                "--port", str(settings.codec_server_port)])
        wait_for_http(f"{codec_url}/healthz", 30, codec)
        temporal = start("temporal", temporal_server_command(
            temporal_host or "127.0.0.1", int(temporal_port), ui_port,
            DATA_DIR / "temporal.db", codec_url))
        wait_for_port(temporal_host or "127.0.0.1", int(temporal_port), 60, temporal)
        sandbox = start("sms-gw", [sys.executable, "-m", "sandbox.sms_gateway",
                                   "--host", sms.hostname or "127.0.0.1",
                                   "--port", str(sms.port or 8025),
                                   "--store", str(DATA_DIR / "sms-sandbox.jsonl")])
        smtp_http = f"http://{settings.smtp.host}:{SMTP_SINK_HTTP_PORT}"
        smtp = start("smtp", [sys.executable, "-m", "sandbox.smtp_sink",
                              "--host", settings.smtp.host,
                              "--smtp-port", str(settings.smtp.port),
                              "--http-port", str(SMTP_SINK_HTTP_PORT),
                              "--store", str(DATA_DIR / "smtp-sink.jsonl")])
        cc = urlparse(settings.contact_centre.url)
        centre = start("callcentre", [sys.executable, "-m", "sandbox.contact_centre",
                                      "--host", cc.hostname or "127.0.0.1",
                                      "--port", str(cc.port or 8028),
                                      "--store", str(DATA_DIR / "contact-centre.jsonl")])
        legal = urlparse(settings.legal.url)
        legal_system = start("legal", [sys.executable, "-m", "sandbox.legal_system",
                                       "--host", legal.hostname or "127.0.0.1",
                                       "--port", str(legal.port or 8029),
                                       "--store", str(DATA_DIR / "legal-system.jsonl")])
        wait_for_http(f"{settings.sms.url}/healthz", 30, sandbox)
        wait_for_http(f"{settings.legal.url}/healthz", 30, legal_system)
        wait_for_http(f"{smtp_http}/healthz", 30, smtp)
        wait_for_http(f"{settings.contact_centre.url}/healthz", 30, centre)
        start("worker", [overdue, "worker"])
        intake = start("intake", [overdue, "intake"])
        officer_api = start("officers", [overdue, "officer", "serve", "--port", "8001"])
        intake_url = f"http://{settings.intake.host}:{settings.intake.port}"
        wait_for_http(f"{intake_url}/healthz", 60, intake)
        wait_for_http("http://127.0.0.1:8001/healthz", 60, officer_api)
        supervisor_token = json.loads(subprocess.run(
            [overdue, "officer", "token", "issue", "demo-supervisor", "supervisor"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout)["token"]

        events = demo_events(5) if feed_demo else []
        upcoming = due_soon_events(3) if feed_demo else []
        secret = settings.intake.hmac_secret.get_secret_value().encode()
        for event in events + upcoming:
            body = json.dumps(event, ensure_ascii=False).encode()
            response = httpx.post(f"{intake_url}/v1/core-banking/events", content=body,
                                  headers=signed_headers(secret, body), timeout=30)
            print(f"  demo event {event['event_id']}: {response.status_code} "
                  f"{response.json().get('status')}", flush=True)
        if upcoming:
            # The daily sweep would score them at run_at; the demo shows it straight away.
            swept = subprocess.run([overdue, "early-warning", "run-now"], cwd=PROJECT_ROOT,
                                   env=env, capture_output=True, text=True)
            print(f"  {(swept.stdout or swept.stderr).strip()}", flush=True)
        print(f"""
overdue is running (policy {policy}; a case day lasts
{86400 // _time_scale(policy)} s on the demo clock).

  Temporal UI      {settings.temporal.ui_url}/namespaces/{settings.temporal.namespace}/workflows
                   (payloads are encrypted; the UI decrypts them through {codec_url})
  Intake API docs  {intake_url}/docs
  SMS sandbox      {settings.sms.url}/v1/messages   (every SMS the cases sent)
  E-mail sink      {smtp_http}/v1/messages   (every e-mail)
  Contact centre   {settings.contact_centre.url}/v1/call-tasks   (phone tasks for agents)
  Legal system     {settings.legal.url}/v1/reviews   (lawyers' reviews, filings, enforcement)
  Self-help        {intake_url}/help/faq   {intake_url}/help/calculator
  Officers' API    http://127.0.0.1:8001/docs   (demo supervisor token below)
  Logs             {logs}/
""", flush=True)
        if events:
            payment = json.dumps(payment_for(events[0]), ensure_ascii=False)
            print(f"""Cure the first demo case by paying its arrears (a signed core-banking event):

  {overdue} events post '{payment}'

  {BIN / 'temporal'} workflow list --address {settings.temporal.address}
  {BIN / 'temporal'} workflow show --codec-endpoint {codec_url} \\
       -w loan-{events[0]['loan']['loan_id']}
  {overdue} case show {events[0]['loan']['loan_id']}

Officers act through their API (roles checked, every action audited):

  export OVERDUE_OFFICER_TOKEN={supervisor_token}
  {overdue} officer call show {events[0]['loan']['loan_id']}

An agent completes a phone task (its outcome reaches the case through the webhook):

  curl -s -X POST {settings.contact_centre.url}/v1/call-tasks/<task_id>/complete \\
       -H 'content-type: application/json' -d '{{"outcome": "no_answer", "agent": "demo"}}'

Special circumstances for a case (a representative takes over, the ladder pauses):

  {overdue} case hardship {events[-1]['loan']['loan_id']} --kind illness --officer demo

Early warning: three performing loans fall due in three days (instalment.due_soon); the
sweep scored them and sent the risky one a pre-due reminder (within the contact rules):

  {overdue} early-warning show {upcoming[-1]['loan']['loan_id']}
""", flush=True)
        print("Press Ctrl-C to stop everything.", flush=True)
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {logs}/{name}.log",
                          flush=True)
                    return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("Stopping:", flush=True)
        stop_all()


def _time_scale(policy: Path) -> int:
    from overdue.policy_file import load_policy

    return load_policy(policy).clock.time_scale
