"""The simulation's tables: the KPIs side by side (``overdue.kpi_report``) and what
happened to the portfolio under each policy."""

from __future__ import annotations

from rich.table import Table

from overdue.kpi_report import side_by_side, side_by_side_csv
from overdue.simulation.run import PolicyRun, Simulation


def _label(run: PolicyRun) -> str:
    return f"{run.label} ({run.version})"


def kpi_table(sim: Simulation) -> Table:
    return side_by_side(sim.comparisons, _label(sim.champion), _label(sim.challenger))


def portfolio_table(sim: Simulation) -> Table:
    a, b = sim.champion, sim.challenger
    out = Table(title=f"Portfolio after {(a.end - a.start).days + 1} days "
                      f"({a.start} .. {a.end})")
    for name in ("", _label(a), _label(b), "difference"):
        out.add_column(name, justify="left" if not name else "right")

    def shown(v: int | float) -> str:
        return f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"

    def row(name: str, x: int | float, y: int | float) -> None:
        diff = f"{y - x:+,}" if isinstance(x, int) and isinstance(y, int) else f"{y - x:+,.2f}"
        out.add_row(name, shown(x), shown(y), diff)

    outcomes = sorted(set(a.outcomes) | set(b.outcomes))
    for key in outcomes:
        row(f"cases {key.replace('open:', 'open, ')}", a.outcomes.get(key, 0),
            b.outcomes.get(key, 0))
    row("collected (CNY)", float(a.collected), float(b.collected))
    row("payments", a.payments, b.payments)
    for channel in sorted(set(a.contacts) | set(b.contacts)):
        row(f"contacts made: {channel}", a.contacts.get(channel, 0), b.contacts.get(channel, 0))
    row("calls answered", a.calls_answered, b.calls_answered)
    row("promises to pay made", a.promises, b.promises)
    row("hardship flags", a.hardships, b.hardships)
    row("run time (s)", round(a.seconds, 1), round(b.seconds, 1))
    return out


def comparison_csv(sim: Simulation) -> str:
    return side_by_side_csv(sim.comparisons)
