"""The synthetic customers of the strategy simulation: seeded, repeatable, the intended mix."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from overdue.simulation.behaviour import (
    SEGMENTS,
    CallAnswer,
    Customer,
    CustomerState,
    FlagHardship,
    Pay,
    answer_call,
    make_customer,
    portfolio,
    reminder_weight,
    step,
)


def customer(**changes: object) -> Customer:
    base = make_customer(7, 0)
    fields = {name: getattr(base, name) for name in Customer.__slots__}
    fields.update(changes)
    return Customer(**fields)


@pytest.mark.parametrize("seed", [1, 7, 2026])
def test_same_seed_same_customers(seed: int) -> None:
    assert portfolio(300, seed) == portfolio(300, seed)
    # Customer i does not depend on the portfolio's size.
    assert portfolio(50, seed) == portfolio(300, seed)[:50]


def test_other_seed_other_customers() -> None:
    assert portfolio(100, 1) != portfolio(100, 2)


def test_the_mix_follows_the_segment_weights() -> None:
    people = portfolio(5000, 11)
    shares = Counter(c.segment for c in people)
    total = sum(s.weight for s in SEGMENTS)
    for segment in SEGMENTS:
        assert abs(shares[segment.name] / 5000 - segment.weight / total) < 0.025, segment.name
    assert {c.loan_id for c in people}.__len__() == 5000
    never = [c for c in people if c.segment == "never_pays"]
    assert all(c.pays_after is None for c in never)
    assert all(c.hardship_day is not None for c in people if c.segment == "hardship")
    assert all(c.hardship_day is None for c in people if c.segment != "hardship")
    channels = Counter(c.preferred for c in people)
    assert channels["sms"] > channels["email"] > 0 and channels["phone"] > 0
    assert all(c.email is not None for c in people if c.preferred == "email")
    assert 0.3 < sum(c.states_preference for c in people) / 5000 < 0.5
    assert all(not c.phone.endswith(("0000", "9999")) for c in people)
    assert all(Decimal("800") <= c.instalment <= Decimal("6000") for c in people)


@pytest.mark.parametrize(("preferred", "sent", "answered", "felt"), [
    ("sms", {"sms": 2}, 0, 2.0),
    ("sms", {"email": 2}, 0, 1.0),
    ("email", {"sms": 1, "email": 1}, 0, 1.5),
    ("phone", {"sms": 1}, 1, 1.5),
    ("sms", {}, 2, 1.5),
])
def test_reminders_on_the_preferred_channel_count_more(preferred: str, sent: dict[str, int],
                                                       answered: int, felt: float) -> None:
    assert reminder_weight(customer(preferred=preferred), sent, answered) == felt


def run_days(c: Customer, sent_by_day: dict[int, dict[str, int]], days: int = 10,
             seed: int = 7) -> list[tuple[int, object]]:
    state = CustomerState()
    out: list[tuple[int, object]] = []
    sent: dict[str, int] = {}
    for day in range(1, days + 1):
        sent = sent_by_day.get(day, sent)
        out.extend((day, a) for a in step(c, state, day, sent, seed))
    return out


@pytest.mark.parametrize(("pays_after", "partial", "expected"), [
    (0, False, ["reminded"]),
    (1, False, ["reminded"]),
    (2, True, ["partial", "reminded"]),
    (None, False, []),
    (12, False, []),
])
def test_pays_after_n_reminders(pays_after: int | None, partial: bool,
                                expected: list[str]) -> None:
    c = customer(pays_after=pays_after, partial=partial, preferred="sms", hardship_day=None,
                 hardship_kind=None)
    # One SMS a day from day 2 on.
    sent_by_day = {d: {"sms": d - 1} for d in range(2, 11)}
    actions = run_days(c, sent_by_day)
    assert [a.reason for _, a in actions if isinstance(a, Pay)] == expected
    paid = sum((a.amount for _, a in actions if isinstance(a, Pay)), Decimal("0"))
    assert paid == (c.instalment if expected else Decimal("0"))


def test_hardship_is_flagged_once_on_its_day() -> None:
    c = customer(hardship_day=4, hardship_kind="illness", pays_after=None)
    actions = run_days(c, {})
    assert actions == [(4, FlagHardship("illness"))]


@pytest.mark.parametrize(("keep_rate", "kept"), [(1.0, True), (0.0, False)])
def test_promises_kept_or_broken(keep_rate: float, kept: bool) -> None:
    c = customer(answer_rate=1.0, keep_rate=keep_rate, pays_after=None, hardship_day=None,
                 hardship_kind=None)
    state = CustomerState()
    answers = [answer_call(c, state, 1, seed) for seed in range(20)]
    # A promise is open after the first one: later calls on the same day are refusals.
    promise = next(a for a in answers if a.outcome == "promise_to_pay")
    assert promise.promise_amount == c.instalment and promise.promise_day is not None
    assert 3 <= promise.promise_day <= 7
    assert all(a.outcome == "refused" for a in answers[answers.index(promise) + 1:])
    paid = [a for d in range(2, 10) for a in step(c, state, d, {}, 0) if isinstance(a, Pay)]
    assert bool(paid) is kept
    if kept:
        assert paid[0].reason == "promise kept"


def test_a_customer_who_never_answers() -> None:
    c = customer(answer_rate=0.0)
    state = CustomerState()
    assert [answer_call(c, state, d, 7) for d in range(5)] == [CallAnswer("no_answer")] * 5
    assert state.calls_offered == 5 and state.calls_answered == 0


def test_decisions_do_not_depend_on_the_order_asked() -> None:
    people = portfolio(40, 3)
    first = {c.loan_id: answer_call(c, CustomerState(), 5, 3) for c in people}
    second = {c.loan_id: answer_call(c, CustomerState(), 5, 3) for c in reversed(people)}
    assert first == second
    assert {a.outcome for a in first.values()} >= {"no_answer", "promise_to_pay"}
