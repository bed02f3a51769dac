"""Collection KPIs from plain records: cure rate, roll rates between buckets, promise-kept
rate, right-party-contact rate, recovery rate and contacts per cure, by month, stage or
channel. Pure: no I/O, no clock. Every ratio keeps its numerator and denominator exactly
(``Decimal``); only the display rounds. The definitions, numerator and denominator of each,
are in ``docs/kpis.md``.

The records are what the service's tables hold (``overdue/storage/kpi_queries.py`` loads
them), so the same functions report on production data and on a simulated portfolio run
under a policy (:func:`compute_kpis` per run, :func:`compare` for champion vs challenger).

The tables keep each case's *current* bucket only, so a case's bucket on a past day is
derived (:func:`state_on`): the case's missed due dates (``instalment.missed`` events),
its last recorded oldest unpaid due date, and its payment events give its days past due.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal

Dimension = Literal["month", "stage", "channel"]
DIMENSIONS: tuple[Dimension, ...] = ("month", "stage", "channel")
ALL = "all"
"""The group of a KPI that has no such dimension (the total over the range)."""
UNKNOWN_STAGE = "unknown"
STAGES = ("early", "negotiation", "legal")

CURED = "cured"
RESOLVED = "resolved"
LOST = "lost"
EXIT_STATES = (CURED, RESOLVED, LOST)
"""A closed case's state: ``cured`` (arrears paid), ``resolved`` (restructured, settled,
recovered, loan closed, no arrears) or ``lost`` (written off, transferred)."""
_RESOLVED_OUTCOMES = frozenset({"restructured", "settled", "recovered", "loan_closed",
                                "no_arrears"})
_LOST_OUTCOMES = frozenset({"written_off", "transferred"})
MADE_STATUSES = frozenset({"sent", "delivered", "failed"})
"""A contact attempt that was made (``pending``: never sent; ``suppressed``: the contact
rules held it back)."""
PROMISE_CHANNELS = {"call": "phone", "officer": "officer"}


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    name: str
    min_days: int
    max_days: int | None = None


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket("M0", 0, 0), Bucket("M1", 1, 30), Bucket("M2", 31, 60), Bucket("M3", 61, 90),
    Bucket("M3+", 91, None))
"""The default policy's buckets; pass the policy's own (``[[buckets]]``) when they differ."""


@dataclass(frozen=True)
class CaseFact:
    """One collections case (``collection_cases`` with ``negotiations`` and ``legal_cases``)."""

    case_ref: str
    loan_id: str
    opened_at: datetime
    closed_at: datetime | None = None
    outcome: str | None = None
    oldest_unpaid_due_date: date | None = None
    """As last recorded (at ``updated_at``)."""
    updated_at: datetime | None = None
    negotiation_started_at: datetime | None = None
    """The first negotiation round's start."""
    legal_opened_at: datetime | None = None
    """The first legal case's opening."""


@dataclass(frozen=True)
class EventFact:
    """A core-banking event of a loan (``core_banking_events``)."""

    event_id: str
    loan_id: str
    type: str
    at: datetime
    """When it was received."""
    due_date: date | None = None
    """``instalment.missed``: the missed instalment's due date."""


@dataclass(frozen=True)
class ContactFact:
    """A contact attempt (``contact_attempts``)."""

    loan_id: str
    channel: str
    at: datetime
    status: str
    answered: bool | None = None
    outcome: str | None = None
    """Calls: the agent's outcome; ``None`` while none was reported."""


@dataclass(frozen=True)
class PromiseFact:
    """A promise to pay (``promises_to_pay``)."""

    loan_id: str
    source: str
    made_at: datetime
    due_date: date
    status: str
    """open, kept, broken."""


@dataclass(frozen=True)
class LegalFact:
    """A legal case (``legal_cases``)."""

    legal_id: str
    loan_id: str
    opened_at: datetime
    claim_total: Decimal | None
    recovered: Decimal


