"""docker-compose.yml, the Dockerfile and deploy/temporal-setup.sh against the code they run.

No Docker needed. These catch now what would otherwise fail only at deploy time: a renamed
CLI command or option, a misspelt OVERDUE_* setting, a search attribute the cluster lacks,
a dependency on a missing service, a file the image forgets.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from overdue.cli import app as cli_app
from overdue.settings import Settings
from workflows.search_attributes import dev_server_flags

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SETUP_SCRIPT = ROOT / "deploy" / "temporal-setup.sh"

# The overdue commands the stack must run, by service.
EXPECTED_COMMANDS = {
    "migrate": ("db", "upgrade"),
    "worker": ("worker",),
    "intake": ("intake",),
    "sms-gateway": ("sandbox", "sms"),
}
# Long-running services that may go without a healthcheck, and why.
NO_HEALTHCHECK = {"worker": "serves no HTTP; a dead worker exits and is restarted"}


# --- helpers -----------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>\w+)")


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` as a bare ``docker compose up`` (nothing set) sees it."""
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        pytest.fail(f"{match.group(0)} has no default: `docker compose up` on a fresh "
                    "checkout would fail or use an empty value")

    return _VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(interpolate(value)) for key, value in env.items()}


def argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def overdue_services() -> dict[str, dict[str, Any]]:
    image = COMPOSE["x-overdue-app"]["image"]
    return {name: svc for name, svc in SERVICES.items()
            if "build" in svc or svc.get("image") == image}


def is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


def resolve_cli(args: list[str]) -> tuple[Any, list[str], list[str]]:
    """The (click) command ``overdue ARGS`` runs, its path of names and its remaining args.

    Groups are told by their ``commands``: recent typer releases bring their own click.
    """
    command: Any = typer.main.get_command(cli_app)
    path: list[str] = []
    rest = list(args)
    while isinstance(getattr(command, "commands", None), dict):
        assert rest, f"`overdue {' '.join(path)}` is a group, not a command"
        name = rest.pop(0)
        assert name in command.commands, (
            f"`overdue {' '.join([*path, name])}`: no such command "
            f"(choices: {', '.join(sorted(command.commands))})")
        command = command.commands[name]
        path.append(name)
    return command, path, rest


def option_value(args: list[str], option: str) -> str | None:
    return args[args.index(option) + 1] if option in args else None


def healthcheck_url(service: dict[str, Any]) -> str | None:
    test = " ".join(argv(service.get("healthcheck", {}).get("test")))
    found = re.search(r"https?://[^\s'\"]+", test)
    return found.group(0) if found else None


def dockerfile() -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, shell-split arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), shlex.split(rest, comments=False)))
    return instructions


def setup_script_attributes() -> list[str]:
    found = re.search(r"^SEARCH_ATTRIBUTES=\((.*?)^\)", SETUP_SCRIPT.read_text(),
                      re.MULTILINE | re.DOTALL)
    assert found, "deploy/temporal-setup.sh has no SEARCH_ATTRIBUTES=( ... ) array"
    lines = (line.split("#", 1)[0] for line in found.group(1).splitlines())
    return [word for line in lines for word in line.split()]


# --- the compose file --------------------------------------------------------------------

def test_compose_specification_shape() -> None:
    assert "version" not in COMPOSE, "the Compose Specification has no top-level `version`"
    assert set(EXPECTED_COMMANDS) <= set(overdue_services())
    assert {"postgresql", "temporal", "temporal-setup", "temporal-ui"} <= set(SERVICES)
    for name, svc in SERVICES.items():
        assert "image" in svc or "build" in svc, name
        assert "container_name" not in svc, f"{name}: container_name prevents scaling"


def test_depends_on_targets_exist_and_can_be_met() -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in SERVICES.items():
        for target, condition in depends_on(svc).items():
            assert target in SERVICES, f"{name} depends on unknown service {target!r}"
            assert condition in conditions, f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], (
                    f"{name} waits for {target} to be healthy, but it has no healthcheck")
            if condition == "service_completed_successfully":
                assert is_one_shot(SERVICES[target]), (
                    f"{name} waits for {target} to complete, but {target} restarts")

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"dependency cycle: {' -> '.join([*trail, name])}"
        for target in depends_on(SERVICES[name]):
            visit(target, (*trail, name))

    for name in SERVICES:
        visit(name, ())


