"""Every recorded history replays on the current workflow code.

A failure here means a change would break cases that are already running: guard it with
``workflow.patched()`` (see docs/workflow-changes.md) instead of editing the history.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import CONVERTER
from tests.histories.record import CHILDREN, PATHS, record
from tests.histories.variants import GuardedChange, UnguardedChange
from workflows.aftercare import AftercareWorkflow
from workflows.early_warning import EarlyWarningSweepWorkflow, PreDueReminderWorkflow
from workflows.legal_case import LegalCaseWorkflow
from workflows.loan_delinquency import LoanDelinquencyWorkflow
from workflows.negotiation import NegotiationWorkflow
from workflows.runner import workflow_runner

HISTORIES = Path(__file__).resolve().parent / "histories"
CURRENT = sorted(HISTORIES.glob("*.json"))
RECORDED = sorted(HISTORIES.rglob("*.json"))
"""Today's recordings, and under v1/ those of the code before the changes in
docs/workflow-changes.md: cases opened then must still replay."""


def replayer() -> Replayer:
    return Replayer(workflows=[LoanDelinquencyWorkflow, NegotiationWorkflow, LegalCaseWorkflow,
                               AftercareWorkflow, EarlyWarningSweepWorkflow,
                               PreDueReminderWorkflow],
                    workflow_runner=workflow_runner(),
                    data_converter=CONVERTER)


def test_every_main_path_has_a_recorded_history() -> None:
    children = {name for names in CHILDREN.values() for name in names}
    assert {path.stem for path in CURRENT} >= set(PATHS) | children


@pytest.mark.parametrize("path", RECORDED,
                         ids=[str(p.relative_to(HISTORIES).with_suffix("")) for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None


async def test_fresh_recording_replays(tmp_path: Path) -> None:
    """The recorder itself works, and what today's code records, today's code replays."""
    [path] = await record(tmp_path, Path(sys.executable).parent / "temporal-test-server",
                          names=["loan_delinquency_cured_after_reminder"])
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    assert (await replayer().replay_workflow(history)).replay_failure is None


async def test_a_changed_workflow_is_caught(tmp_path: Path) -> None:
    """The replay check can fail: a history whose activity order differs is refused."""
    text = (HISTORIES / "loan_delinquency_cured_after_reminder.json").read_text(encoding="utf-8")
    tampered = text.replace('"name": "contact_instant"', '"name": "send_sms_reminder"', 1)
    assert tampered != text
    history = WorkflowHistory.from_json("tampered", tampered)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None


@pytest.mark.parametrize("path", [p for p in RECORDED if p.stem.startswith("loan_delinquency")],
                         ids=lambda p: p.stem)
async def test_a_patched_change_still_replays_old_histories(path: Path) -> None:
    """The procedure of docs/workflow-changes.md works: guarded by workflow.patched, a new
    step leaves every recorded case replaying; unguarded, the same step breaks them."""
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    others = [NegotiationWorkflow, LegalCaseWorkflow, AftercareWorkflow]
    guarded = Replayer(workflows=[GuardedChange, *others], workflow_runner=workflow_runner(),
                       data_converter=CONVERTER)
    unguarded = Replayer(workflows=[UnguardedChange, *others],
                         workflow_runner=workflow_runner(), data_converter=CONVERTER)
    assert (await guarded.replay_workflow(history)).replay_failure is None
    broken = await unguarded.replay_workflow(history, raise_on_replay_failure=False)
    assert broken.replay_failure is not None