@dataclass(frozen=True)
class BucketChangeFact:
    """A change of a case's bucket or oldest unpaid due date (``bucket_changes``)."""

    case_ref: str
    sequence: int
    changed_on: date
    to_bucket: str
    oldest_unpaid_due_date: date | None


@dataclass(frozen=True)
class KpiRecords:
    cases: tuple[CaseFact, ...] = ()
    events: tuple[EventFact, ...] = ()
    contacts: tuple[ContactFact, ...] = ()
    promises: tuple[PromiseFact, ...] = ()
    legal: tuple[LegalFact, ...] = ()
    bucket_changes: tuple[BucketChangeFact, ...] = ()


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """An exact ratio: ``value`` is ``numerator / denominator`` (28 significant digits),
    ``None`` when the denominator is zero."""

    numerator: Decimal
    denominator: Decimal

    @property
    def value(self) -> Decimal | None:
        if self.denominator == 0:
            return None
        with localcontext() as ctx:
            ctx.prec = 28
            return self.numerator / self.denominator

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)

    def display(self, percent: bool = True, places: int = 1) -> str:
        value = self.value
        if value is None:
            return "-"
        shown = value * 100 if percent else value
        text = str(shown.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))
        return text + "%" if percent else text


ZERO_RATIO = Ratio(Decimal(0), Decimal(0))


@dataclass(frozen=True)
class KpiInfo:
    title: str
    percent: bool
    dimensions: tuple[Dimension, ...]


KPIS: dict[str, KpiInfo] = {
    "cure_rate": KpiInfo("Cure rate (cases cured / cases worked)", True, ("month", "stage")),
    "bucket_cure_rate": KpiInfo("Cure rate from bucket (current at period end)", True,
                                ("month", "stage")),
    "roll_rate": KpiInfo("Roll rate (to a worse bucket at period end)", True,
                         ("month", "stage")),
    "promise_kept_rate": KpiInfo("Promise-kept rate (kept / kept + broken)", True,
                                 ("month", "stage", "channel")),
    "right_party_contact_rate": KpiInfo("Right-party-contact rate (calls answered / calls "
                                        "with an outcome)", True,
                                        ("month", "stage", "channel")),
    "recovery_rate": KpiInfo("Recovery rate (recovered / claimed, legal cases)", True,
                             ("month",)),
    "contacts_per_cure": KpiInfo("Contacts per cure (contacts made on cured cases / cures)",
                                 False, ("month", "stage", "channel")),
}


@dataclass(frozen=True)
class KpiRow:
    kpi: str
    segment: str
    """The bucket for ``bucket_cure_rate`` and ``roll_rate``, else empty."""
    group: str
    """The month (YYYY-MM), stage or channel; ``all`` for a KPI without that dimension."""
    ratio: Ratio

    def display(self) -> str:
        return self.ratio.display(percent=KPIS[self.kpi].percent,
                                  places=1 if KPIS[self.kpi].percent else 2)


@dataclass(frozen=True)
class Transition:
    month: str
    from_state: str
    to_state: str
    cases: int


@dataclass(frozen=True)
class MonthPoint:
    """One month of the chart: cures and roll rates over time."""

    month: str
    cures: int
    cure_rate: Ratio
    roll_rates: tuple[tuple[str, Ratio], ...]
    """(bucket, roll rate) for each delinquent bucket but the last."""


@dataclass(frozen=True)
class KpiReport:
    start: date
    end: date
    by: Dimension
    buckets: tuple[str, ...]
    rows: tuple[KpiRow, ...]
    series: tuple[MonthPoint, ...]
    transitions: tuple[Transition, ...] = field(default=())

    def get(self, kpi: str, group: str = ALL, segment: str = "") -> Ratio | None:
        for row in self.rows:
            if (row.kpi, row.segment, row.group) == (kpi, segment, group):
                return row.ratio
        return None