def test_long_running_services_have_healthchecks() -> None:
    for name, svc in SERVICES.items():
        if is_one_shot(svc) or name in NO_HEALTHCHECK:
            continue
        test = argv(svc.get("healthcheck", {}).get("test"))
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (
            f"{name} runs for good but has no healthcheck")


def test_variables_have_defaults() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            interpolate(node)

    walk(COMPOSE)


def test_bind_mounts_exist() -> None:
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in (COMPOSE.get("volumes") or {}), (
                    f"{name} uses undeclared volume {source!r}")


# --- overdue's services against the code -------------------------------------------------

@pytest.mark.parametrize("name", sorted(overdue_services()))
def test_command_is_a_real_overdue_command(name: str) -> None:
    args = argv(SERVICES[name].get("command"))
    assert args[:1] == ["overdue"], f"{name}: command {args} does not start with `overdue`"
    command, path, rest = resolve_cli(args[1:])
    if name in EXPECTED_COMMANDS:
        assert tuple(path) == EXPECTED_COMMANDS[name]
    # Parses the options exactly as the container would (unknown option, bad port, ...),
    # without running the command.
    command.make_context(" ".join(["overdue", *path]), rest)


@pytest.mark.parametrize("name", ["intake", "sms-gateway"])
def test_http_services_listen_where_they_are_checked(name: str) -> None:
    from sandbox.sms_gateway import create_app as sandbox_app
    from starter.api import create_app as intake_app

    svc = SERVICES[name]
    args = argv(svc["command"])
    port = option_value(args, "--port")
    assert option_value(args, "--host") == "0.0.0.0", f"{name} must listen beyond localhost"
    url = urlsplit(healthcheck_url(svc) or "")
    assert str(url.port) == port, f"{name}: healthcheck on {url.port}, serving on {port}"
    factory = {"intake": lambda: intake_app(Settings()), "sms-gateway": sandbox_app}[name]
    assert url.path in {getattr(route, "path", None) for route in factory().routes}, (
        f"{name}: {url.path}")
    for mapping in svc.get("ports", []):
        assert str(mapping).rsplit(":", 1)[-1] == port, f"{name} publishes {mapping}"


def _setting_field(env_name: str) -> str:
    """The Settings field path OVERDUE_A__B names, failing if it names none."""
    config = Settings.model_config
    prefix, delimiter = config["env_prefix"], config["env_nested_delimiter"]
    assert env_name.startswith(prefix)
    model: type[BaseModel] = Settings
    parts = env_name.removeprefix(prefix).lower().split(delimiter)
    for depth, part in enumerate(parts):
        assert part in model.model_fields, (
            f"{env_name}: {model.__name__} has no field {part!r} "
            f"(fields: {', '.join(model.model_fields)})")
        annotation = model.model_fields[part].annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth == len(parts) - 1:
            assert not nested, f"{env_name} names a whole section, not a setting"
        else:
            assert nested, f"{env_name}: {part!r} is a setting, not a section"
            model = annotation
    return ".".join(parts)


def test_overdue_variables_are_settings() -> None:
    names = {key for svc in SERVICES.values() for key in environment(svc)
             if key.startswith(Settings.model_config["env_prefix"])}
    assert names, "no OVERDUE_* variables found"
    for name in sorted(names):
        _setting_field(name)


