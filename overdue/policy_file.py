"""Reading the collections policy file (TOML) into the validated ``domain.policy.Policy``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from domain.policy import Policy


class PolicyFileError(ValueError):
    """The policy file is missing, not TOML, or breaks a rule; the message names the field."""


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def load_policy(path: Path) -> Policy:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyFileError(f"policy file {path}: cannot read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyFileError(f"policy file {path}: not valid TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyFileError(f"policy file {path} is invalid:\n{_describe(exc)}") from exc
    try:
        ZoneInfo(policy.case.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PolicyFileError(
            f"policy file {path} is invalid:\n  case.timezone: unknown time zone "
            f"{policy.case.timezone!r}") from exc
    return policy