@dataclass(frozen=True)
class Comparison:
    """One KPI of two runs side by side (champion vs challenger)."""

    kpi: str
    segment: str
    group: str
    champion: Ratio | None
    challenger: Ratio | None

    @property
    def difference(self) -> Decimal | None:
        """challenger - champion, when both have a value."""
        a = self.champion.value if self.champion else None
        b = self.challenger.value if self.challenger else None
        if a is None or b is None:
            return None
        return b - a if b != a else Decimal(0)


# --- time ----------------------------------------------------------------------------------


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


@dataclass(frozen=True)
class Period:
    month: str
    first: date
    last: date


def periods(start: date, end: date) -> list[Period]:
    """The calendar months of ``[start, end]``, the first and last clipped to the range."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    out: list[Period] = []
    first = start
    while first <= end:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = min(end, following - timedelta(days=1))
        out.append(Period(month_key(first), first, last))
        first = following
    return out


EARLIEST = date(2000, 1, 1)
LATEST = date(2199, 12, 31)
MAX_RANGE_DAYS = 3660
"""A report covers at most about ten years, between 2000 and 2199."""


def check_range(start: date, end: date) -> None:
    """Raise ``ValueError`` (a sentence for the user) unless ``[start, end]`` is a range a
    report can cover."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    if start < EARLIEST or end > LATEST:
        raise ValueError(f"the range must lie between {EARLIEST} and {LATEST}")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValueError(f"the range is at most {MAX_RANGE_DAYS} days")


