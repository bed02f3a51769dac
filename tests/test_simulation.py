"""``overdue simulate`` end to end: a small synthetic portfolio through the real workflows
under two policies on the time-skipping server (sandboxes, intake, worker and database of
its own), then the KPIs side by side."""

from __future__ import annotations

from pathlib import Path

from overdue.simulation.behaviour import portfolio
from overdue.simulation.report import comparison_csv, kpi_table, portfolio_table
from overdue.simulation.run import SimulationConfig, run_policy, simulate

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"
DEFAULT = POLICY_DIR / "default.toml"


def silent_policy(tmp_path: Path) -> Path:
    """The default policy whose only reminder comes after the simulated days: no contact
    at all before negotiation."""
    text = DEFAULT.read_text(encoding="utf-8")
    start, end = text.index("[[reminders.ladder]]"), text.index("[early_stage]")
    ladder = ('[[reminders.ladder]]\nname = "late-letter"\nbusiness_days_after_due = 80\n'
              'channel = "email"\ntemplates = { email = "reminder_email" }\n'
              'email_subject = "reminder_email_subject"\n\n')
    text = text[:start] + ladder + text[end:]
    text = text.replace('version = "2026.11-2"', 'version = "silent"')
    path = tmp_path / "silent.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_champion_vs_challenger_is_repeatable_and_tells_policies_apart(
        tmp_path: Path) -> None:
    config = SimulationConfig(loans=20, days=60, seed=5, workdir=tmp_path / "sim",
                              stall_minutes=3)
    sim = await simulate(DEFAULT, silent_policy(tmp_path), config)

    champion, challenger = sim.champion, sim.challenger
    assert champion.version == "2026.11-2" and challenger.version == "silent"
    assert champion.report.rows and challenger.report.rows
    assert sum(champion.outcomes.values()) == sum(challenger.outcomes.values()) == 20
    # The production ladder reminds; the silent one does not before negotiation.
    assert champion.contacts.get("sms", 0) > 0
    assert challenger.contacts.get("sms", 0) == challenger.contacts.get("phone", 0) == 0
    assert champion.outcomes.get("cured", 0) > challenger.outcomes.get("cured", 0)
    assert any(c.champion != c.challenger for c in sim.comparisons)
    cure = next(c for c in sim.comparisons if c.kpi == "cure_rate")
    assert cure.champion is not None and cure.challenger is not None
    assert cure.champion.value is not None and cure.challenger.value is not None
    assert cure.champion.value > cure.challenger.value
    assert "cure_rate" in comparison_csv(sim)
    assert kpi_table(sim).row_count == len(sim.comparisons)
    assert portfolio_table(sim).row_count > 5

    # The same seed, policy and start: the same customers do the same things.
    again = await run_policy("champion", DEFAULT, portfolio(20, 5), config, champion.start,
                             tmp_path / "again")
    assert again.report == champion.report
    assert (again.outcomes, again.contacts, again.collected, again.payments, again.promises) \
        == (champion.outcomes, champion.contacts, champion.collected, champion.payments,
            champion.promises)
