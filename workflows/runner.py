"""The sandbox every worker and replayer of these workflows runs them in."""

from __future__ import annotations

import dataclasses

from temporalio.worker.workflow_sandbox import (
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)


def workflow_runner(share_workflow_modules: bool = False) -> SandboxedWorkflowRunner:
    """The default sandbox, except that ``zoneinfo.ZoneInfo`` is usable.

    ``share_workflow_modules`` passes this project's ``workflows`` package through: the
    sandbox then stops re-importing the workflow modules for every workflow it caches,
    which is most of a cached case's memory (bench/README.md: ~150 KB a case). The
    sandbox's checks on those modules (no clock, no I/O) are then not made at run time,
    so the test suite and the replayer run without it: every workflow path is exercised
    under the full sandbox before a worker shares them.

    A case needs the bank's business date (days past due, buckets) from ``workflow.now()``.
    The default sandbox proxies ``ZoneInfo`` (its file-reading class methods are
    restricted), and ``datetime.astimezone`` refuses the proxy. Reading a zone's rules is
    deterministic for a given tzdata, which the project pins as a dependency.
    """
    default = SandboxRestrictions.default
    members = default.invalid_module_members
    children = {name: matcher for name, matcher in members.children.items()
                if name != "zoneinfo"}
    restrictions = dataclasses.replace(
        default, invalid_module_members=dataclasses.replace(members, children=children),
    # The worker's log handler (structlog, JSON) renders records emitted inside the
    # sandbox; loaded there, it trips over restricted os.path and hides the real error.
    ).with_passthrough_modules("structlog", "rich")
    if share_workflow_modules:
        restrictions = restrictions.with_passthrough_modules("workflows")
    return SandboxedWorkflowRunner(restrictions=restrictions)


__all__ = ["workflow_runner"]