def bucket_for(days_past_due: int, buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> str:
    for bucket in buckets:
        if days_past_due >= bucket.min_days and (bucket.max_days is None
                                                 or days_past_due <= bucket.max_days):
            return bucket.name
    raise ValueError(f"no bucket for {days_past_due} days past due")


# --- a case's timeline ---------------------------------------------------------------------


@dataclass
class _Case:
    fact: CaseFact
    opened: date
    closed: date | None
    negotiation: date | None
    legal: date | None
    missed: list[date] = field(default_factory=list)
    payments: list[datetime] = field(default_factory=list)
    moves: list[BucketChangeFact] = field(default_factory=list)
    """The case's log of bucket changes, in order (empty for cases opened before it)."""

    def stage_on(self, d: date) -> str:
        """The stage the case was in on day ``d`` (stages only move forward)."""
        if self.legal is not None and self.legal <= d:
            return "legal"
        if self.negotiation is not None and self.negotiation <= d:
            return "negotiation"
        return "early"

    def stages_during(self, first: date, last: date) -> set[str]:
        """The stages the case was in at some point of ``[first, last]``."""
        end = self.closed if self.closed is not None else last
        spans = []
        starts = [("early", self.opened), ("negotiation", self.negotiation),
                  ("legal", self.legal)]
        known = [(s, d) for s, d in starts if d is not None]
        for index, (stage, since) in enumerate(known):
            until = known[index + 1][1] if index + 1 < len(known) else end
            spans.append((stage, since, until))
        return {s for s, a, b in spans if a <= last and b >= first and a <= b}

    def open_during(self, first: date, last: date) -> bool:
        return self.opened <= last and (self.closed is None or self.closed >= first)


def _local(at: datetime, tz: tzinfo) -> date:
    return at.astimezone(tz).date()


def attribute(cases: Sequence[CaseFact], at: datetime, event_id: str | None = None
              ) -> CaseFact | None:
    """The case of a loan a record belongs to: the case the event opened (its ``case_ref`` is
    ``<loan>:<event id>``), else the latest case opened at or before ``at``, else the
    earliest case (a record from just before its case's first write). ``cases``: one
    loan's, sorted by ``opened_at``."""
    if not cases:
        return None
    if event_id is not None:
        for case in cases:
            if case.case_ref == f"{case.loan_id}:{event_id}":
                return case
    index = bisect_right([c.opened_at for c in cases], at)
    return cases[index - 1] if index > 0 else cases[0]


class _Book:
    """The records indexed by case."""

    def __init__(self, records: KpiRecords, tz: tzinfo) -> None:
        self.tz = tz
        by_loan: dict[str, list[CaseFact]] = defaultdict(list)
        for fact in records.cases:
            by_loan[fact.loan_id].append(fact)
        for facts in by_loan.values():
            facts.sort(key=lambda c: (c.opened_at, c.case_ref))
        self.by_loan = by_loan
        self.cases: dict[str, _Case] = {}
        for fact in records.cases:
            self.cases[fact.case_ref] = _Case(
                fact=fact, opened=_local(fact.opened_at, tz),
                closed=_local(fact.closed_at, tz) if fact.closed_at else None,
                negotiation=(_local(fact.negotiation_started_at, tz)
                             if fact.negotiation_started_at else None),
                legal=_local(fact.legal_opened_at, tz) if fact.legal_opened_at else None)
        for event in sorted(records.events, key=lambda e: (e.at, e.event_id)):
            case = self.case_of(event.loan_id, event.at, event.event_id)
            if case is None:
                continue
            if event.type == "instalment.missed" and event.due_date is not None:
                case.missed.append(event.due_date)
            elif event.type == "payment.received":
                case.payments.append(event.at)
        for change in records.bucket_changes:
            if change.case_ref in self.cases:
                self.cases[change.case_ref].moves.append(change)
        for case in self.cases.values():
            case.missed.sort()
            case.moves.sort(key=lambda c: c.sequence)

    def case_of(self, loan_id: str, at: datetime, event_id: str | None = None) -> _Case | None:
        fact = attribute(self.by_loan.get(loan_id, ()), at, event_id)
        return self.cases[fact.case_ref] if fact is not None else None


def _oldest_unpaid_on(case: _Case, d: date, tz: tzinfo) -> date | None:
    """The oldest unpaid due date at the end of day ``d``.

    From the case's log of bucket changes when it has one that far back: exact (the log
    has a row for every move of the date). Otherwise reconstructed: payments go to the
    oldest instalment first, so the oldest unpaid due date only moves forward, and the
    tables keep its last recorded value, not each move: before the case's last payment (up
    to its last update) it is the earliest missed due date; from that payment on, the
    recorded one (or, if the recorded one falls after ``d``, none: all instalments due by
    ``d`` were paid). Exact when at most one payment moved it."""
    logged = [m for m in case.moves if m.changed_on <= d]
    if logged:
        return logged[-1].oldest_unpaid_due_date
    missed = [x for x in case.missed if x <= d]
    if not missed:
        return None
    fact = case.fact
    recorded = fact.oldest_unpaid_due_date
    if recorded == missed[0]:
        return recorded
    paid = [p for p in case.payments if fact.updated_at is None or p <= fact.updated_at]
    if paid and _local(paid[-1], tz) <= d:
        if recorded is None:
            return None
        later = [x for x in missed if x >= recorded]
        return later[0] if later else None
    return missed[0]


def _exit_state(outcome: str | None) -> str:
    if outcome == "cured":
        return CURED
    if outcome in _LOST_OUTCOMES:
        return LOST
    return RESOLVED


def _state_on(case: _Case, d: date, tz: tzinfo, buckets: Sequence[Bucket]) -> str | None:
    if case.opened > d:
        return None
    if case.closed is not None and case.closed <= d:
        return _exit_state(case.fact.outcome)
    oldest = _oldest_unpaid_on(case, d, tz)
    dpd = max(0, (d - oldest).days) if oldest is not None else 0
    return bucket_for(dpd, buckets)


def state_on(records: KpiRecords, case_ref: str, d: date, tz: tzinfo,
             buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> str | None:
    """A case's state at the end of day ``d``: ``None`` before it opened, its bucket while
    open, ``cured``/``resolved``/``lost`` once closed."""
    book = _Book(records, tz)
    return _state_on(book.cases[case_ref], d, tz, buckets)


# --- the KPIs ------------------------------------------------------------------------------


def _one(n: int | Decimal, d: int | Decimal) -> Ratio:
    return Ratio(Decimal(n), Decimal(d))


class _Groups:
    """Ratios summed per (kpi, segment, group)."""

    def __init__(self) -> None:
        self.sums: dict[tuple[str, str, str], Ratio] = {}

    def add(self, kpi: str, segment: str, group: str, ratio: Ratio) -> None:
        key = (kpi, segment, group)
        self.sums[key] = self.sums.get(key, ZERO_RATIO) + ratio


def compute_kpis(records: KpiRecords, *, start: date, end: date, tz: tzinfo,
                 by: Dimension = "month",
                 buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> KpiReport:
    """Every KPI over the days ``[start, end]`` (local dates in ``tz``, the bank's time
    zone), grouped ``by`` month, stage or channel; a KPI without that dimension is given
    for the whole range (group ``all``)."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    check_range(start, end)
    months = periods(start, end)
    book = _Book(records, tz)
    names = [b.name for b in buckets]
    delinquent = names[1:]
    groups = _Groups()

    def group_of(kpi: str, month: str, stage: str, channel: str) -> str:
        if by not in KPIS[kpi].dimensions:
            return ALL
        return {"month": month, "stage": stage, "channel": channel}[by]

    # Month groups exist even when empty, so a month without cases shows as "-".
    for kpi, info in KPIS.items():
        if by == "month" and "month" in info.dimensions:
            segments = delinquent if kpi == "bucket_cure_rate" else (
                delinquent[:-1] if kpi == "roll_rate" else [""])
            for p in months:
                for segment in segments:
                    groups.add(kpi, segment, p.month, ZERO_RATIO)

    # Cure rate (flow) and the bucket transitions, month by month.
    transitions: dict[tuple[str, str, str], int] = defaultdict(int)
    series: list[MonthPoint] = []
    for p in months:
        before = p.first - timedelta(days=1)
        cures = 0
        worked = 0
        month_rolls: dict[str, Ratio] = {b: ZERO_RATIO for b in delinquent[:-1]}
        for case in book.cases.values():
            if not case.missed:
                continue  # never in arrears (a case opened by a payment)
            if case.open_during(p.first, p.last):
                cured = (case.fact.outcome == "cured" and case.closed is not None
                         and p.first <= case.closed <= p.last)
                worked += 1
                cures += cured
                at_cure = case.stage_on(case.closed) if cured and case.closed else None
                stages = case.stages_during(p.first, p.last) if by == "stage" else {"early"}
                for stage in sorted(stages):
                    groups.add("cure_rate", "", group_of("cure_rate", p.month, stage, ""),
                               _one(int(cured and (by != "stage" or at_cure == stage)), 1))
            start_state = _state_on(case, before, book.tz, buckets)
            if start_state not in delinquent:
                continue  # not in a delinquent bucket at the start: no roll, no cure from it
            end_state = _state_on(case, p.last, book.tz, buckets)
            assert end_state is not None
            transitions[(p.month, start_state, end_state)] += 1
            stage = case.stage_on(before)
            is_current = end_state in (names[0], CURED)
            groups.add("bucket_cure_rate", start_state,
                       group_of("bucket_cure_rate", p.month, stage, ""),
                       _one(int(is_current), 1))
            if start_state != delinquent[-1]:
                worse = end_state in names and names.index(end_state) > names.index(
                    start_state)
                groups.add("roll_rate", start_state, group_of("roll_rate", p.month, stage, ""),
                           _one(int(worse), 1))
                month_rolls[start_state] = month_rolls[start_state] + _one(int(worse), 1)
        series.append(MonthPoint(p.month, cures, _one(cures, worked),
                                 tuple(month_rolls.items())))

    def in_range(d: date) -> Period | None:
        for p in months:
            if p.first <= d <= p.last:
                return p
        return None

    # Promise-kept rate: promises falling due in the range, once kept or broken.
    for promise in records.promises:
        when = in_range(promise.due_date)
        if when is None or promise.status not in ("kept", "broken"):
            continue
        owner = book.case_of(promise.loan_id, promise.made_at)
        stage = owner.stage_on(_local(promise.made_at, tz)) if owner else UNKNOWN_STAGE
        channel = PROMISE_CHANNELS.get(promise.source, promise.source)
        groups.add("promise_kept_rate", "",
                   group_of("promise_kept_rate", when.month, stage, channel),
                   _one(int(promise.status == "kept"), 1))

    # Right-party contact: calls made in the range with an agent's outcome.
    for contact in records.contacts:
        when = in_range(_local(contact.at, tz))
        if when is None or contact.status not in MADE_STATUSES or contact.outcome is None:
            continue
        owner = book.case_of(contact.loan_id, contact.at)
        stage = owner.stage_on(_local(contact.at, tz)) if owner else UNKNOWN_STAGE
        groups.add("right_party_contact_rate", "",
                   group_of("right_party_contact_rate", when.month, stage, contact.channel),
                   _one(int(contact.answered is True), 1))

    # Recovery rate: legal cases opened in the range with a claim filed.
    for legal in records.legal:
        when = in_range(_local(legal.opened_at, tz))
        if when is None or legal.claim_total is None or legal.claim_total <= 0:
            continue
        groups.add("recovery_rate", "", group_of("recovery_rate", when.month, "legal", ""),
                   Ratio(legal.recovered, legal.claim_total))

    # Contacts per cure: cases cured in the range, every contact made on them.
    made: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    channels: set[str] = set()
    for contact in records.contacts:
        if contact.status not in MADE_STATUSES:
            continue
        owner = book.case_of(contact.loan_id, contact.at)
        if owner is not None:
            made[owner.fact.case_ref][contact.channel] += 1
            channels.add(contact.channel)
    for cured_case in book.cases.values():
        if cured_case.fact.outcome != "cured" or cured_case.closed is None:
            continue
        when = in_range(cured_case.closed)
        if when is None:
            continue
        stage = cured_case.stage_on(cured_case.closed)
        counts = made.get(cured_case.fact.case_ref, {})
        if by == "channel":
            for channel in sorted(channels):
                groups.add("contacts_per_cure", "", channel, _one(counts.get(channel, 0), 1))
        else:
            groups.add("contacts_per_cure", "",
                       group_of("contacts_per_cure", when.month, stage, ""),
                       _one(sum(counts.values()), 1))

    order = {name: index for index, name in enumerate(KPIS)}
    segment_order = {name: index for index, name in enumerate(names)}
    rows = sorted((KpiRow(kpi, segment, group, ratio)
                   for (kpi, segment, group), ratio in groups.sums.items()),
                  key=lambda r: (order[r.kpi], segment_order.get(r.segment, -1),
                                 _group_sort(r.group), r.group))
    return KpiReport(start=start, end=end, by=by, buckets=tuple(names), rows=tuple(rows),
                     series=tuple(series),
                     transitions=tuple(Transition(m, a, b, n)
                                       for (m, a, b), n in sorted(transitions.items())))


def _group_sort(group: str) -> int:
    if group == ALL:
        return 0
    if group in STAGES:
        return 1 + STAGES.index(group)
    return 10


def compare(champion: KpiReport, challenger: KpiReport) -> list[Comparison]:
    """Two reports' KPIs side by side, in the champion's order, then the challenger's
    rows the champion lacks (e.g. a channel only one policy used)."""
    if champion.by != challenger.by:
        raise ValueError("compare reports grouped by the same dimension")
    theirs = {(r.kpi, r.segment, r.group): r.ratio for r in challenger.rows}
    ours = {(r.kpi, r.segment, r.group): r.ratio for r in champion.rows}
    keys = list(ours) + [k for k in theirs if k not in ours]
    return [Comparison(kpi, segment, group, ours.get((kpi, segment, group)),
                       theirs.get((kpi, segment, group))) for kpi, segment, group in keys]


def buckets_from(rules: Iterable[tuple[str, int, int | None]]) -> tuple[Bucket, ...]:
    """Buckets from (name, min days, max days), e.g. a policy's ``[[buckets]]``."""
    return tuple(Bucket(name, low, high) for name, low, high in rules)
