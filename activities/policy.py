"""Hands a new case the collections policy in force."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import LoadPolicyRequest
from domain.policy import Policy
from overdue.policy_file import PolicyFileError, load_policy


class PolicyActivities:
    def __init__(self, policy_path: Path) -> None:
        self._path = policy_path

    @activity.defn(name="load_policy")
    async def load_policy(self, request: LoadPolicyRequest) -> Policy:
        try:
            return load_policy(self._path)
        except PolicyFileError as exc:
            # Retried (with backoff) on purpose: ops fix the file and waiting cases go on.
            raise ApplicationError(str(exc), type="PolicyFileError") from exc
