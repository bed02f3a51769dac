"""How synthetic customers react to collections: pure and seeded, no I/O, no clock.

A portfolio is ``portfolio(n, seed)``: customer ``i`` depends only on ``(seed, i)``, so the
same seed gives the same customers whatever ``n`` is, and the champion and the challenger
policy meet exactly the same people. Each customer has

* a **segment** (``SEGMENTS``: self-cure, responsive, slow, promise breaker, hardship,
  never pays) that sets the draws below;
* ``pays_after``: the reminders it takes before paying, counted with weights: a reminder
  on the customer's **preferred channel** counts 1, on another channel 0.5, an answered
  call 1 (``reminder_weight``); ``None`` never pays;
* ``answer_rate``: the chance of picking up each call; answered, the customer promises to
  pay (dated 2-6 days ahead) or refuses; ``keep_rate`` is the chance a promise is kept
  (paid on its date);
* ``partial``: pays half of the arrears first, the rest two reminders later;
* ``hardship_day``: the simulation day on which the customer falls into hardship (a
  ``hardship.flagged`` event);
* whether the preferred channel is **stated** to the bank (then the policy can use it) or
  only revealed by behaviour.

Every random decision taken during the run (lag before paying, answering call number *k*,
keeping promise *k*) is drawn from ``random.Random`` seeded with a string naming the
seed, the customer and the decision, so it does not depend on the order in which the
simulator asks or on what else happened: a run is repeatable, and a decision that both
policies reach (e.g. "does customer 17 answer her first call") gets the same draw.

Days are integers: day 0 is the day the instalment was missed and the event posted.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Channel = Literal["sms", "email", "phone"]
CHANNELS: tuple[Channel, ...] = ("sms", "email", "phone")
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    weight: int
    """Relative share of the portfolio."""
    pays_after: tuple[int, int] | None
    """Weighted reminders before paying, drawn uniformly in the range; None: never pays."""
    answer_rate: tuple[float, float]
    keep_rate: float
    partial_share: float
    """Share of the segment paying half first."""
    hardship: bool = False


SEGMENTS: tuple[Segment, ...] = (
    Segment("self_cure", 15, (0, 0), (0.5, 0.9), 0.95, 0.0),
    Segment("responsive", 30, (1, 2), (0.5, 0.9), 0.9, 0.2),
    Segment("slow", 20, (3, 5), (0.3, 0.7), 0.7, 0.3),
    Segment("promise_breaker", 10, (4, 8), (0.6, 0.9), 0.3, 0.2),
    Segment("hardship", 8, (4, 8), (0.3, 0.6), 0.5, 0.5, hardship=True),
    Segment("never_pays", 17, None, (0.1, 0.4), 0.0, 0.0),
)
HARDSHIP_KINDS = ("illness", "unemployment", "disaster", "bereavement")


@dataclass(frozen=True, slots=True)
class Customer:
    index: int
    loan_id: str
    segment: str
    instalment: Decimal
    birth_year: int
    phone: str
    email: str | None
    locale: str
    preferred: Channel
    states_preference: bool
    answer_rate: float
    keep_rate: float
    pays_after: int | None
    partial: bool
    hardship_day: int | None
    hardship_kind: str | None


def draw(seed: int, index: int, what: str) -> random.Random:
    """The generator of one decision: a string seed, so stable across processes."""
    return random.Random(f"overdue-sim/{seed}/{index}/{what}")


def make_customer(seed: int, index: int) -> Customer:
    rng = draw(seed, index, "profile")
    segment = rng.choices(SEGMENTS, weights=[s.weight for s in SEGMENTS])[0]
    instalment = Decimal(rng.randint(80_000, 600_000)) / 100  # 800.00 .. 6000.00
    has_email = rng.random() < 0.8
    preferred: Channel = rng.choices(CHANNELS, weights=(5, 3 if has_email else 0, 2))[0]
    hardship_day = rng.randint(3, 20) if segment.hardship else None
    # Last four digits never 0000 or 9999: the SMS sandbox fails those numbers.
    phone = f"+86139{seed % 100:02d}{index % 1_000_000:06d}"[:14]
    if phone.endswith(("0000", "9999")):
        phone = phone[:-1] + "5"
    return Customer(
        index=index,
        loan_id=f"SIM{seed % 10_000:04d}{index:07d}",
        segment=segment.name,
        instalment=instalment.quantize(CENT),
        birth_year=rng.randint(1955, 2003),
        phone=phone,
        email=f"customer{index}@example.cn" if has_email else None,
        locale=rng.choices(("zh-CN", "zh-TW", "en"), weights=(85, 10, 5))[0],
        preferred=preferred,
        states_preference=rng.random() < 0.4,
        answer_rate=round(rng.uniform(*segment.answer_rate), 3),
        keep_rate=segment.keep_rate,
        pays_after=(rng.randint(*segment.pays_after) if segment.pays_after is not None
                    else None),
        partial=rng.random() < segment.partial_share,
        hardship_day=hardship_day,
        hardship_kind=rng.choice(HARDSHIP_KINDS) if hardship_day is not None else None,
    )


def portfolio(n: int, seed: int) -> list[Customer]:
    if n < 1:
        raise ValueError("a portfolio has at least one loan")
    return [make_customer(seed, i) for i in range(n)]


# --- during the run --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pay:
    amount: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class FlagHardship:
    kind: str


@dataclass(frozen=True, slots=True)
class CallAnswer:
    outcome: Literal["promise_to_pay", "refused", "no_answer"]
    promise_amount: Decimal | None = None
    promise_day: int | None = None


Action = Pay | FlagHardship


@dataclass(slots=True)
class CustomerState:
    """What the simulator keeps for one customer between days."""

    paid: Decimal = Decimal("0")
    calls_offered: int = 0
    calls_answered: int = 0
    promises: int = 0
    promise_day: int | None = None
    promise_kept: bool = False
    pay_day: int | None = None
    """The day the customer decided to pay (after the threshold and a lag)."""
    hardship_flagged: bool = False

    def outstanding(self, customer: Customer) -> Decimal:
        return max(customer.instalment - self.paid, Decimal("0"))


def reminder_weight(customer: Customer, sent: Mapping[str, int], answered_calls: int) -> float:
    """Reminders felt so far: 1 on the preferred channel, 0.5 on another; answered calls
    count 1 (unanswered ones nothing)."""
    total = 0.0
    for channel in ("sms", "email"):
        total += sent.get(channel, 0) * (1.0 if customer.preferred == channel else 0.5)
    total += answered_calls * (1.0 if customer.preferred == "phone" else 0.75)
    return total


def half(amount: Decimal) -> Decimal:
    return (amount / 2).quantize(CENT, rounding=ROUND_HALF_UP)


def step(customer: Customer, state: CustomerState, day: int, sent: Mapping[str, int],
         seed: int) -> list[Action]:
    """The customer's own moves on ``day`` given the reminders received so far (by
    channel: ``sms``, ``email`` sent or delivered). Call answers are :func:`answer_call`."""
    actions: list[Action] = []
    if (customer.hardship_day is not None and not state.hardship_flagged
            and day >= customer.hardship_day and state.outstanding(customer) > 0):
        state.hardship_flagged = True
        assert customer.hardship_kind is not None
        actions.append(FlagHardship(customer.hardship_kind))
    outstanding = state.outstanding(customer)
    if outstanding <= 0:
        return actions
    if state.promise_day is not None and day >= state.promise_day:
        if state.promise_kept:
            state.paid += outstanding
            actions.append(Pay(outstanding, "promise kept"))
            state.promise_day = None
            return actions
        state.promise_day = None  # broken: back to the customer's own pace
    if customer.pays_after is None:
        return actions
    felt = reminder_weight(customer, sent, state.calls_answered)
    if state.pay_day is None and felt >= customer.pays_after:
        lag = draw(seed, customer.index, f"lag/{state.promises}").randint(0, 2)
        state.pay_day = day + lag
    if state.pay_day is not None and day >= state.pay_day:
        if customer.partial and state.paid == 0:
            amount = half(customer.instalment)
            state.paid += amount
            # The rest after two more reminders' worth.
            state.pay_day = None
            actions.append(Pay(amount, "partial"))
            return actions
        if customer.partial and felt < customer.pays_after + 2:
            return actions
        state.paid += outstanding
        actions.append(Pay(outstanding, "reminded"))
    return actions


def answer_call(customer: Customer, state: CustomerState, day: int, seed: int) -> CallAnswer:
    """An agent calls the customer on ``day`` (the k-th call task of the case)."""
    k = state.calls_offered
    state.calls_offered += 1
    if state.outstanding(customer) <= 0:
        return CallAnswer("no_answer")
    rng = draw(seed, customer.index, f"call/{k}")
    if rng.random() >= customer.answer_rate:
        return CallAnswer("no_answer")
    state.calls_answered += 1
    if state.promise_day is not None or rng.random() < 0.25:
        return CallAnswer("refused")
    kept = draw(seed, customer.index, f"promise/{state.promises}").random() < customer.keep_rate
    state.promises += 1
    state.promise_day = day + rng.randint(2, 6)
    state.promise_kept = kept
    return CallAnswer("promise_to_pay", state.outstanding(customer), state.promise_day)