@pytest.mark.parametrize("name", sorted(overdue_services()))
def test_settings_load_from_service_environment(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("OVERDUE_"):
            monkeypatch.delenv(key)
    env = environment(SERVICES[name])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # raises on any value the process would refuse at start
    for key, value in env.items():
        if key.startswith("OVERDUE_"):
            loaded: Any = settings
            for part in _setting_field(key).split("."):
                loaded = getattr(loaded, part)
            if hasattr(loaded, "get_secret_value"):
                loaded = loaded.get_secret_value()
            assert str(loaded) == value, f"{name}: {key}"


def test_addresses_point_at_services_with_matching_credentials() -> None:
    env = environment(SERVICES["worker"])
    database = make_url(env["OVERDUE_DATABASE__URL"])
    postgres = environment(SERVICES["postgresql"])
    assert database.host in SERVICES
    assert (database.username, database.password, database.database) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"])

    temporal_host = env["OVERDUE_TEMPORAL__ADDRESS"].rsplit(":", 1)[0]
    assert temporal_host in SERVICES
    temporal = environment(SERVICES[temporal_host])
    assert temporal["POSTGRES_SEEDS"] in SERVICES
    assert (temporal["POSTGRES_USER"], temporal["POSTGRES_PWD"]) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
    for name in ("temporal-setup", "temporal-ui"):
        assert environment(SERVICES[name])["TEMPORAL_ADDRESS"] == env["OVERDUE_TEMPORAL__ADDRESS"]

    sms = urlsplit(env["OVERDUE_SMS__URL"])
    assert sms.hostname in SERVICES
    assert str(sms.port) == option_value(argv(SERVICES[sms.hostname]["command"]), "--port")
    assert env["OVERDUE_SMS__API_KEY"] == environment(SERVICES[sms.hostname]).get(
        "OVERDUE_SMS__API_KEY"), "the worker and the sandbox must share the SMS API key"


# --- Temporal search attributes ----------------------------------------------------------

def test_setup_script_registers_exactly_the_search_attributes() -> None:
    expected = dev_server_flags()[1::2]
    registered = setup_script_attributes()
    assert len(registered) == len(set(registered)), "duplicates in SEARCH_ATTRIBUTES"
    assert sorted(registered) == sorted(expected)


def test_setup_service_runs_the_mounted_script() -> None:
    svc = SERVICES["temporal-setup"]
    mounts = [v for v in svc["volumes"] if isinstance(v, str)]
    script_mounts = [m for m in mounts if Path(m.split(":")[0]).resolve() == SETUP_SCRIPT]
    assert script_mounts, "temporal-setup does not mount deploy/temporal-setup.sh"
    _source, target, *mode = script_mounts[0].split(":")
    assert mode == ["ro"], "mount the setup script read-only"
    assert target in [*argv(svc.get("entrypoint")), *argv(svc.get("command"))]
    assert depends_on(svc) == {"temporal": "service_healthy"}


# --- the image ---------------------------------------------------------------------------

def test_dockerfile_builds_what_the_stack_runs() -> None:
    instructions = dockerfile()
    base = next(args for keyword, args in instructions if keyword == "FROM")
    assert base[0].startswith("python:3.11-slim")
    users = [args[0] for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    workdir = [args[0] for keyword, args in instructions if keyword == "WORKDIR"][-1]

    copied = set()
    for keyword, args in instructions:
        if keyword == "COPY":
            sources = [a for a in args if not a.startswith("--")][:-1]
            copied |= {s.rstrip("/") for s in sources}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    needed = {package.split(".")[0] for package in setuptools["packages"]}
    needed |= {f"{module}.py" for module in setuptools.get("py-modules", [])}
    # Data the code finds beside its packages, and what the build itself reads.
    needed |= {"alembic.ini", "migrations", "policy", "pyproject.toml",
               project["project"]["readme"]}
    assert needed <= copied, f"the Dockerfile does not copy {sorted(needed - copied)}"

    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for path in sorted(needed):
        hits = [p for p in ignored if fnmatch.fnmatch(path, p.removeprefix("**/"))]
        assert not hits, f".dockerignore {hits} drops {path}, which the image needs"

    # overdue.storage.migrate finds alembic.ini and migrations/ relative to the package,
    # and they are not in the wheel: only an editable install runs `overdue db upgrade`.
    installs = [" ".join(args) for keyword, args in instructions
                if keyword == "RUN" and "pip install" in " ".join(args)]
    assert any(re.search(r"pip install .*(-e|--editable) \.", run) for run in installs)

    # Settings that are paths into the image must name files the image has.
    env = environment(SERVICES["worker"])
    for key in ("OVERDUE_POLICY__PATH", "OVERDUE_POLICY__CALENDAR_OVERRIDES"):
        inside = Path(env[key]).relative_to(workdir)
        assert (ROOT / inside).is_file(), f"{key}={env[key]}: no {inside} in the repo"
        assert inside.parts[0] in copied, f"{key}: {inside.parts[0]} is not copied"


def test_compose_file_is_valid_against_the_compose_specification_schema() -> None:
    """The Compose Specification's JSON schema (tests/schemas/README.md says which)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parent / "schemas" / "compose_spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'.'.join(str(p) for p in e.path)}: {e.message}"
              for e in validator.iter_errors(COMPOSE)]
    assert errors == []
    # The check can fail: a misspelt service key is caught.
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["worker"]["healthchek"] = {}
    assert any("healthchek" in e.message for e in validator.iter_errors(broken))
