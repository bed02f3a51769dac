"""Who may do what: roles, the actions of the officers' API, and the table between them.

Pure: no I/O. ``allowed(role, action)`` is the only question the API asks; anything not in
the table (an unknown role or action) is refused.

The legal override is special: the loan workflow itself checks that the command carries
the policy's override role (``[legal] override_role``, ``"legal_supervisor"`` by default).
Officers do not hold that role as such: the API sends it on behalf of a ``supervisor`` (or
``admin``), the only roles allowed the action, and never takes it from the request body.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    COLLECTOR = "collector"
    NEGOTIATOR = "negotiator"
    SUPERVISOR = "supervisor"
    LAWYER = "lawyer"
    OPS = "ops"
    """Read-only: case state, history and search."""
    ADMIN = "admin"
    """Everything."""


class Action(StrEnum):
    CASE_READ = "case.read"
    CASE_HISTORY = "case.history"
    CASE_SEARCH = "case.search"
    HARDSHIP = "case.hardship"
    REPRESENTATIVE_DONE = "case.representative_done"
    DISPUTE = "case.dispute"
    CALL_OUTCOME = "case.call_outcome"
    LEGAL_OVERRIDE = "case.legal_override"
    WRITE_OFF = "case.write_off"
    TRANSFER = "case.transfer"
    NEGOTIATION_READ = "negotiation.read"
    NEGOTIATION_ASSIGN = "negotiation.assign"
    NEGOTIATION_ASSESS = "negotiation.assess"
    NEGOTIATION_PROPOSE = "negotiation.propose"
    NEGOTIATION_ANSWER = "negotiation.answer"
    NEGOTIATION_APPROVE = "negotiation.approve"
    NEGOTIATION_PROMISE = "negotiation.promise"
    LEGAL_READ = "legal.read"
    LEGAL_SETTLE = "legal.settle"
    LEGAL_SETTLEMENT_ANSWER = "legal.settlement_answer"
    LEGAL_ASSET_LEAD = "legal.asset_lead"
    LEGAL_STEP = "legal.step"
    """A step of the legal case (review, hearing, judgment, enforcement) recorded by the
    legal team, for when it does not come from the legal system's callbacks."""
    REPORT_READ = "report.read"
    """Portfolio KPIs (aggregates, no personal data): supervisors and ops."""


ALL_ROLES = frozenset(Role)
_EARLY = frozenset({Role.COLLECTOR, Role.SUPERVISOR})
_NEGOTIATION = frozenset({Role.NEGOTIATOR, Role.SUPERVISOR})
_LEGAL = frozenset({Role.LAWYER, Role.SUPERVISOR})
_SUPERVISOR = frozenset({Role.SUPERVISOR})

PERMISSIONS: Mapping[Action, frozenset[Role]] = {
    Action.CASE_READ: ALL_ROLES,
    Action.CASE_HISTORY: ALL_ROLES,
    Action.CASE_SEARCH: ALL_ROLES,
    Action.NEGOTIATION_READ: ALL_ROLES,
    Action.LEGAL_READ: ALL_ROLES,
    Action.HARDSHIP: _EARLY,
    Action.REPRESENTATIVE_DONE: _EARLY,
    Action.DISPUTE: _EARLY,
    Action.CALL_OUTCOME: _EARLY,
    Action.NEGOTIATION_ASSIGN: _NEGOTIATION,
    Action.NEGOTIATION_ASSESS: _NEGOTIATION,
    Action.NEGOTIATION_PROPOSE: _NEGOTIATION,
    Action.NEGOTIATION_ANSWER: _NEGOTIATION,
    Action.NEGOTIATION_PROMISE: _NEGOTIATION,
    Action.NEGOTIATION_APPROVE: _SUPERVISOR,
    Action.LEGAL_OVERRIDE: _SUPERVISOR,
    Action.LEGAL_SETTLE: _LEGAL,
    Action.LEGAL_SETTLEMENT_ANSWER: _LEGAL,
    Action.LEGAL_ASSET_LEAD: _LEGAL,
    Action.LEGAL_STEP: _LEGAL,
    Action.WRITE_OFF: _SUPERVISOR,
    Action.TRANSFER: _SUPERVISOR,
    Action.REPORT_READ: frozenset({Role.SUPERVISOR, Role.OPS}),
}
"""Action -> the roles allowed it, besides ``admin`` (allowed everything)."""

DEFAULT_OVERRIDE_ROLE = "legal_supervisor"
"""The role the loan workflow expects on a legal override (policy ``[legal] override_role``)."""

# Roles that may assign a negotiation round to someone other than themselves.
_ASSIGN_ANYONE = frozenset({Role.SUPERVISOR, Role.ADMIN})


def is_role(role: str) -> bool:
    return role in Role._value2member_map_


def allowed(role: str, action: str) -> bool:
    """May an officer of ``role`` perform ``action``? Unknown roles and actions: no."""
    if not is_role(role) or action not in Action._value2member_map_:
        return False
    return Role(role) is Role.ADMIN or Role(role) in PERMISSIONS[Action(action)]


def may_assign_others(role: str) -> bool:
    """A negotiator may take a round over (assign it to themselves); a supervisor or an
    admin may hand it to anyone."""
    return is_role(role) and Role(role) in _ASSIGN_ANYONE


def override_role_for(role: str, policy_role: str = DEFAULT_OVERRIDE_ROLE) -> str | None:
    """The role sent to the workflow with a legal override, or ``None`` if ``role`` may not
    send a case to law early."""
    return policy_role if allowed(role, Action.LEGAL_OVERRIDE) else None
