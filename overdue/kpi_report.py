"""The KPI report as a terminal table (rich), CSV, JSON and an SVG chart; and two reports
side by side (champion vs challenger). Pure rendering: strings in, strings out."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from rich.console import Console
from rich.table import Table

from domain.kpis import KPIS, Comparison, KpiReport, KpiRow, Ratio

CSV_HEADER = ("kpi", "segment", "group", "numerator", "denominator", "value", "display")
COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
CURE_COLOUR = "#2ca02c"


def _label(kpi: str, segment: str) -> str:
    return f"{kpi} {segment}".strip()


def _groups(rows: list[KpiRow] | list[Comparison]) -> list[str]:
    return list(dict.fromkeys(row.group for row in rows))


def _value(ratio: Ratio) -> str:
    value = ratio.value
    return "" if value is None else str(value)


def table(report: KpiReport) -> Table:
    """KPIs down, groups (months, stages or channels) across; ``all``: the KPI has no such
    dimension and is given for the whole range."""
    rows = list(report.rows)
    groups = _groups(rows)
    out = Table(title=f"Collection KPIs {report.start} .. {report.end}, by {report.by}")
    out.add_column("KPI")
    for group in groups:
        out.add_column(group, justify="right")
    cells: dict[str, dict[str, str]] = {}
    for row in rows:
        cells.setdefault(_label(row.kpi, row.segment), {})[row.group] = row.display()
    for label, values in cells.items():
        out.add_row(label, *(values.get(group, "") for group in groups))
    return out


def render_text(report: KpiReport, width: int = 160) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(table(report))
    return console.export_text()


def to_csv(report: KpiReport) -> str:
    """One line per KPI, segment and group, with the exact numerator, denominator and value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in report.rows:
        writer.writerow((row.kpi, row.segment, row.group, row.ratio.numerator,
                         row.ratio.denominator, _value(row.ratio), row.display()))
    return buffer.getvalue()


def _ratio_json(ratio: Ratio) -> dict[str, str | None]:
    return {"numerator": str(ratio.numerator), "denominator": str(ratio.denominator),
            "value": None if ratio.value is None else str(ratio.value)}


def to_json(report: KpiReport) -> dict[str, Any]:
    """Exact values as decimal strings (no float rounding)."""
    return {
        "from": report.start.isoformat(), "to": report.end.isoformat(), "by": report.by,
        "buckets": list(report.buckets),
        "definitions": {name: info.title for name, info in KPIS.items()},
        "kpis": [{"kpi": r.kpi, "segment": r.segment, "group": r.group,
                  **_ratio_json(r.ratio), "display": r.display()} for r in report.rows],
        "series": [{"month": p.month, "cures": p.cures, "cure_rate": _ratio_json(p.cure_rate),
                    "roll_rates": {b: _ratio_json(x) for b, x in p.roll_rates}}
                   for p in report.series],
        "transitions": [{"month": t.month, "from": t.from_state, "to": t.to_state,
                         "cases": t.cases} for t in report.transitions],
    }


# --- the chart -------------------------------------------------------------------------------


def to_svg(report: KpiReport, width: int = 760, height: int = 460) -> str:
    """Roll rates (each bucket to a worse one) and the cure rate per month as lines (0-100 %),
    and the number of cures per month as bars under them."""
    series = report.series
    left, right, top = 60, 150, 40
    line_bottom = int(height * 0.62)
    bar_top, bar_bottom = line_bottom + 40, height - 40
    plot_w = width - left - right
    n = max(1, len(series))
    step = plot_w / n

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    def y_rate(value: Decimal) -> float:
        return line_bottom - float(value) * (line_bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">'
        f'Roll rates and cures, {report.start} .. {report.end}</text>',
    ]
    for pct in (0, 25, 50, 75, 100):
        y = y_rate(Decimal(pct) / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>')
    lines: list[tuple[str, str, list[Decimal | None]]] = []
    buckets = [b for b, _ in series[0].roll_rates] if series else []
    for index, bucket in enumerate(buckets):
        values = [dict(p.roll_rates)[bucket].value for p in series]
        lines.append((f"roll {bucket}", COLOURS[index % len(COLOURS)], values))
    lines.append(("cure rate", CURE_COLOUR, [p.cure_rate.value for p in series]))
    for label_index, (label, colour, values) in enumerate(lines):
        points = [(x(i), y_rate(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')
        for px, py in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
        ly = top + 16 * label_index
        parts.append(f'<line x1="{left + plot_w + 12}" y1="{ly}" x2="{left + plot_w + 30}" '
                     f'y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{left + plot_w + 34}" y="{ly + 4}">{escape(label)}</text>')
    most = max((p.cures for p in series), default=0) or 1
    bar_w = step * 0.5
    parts.append(f'<text x="{left}" y="{bar_top - 8}">cures per month</text>')
    for i, point in enumerate(series):
        h = (bar_bottom - bar_top - 16) * point.cures / most  # room for the label
        parts.append(f'<rect x="{x(i) - bar_w / 2:.1f}" y="{bar_bottom - h:.1f}" '
                     f'width="{bar_w:.1f}" height="{h:.1f}" fill="{CURE_COLOUR}"/>')
        parts.append(f'<text x="{x(i):.1f}" y="{bar_bottom - h - 3:.1f}" '
                     f'text-anchor="middle">{point.cures}</text>')
        parts.append(f'<text x="{x(i):.1f}" y="{bar_bottom + 14}" '
                     f'text-anchor="middle">{escape(point.month)}</text>')
    parts.append(f'<line x1="{left}" y1="{bar_bottom}" x2="{left + plot_w}" y2="{bar_bottom}" '
                 'stroke="#333"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- champion vs challenger ----------------------------------------------------------------


def _shown(comparison: Comparison, ratio: Ratio | None) -> str:
    if ratio is None:
        return ""
    return KpiRow(comparison.kpi, comparison.segment, comparison.group, ratio).display()


def side_by_side(comparisons: list[Comparison], champion: str = "champion",
                 challenger: str = "challenger") -> Table:
    """Two runs' KPIs (``domain.kpis.compare``), with the difference in points (rates) or
    units (contacts per cure)."""
    out = Table(title=f"Collection KPIs: {champion} vs {challenger}")
    for name in ("KPI", "group", champion, challenger, "difference"):
        out.add_column(name, justify="left" if name in ("KPI", "group") else "right")
    for c in comparisons:
        diff = c.difference
        if diff is None:
            shown = ""
        elif KPIS[c.kpi].percent:
            shown = f"{diff * 100:+.1f} pt"
        else:
            shown = f"{diff:+.2f}"
        out.add_row(_label(c.kpi, c.segment), c.group, _shown(c, c.champion),
                    _shown(c, c.challenger), shown)
    return out


def side_by_side_csv(comparisons: list[Comparison]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("kpi", "segment", "group", "champion", "challenger", "difference"))
    for c in comparisons:
        writer.writerow((c.kpi, c.segment, c.group,
                         _value(c.champion) if c.champion else "",
                         _value(c.challenger) if c.challenger else "",
                         "" if c.difference is None else str(c.difference)))
    return buffer.getvalue()
