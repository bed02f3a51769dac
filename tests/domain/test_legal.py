"""domain.legal: legal trigger, the claim, settlement offers, transfer screening, write-offs.

The worked claim, computed by hand (rate 4.35%, uplift 50%, day basis 360, as of
2026-05-01). The penalty rate is 0.0435 x 1.5 = 0.06525 a year, 0.06525 / 360 = 0.00018125
per yuan per day.

Ledger: three instalments of 1,000.00 (principal 900.00 + interest 100.00) due 2026-01-15,
2026-02-15 and 2026-03-15, all missed; a payment of 1,500.00 on 2026-02-20; legal costs of
800.00 on 2026-04-20.

The payment (2026-02-20), oldest instalment first, interest before principal:
  #1 interest 100.00, principal 900.00              -> 500.00 left, #1 paid in full
  #2 interest 100.00                                  -> 400.00 left
  #2 principal 400.00                                 -> #2 principal 900.00 -> 500.00
  #3 is not due yet (2026-03-15): nothing for it.
Penalty, segment by segment, each rounded to the cent:
  #1  900.00 x 36 days (01-15 -> 02-20)  = 900 x 0.00018125 x 36 = 5.8725    -> 5.87
  #2  900.00 x  5 days (02-15 -> 02-20)  = 900 x 0.00018125 x 5  = 0.815625  -> 0.82
      500.00 x 70 days (02-20 -> 05-01)  = 500 x 0.00018125 x 70 = 6.34375   -> 6.34
      line #2: 0.82 + 6.34 = 7.16
  #3  900.00 x 47 days (03-15 -> 05-01)  = 900 x 0.00018125 x 47 = 7.666875  -> 7.67
  penalty = 5.87 + 7.16 + 7.67 = 20.70
Claim: principal 500.00 + 900.00 = 1,400.00; interest 0.00 + 100.00 = 100.00;
penalty 20.70; costs 800.00; total 1,400.00 + 100.00 + 20.70 + 800.00 = 2,320.70.
Reconciliation: due 3 x 1,000.00 + 800.00 = 3,800.00, paid 1,500.00: 2,300.00 =
1,400.00 + 100.00 + 800.00.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.legal import (
    OUTCOMES,
    WRITE_OFF_REASONS,
    Claim,
    ClaimLine,
    LedgerEntry,
    LegalError,
    LegalTriggerRules,
    SettlementOffer,
    TransferScreening,
    check_write_off,
    claim_as_of,
    legal_review_due,
    may_transfer,
    settlement_offer,
)

D = Decimal
RATE = D("0.0435")
UPLIFT = D("0.5")
AS_OF = date(2026, 5, 1)


def instalment(on: date, principal: str, interest: str) -> LedgerEntry:
    p, i = D(principal), D(interest)
    return LedgerEntry(on=on, kind="instalment_due", amount=p + i, principal=p, interest=i)


def payment(on: date, amount: str) -> LedgerEntry:
    return LedgerEntry(on=on, kind="payment", amount=D(amount))


def cost(on: date, amount: str) -> LedgerEntry:
    return LedgerEntry(on=on, kind="cost", amount=D(amount))


WORKED = (
    instalment(date(2026, 1, 15), "900.00", "100.00"),
    instalment(date(2026, 2, 15), "900.00", "100.00"),
    instalment(date(2026, 3, 15), "900.00", "100.00"),
    payment(date(2026, 2, 20), "1500.00"),
    cost(date(2026, 4, 20), "800.00"),
)


def worked_claim(**overrides: object) -> Claim:
    kwargs: dict[str, object] = {"as_of": AS_OF, "annual_rate": RATE, "uplift": UPLIFT}
    kwargs.update(overrides)
    return claim_as_of(WORKED, **kwargs)  # type: ignore[arg-type]


# --- Legal trigger ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "failures", "due"),
    [
        pytest.param(90, 2, False, id="90-days-is-three-months-not-more"),
        pytest.param(91, 2, True, id="91-days-two-failures"),
        pytest.param(91, 1, False, id="91-days-one-failure"),
        pytest.param(120, 1, False, id="120-days-one-failure"),
        pytest.param(200, 3, True, id="200-days-three-failures"),
        pytest.param(90, 5, False, id="many-failures-not-overdue-enough"),
        pytest.param(0, 0, False, id="current"),
        pytest.param(91, 0, False, id="no-negotiation-yet"),
        pytest.param(1000, 2, True, id="long-overdue"),
    ],
)
def test_legal_review_due_default_rules(dpd: int, failures: int, due: bool) -> None:
    result, reason = legal_review_due(dpd, failures, LegalTriggerRules())
    assert result is due
    assert reason.startswith("legal review due" if due else "legal review not due")


def test_legal_review_reason_names_the_missing_condition() -> None:
    rules = LegalTriggerRules()
    _, only_days = legal_review_due(90, 2, rules)
    assert "not overdue long enough" in only_days and "90 days past due" in only_days
    assert "failed negotiations" not in only_days
    _, only_failures = legal_review_due(120, 1, rules)
    assert "not enough failed negotiations" in only_failures
    assert "not overdue long enough" not in only_failures
    _, both = legal_review_due(30, 0, rules)
    assert "not overdue long enough" in both and "not enough failed negotiations" in both
    _, ok = legal_review_due(200, 3, rules)
    assert ok == ("legal review due: 200 days past due (needs at least 91) and 3 consecutive "
                  "failed negotiations (needs at least 2)")


@pytest.mark.parametrize(
    ("dpd", "failures", "due"),
    [(119, 3, False), (120, 3, True), (120, 2, False), (500, 2, False)],
)
def test_legal_review_due_configured_rules(dpd: int, failures: int, due: bool) -> None:
    rules = LegalTriggerRules(min_days_past_due=120, consecutive_failed_negotiations=3)
    assert legal_review_due(dpd, failures, rules)[0] is due


@given(dpd=st.integers(0, 2000), failures=st.integers(0, 10))
def test_legal_review_due_is_the_conjunction(dpd: int, failures: int) -> None:
    due, _ = legal_review_due(dpd, failures, LegalTriggerRules())
    assert due == (dpd > 90 and failures >= 2)


@pytest.mark.parametrize(
    ("args", "field"),
    [((-1, 2), "days_past_due"), ((91, -1), "consecutive_failed_negotiations"),
     ((True, 2), "days_past_due")],
)
def test_legal_review_due_rejects_bad_counts(args: tuple[int, int], field: str) -> None:
    with pytest.raises(LegalError) as info:
        legal_review_due(*args, LegalTriggerRules())
    assert info.value.field == field


def test_trigger_rules_validated() -> None:
    with pytest.raises(LegalError, match="min_days_past_due"):
        LegalTriggerRules(min_days_past_due=-1)
    with pytest.raises(LegalError, match="consecutive_failed_negotiations"):
        LegalTriggerRules(consecutive_failed_negotiations=-2)


# --- Ledger entries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "instalment_due", "amount": D("1000.00"), "principal": D("900.00"),
          "interest": D("99.99")}, "amount"),
        ({"kind": "payment", "amount": D("0.00")}, "amount"),
        ({"kind": "payment", "amount": D("-5.00")}, "amount"),
        ({"kind": "payment", "amount": D("10.005")}, "amount"),
        ({"kind": "payment", "amount": 10.5}, "amount"),
        ({"kind": "cost", "amount": D("10.00"), "principal": D("10.00")}, "principal"),
        ({"kind": "fee", "amount": D("10.00")}, "kind"),
    ],
)
def test_ledger_entry_validation(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(LegalError) as info:
        LedgerEntry(on=date(2026, 1, 1), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_ledger_entry_accepts_whole_numbers() -> None:
    entry = LedgerEntry(on=date(2026, 1, 1), kind="instalment_due", amount=D(1000),
                        principal=D(900), interest=D(100))
    assert entry.amount == D("1000.00") and str(entry.amount) == "1000.00"


# --- Claim --------------------------------------------------------------------------------


def test_worked_claim() -> None:
    claim = worked_claim()
    assert claim.lines == (
        ClaimLine(due_date=date(2026, 1, 15), principal_outstanding=D("0.00"),
                  interest_outstanding=D("0.00"), days_overdue=36, penalty=D("5.87")),
        ClaimLine(due_date=date(2026, 2, 15), principal_outstanding=D("500.00"),
                  interest_outstanding=D("0.00"), days_overdue=75, penalty=D("7.16")),
        ClaimLine(due_date=date(2026, 3, 15), principal_outstanding=D("900.00"),
                  interest_outstanding=D("100.00"), days_overdue=47, penalty=D("7.67")),
    )
    assert claim.principal == D("1400.00")
    assert claim.interest == D("100.00")
    assert claim.penalty_interest == D("20.70")
    assert claim.costs == D("800.00")
    assert claim.total == D("2320.70")
    assert claim.unapplied_credit == D("0.00")
    assert str(claim.total) == "2320.70"


def test_worked_claim_with_acceleration() -> None:
    # Eight more instalments of 900.00 principal called in: 7,200.00.
    # principal 1,400.00 + 7,200.00 = 8,600.00; total 8,600.00 + 100.00 + 20.70 + 800.00
    # = 9,520.70. The accelerated principal bears no penalty in the claim.
    claim = worked_claim(accelerated_principal=D("7200.00"))
    assert claim.principal == D("8600.00")
    assert claim.penalty_interest == D("20.70")
    assert claim.total == D("9520.70")


def test_worked_claim_on_a_365_day_basis() -> None:
    # 0.06525 / 365 per day: #1 900 x 36 = 2114.10 / 365 = 5.79205... -> 5.79
    # #2 900 x 5 = 293.625 / 365 = 0.80445... -> 0.80; 500 x 70 = 2283.75 / 365 = 6.25684...
    # -> 6.26; #3 900 x 47 = 2760.075 / 365 = 7.56185... -> 7.56. 5.79 + 0.80 + 6.26 + 7.56
    # = 20.41
    claim = worked_claim(day_basis=365)
    assert [line.penalty for line in claim.lines] == [D("5.79"), D("7.06"), D("7.56")]
    assert claim.penalty_interest == D("20.41")
    assert claim.total == D("2320.41")


def test_claim_before_the_payment_and_costs() -> None:
    # As of 2026-02-19, the day before the payment: #1 900 x 35 days = 900 x 0.00018125 x 35
    # = 5.709375 -> 5.71; #2 900 x 4 days = 0.6525 -> 0.65; penalty 6.36. Principal
    # 2 x 900.00, interest 2 x 100.00, no costs yet: total 1,800 + 200 + 6.36 = 2,006.36.
    claim = worked_claim(as_of=date(2026, 2, 19))
    assert claim.principal == D("1800.00")
    assert claim.interest == D("200.00")
    assert claim.penalty_interest == D("6.36")
    assert claim.costs == D("0.00")
    assert claim.total == D("2006.36")
    assert len(claim.lines) == 2


def test_payments_go_to_instalments_before_costs() -> None:
    # Costs of 800.00 on 02-01 come before the payment, but the payment of 1,500.00 still
    # goes to #1 (1,000.00) then #2 interest (100.00) and principal (400.00); costs stay.
    ledger = (*WORKED[:3], cost(date(2026, 2, 1), "800.00"), payment(date(2026, 2, 20),
                                                                     "1500.00"))
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert claim.costs == D("800.00")
    assert claim.principal == D("1400.00")
    assert claim.total == D("2320.70")


def test_payment_clearing_instalments_then_costs_then_credit() -> None:
    # 3,900.00 on 04-25: 3 x 1,000.00 to the instalments, 800.00 to the costs, 100.00 credit.
    # Penalty: #1 900 x 100 days (01-15 -> 04-25) = 16.3125 -> 16.31; #2 900 x 69 days =
    # 11.2556... -> 11.26; #3 900 x 41 days = 6.688125 -> 6.69. Total penalty 34.26, which
    # the payments never reduce.
    ledger = (*WORKED[:3], cost(date(2026, 4, 20), "800.00"),
              payment(date(2026, 4, 25), "3900.00"))
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert (claim.principal, claim.interest, claim.costs) == (D("0.00"),) * 3
    assert claim.unapplied_credit == D("100.00")
    assert claim.penalty_interest == D("34.26")
    assert claim.total == D("34.26")
    assert [line.days_overdue for line in claim.lines] == [100, 69, 41]


def test_charges_come_before_payments_on_the_same_date() -> None:
    # Costs of 800.00 are open since 02-01 and nothing else is due. On 03-15 the payment of
    # 1,000.00 (listed first) and instalment #3 fall on the same date: the instalment is
    # booked first, so the payment clears it (instalments before costs, 0 days of penalty)
    # and the costs stay open: the claim is the 800.00 of costs alone.
    ledger = (cost(date(2026, 2, 1), "800.00"), payment(date(2026, 3, 15), "1000.00"),
              WORKED[2])
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert (claim.principal, claim.interest, claim.penalty_interest) == (D("0.00"),) * 3
    assert claim.costs == claim.total == D("800.00")
    assert claim.lines[0].days_overdue == 0


def test_credit_meets_a_dates_instalments_before_its_costs() -> None:
    # 300.00 paid on 02-01 with nothing due: credit. On 03-15 costs of 800.00 (listed first)
    # and instalment #3 are booked together: the credit pays #3's interest 100.00 and 200.00
    # of its principal. 700.00 x 47 days (03-15 -> 05-01) = 700 x 0.00018125 x 47
    # = 5.963125 -> 5.96. Claim: 700.00 + 0.00 + 5.96 + 800.00 = 1,505.96.
    ledger = (payment(date(2026, 2, 1), "300.00"), cost(date(2026, 3, 15), "800.00"),
              WORKED[2])
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert claim.principal == D("700.00")
    assert claim.interest == D("0.00")
    assert claim.costs == D("800.00")
    assert claim.penalty_interest == D("5.96")
    assert claim.total == D("1505.96")


def test_interest_is_paid_before_principal() -> None:
    # 150.00 on 01-20 pays #1's interest 100.00 and 50.00 of its principal:
    # 900 x 5 days = 0.815625 -> 0.82; 850 x 101 days (01-20 -> 05-01) = 15.5603125 -> 15.56.
    ledger = (WORKED[0], payment(date(2026, 1, 20), "150.00"))
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert claim.interest == D("0.00")
    assert claim.principal == D("850.00")
    assert claim.penalty_interest == D("16.38")


def test_payment_on_the_due_date_stops_the_penalty_at_once() -> None:
    ledger = (payment(date(2026, 1, 15), "1000.00"), WORKED[0])
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert claim.total == D("0.00")
    assert claim.lines[0].days_overdue == 0


def test_prepayment_is_applied_when_the_instalment_falls_due() -> None:
    # 600.00 paid 01-10, before #1 is due: it pays #1's interest 100.00 and 500.00 principal
    # on 01-15; 400.00 x 106 days (01-15 -> 05-01) = 7.685 -> 7.68 (HALF_EVEN; HALF_UP would
    # give 7.69).
    ledger = (payment(date(2026, 1, 10), "600.00"), WORKED[0])
    claim = claim_as_of(ledger, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    assert claim.principal == D("400.00")
    assert claim.penalty_interest == D("7.68")
    assert claim.unapplied_credit == D("0.00")


def test_entries_after_as_of_are_ignored() -> None:
    later = (*WORKED, payment(date(2026, 5, 2), "2000.00"),
             instalment(date(2026, 5, 15), "900.00", "100.00"))
    assert claim_as_of(later, as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT) == worked_claim()


def test_empty_ledger() -> None:
    claim = claim_as_of((), as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT,
                        accelerated_principal=D("5000.00"))
    assert claim.total == claim.principal == D("5000.00")
    assert claim.lines == ()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"annual_rate": D("-0.01")}, "annual_rate"),
        ({"annual_rate": 0.0435}, "annual_rate"),
        ({"uplift": D("-0.5")}, "uplift"),
        ({"day_basis": 0}, "day_basis"),
        ({"accelerated_principal": D("1.001")}, "accelerated_principal"),
        ({"accelerated_principal": D("-1")}, "accelerated_principal"),
    ],
)
def test_claim_validation(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(LegalError) as info:
        worked_claim(**overrides)
    assert info.value.field == field


# --- Claim properties against a day-by-day reference --------------------------------------

START = date(2026, 1, 1)
cents = st.integers(0, 300_000).map(lambda c: D(c).scaleb(-2))
positive_cents = st.integers(1, 400_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def ledgers(draw: st.DrawFn) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    span = draw(st.sampled_from([10, 150]))  # a short span makes same-day entries common
    for _ in range(draw(st.integers(0, 12))):
        on = START + timedelta(days=draw(st.integers(0, span)))
        kind = draw(st.sampled_from(["instalment_due", "instalment_due", "payment", "cost"]))
        if kind == "instalment_due":
            p, i = draw(cents), draw(cents.map(lambda c: to_cent(c / 10)))
            entries.append(LedgerEntry(on=on, kind="instalment_due", amount=p + i,
                                       principal=p, interest=i))
        elif kind == "payment":
            entries.append(LedgerEntry(on=on, kind="payment", amount=draw(positive_cents)))
        else:
            entries.append(LedgerEntry(on=on, kind="cost", amount=draw(cents)))
    return entries


def to_cent(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_EVEN)


rates = st.integers(0, 2000).map(lambda bp: D(bp).scaleb(-4))
uplifts = st.sampled_from([D("0"), D("0.3"), D("0.5"), D("0.4")])
bases = st.sampled_from([360, 365])
as_ofs = st.integers(0, 200).map(lambda n: START + timedelta(days=n))


def reference(ledger: list[LedgerEntry], as_of: date, rate: Decimal, uplift: Decimal,
              basis: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """Replays the ledger day by day, the simplest way: (principal, interest, costs, credit,
    penalty). Penalty: the days an instalment's principal stayed at one value form a run;
    each run's penalty is rounded to the cent."""
    dues = [e for e in ledger if e.kind == "instalment_due" and e.on <= as_of]
    order = sorted(range(len(dues)), key=lambda k: dues[k].on)  # stable: ledger order
    principal = {k: dues[k].principal for k in order}
    interest = {k: dues[k].interest for k in order}
    runs: dict[int, list[list[Decimal]]] = {k: [] for k in order}  # [principal, days]
    cost_list: list[Decimal] = []
    credit = D("0")
    day = START
    while day <= as_of:
        cost_list += [e.amount for e in ledger if e.kind == "cost" and e.on == day]
        credit += sum((e.amount for e in ledger if e.kind == "payment" and e.on == day),
                      D("0"))
        for k in order:
            if dues[k].on <= day:
                take = min(interest[k], credit)
                interest[k] -= take
                credit -= take
                take = min(principal[k], credit)
                principal[k] -= take
                credit -= take
        for n, owed in enumerate(cost_list):
            take = min(owed, credit)
            cost_list[n] = owed - take
            credit -= take
        if day < as_of:
            for k in order:
                if dues[k].on <= day:
                    if runs[k] and runs[k][-1][0] == principal[k]:
                        runs[k][-1][1] += 1
                    else:
                        runs[k].append([principal[k], D(1)])
        day += timedelta(days=1)
    penalty = sum((to_cent(p * rate * (1 + uplift) * days / basis)
                   for k in order for p, days in runs[k]), D("0"))
    return (sum(principal.values(), D("0")), sum(interest.values(), D("0")),
            sum(cost_list, D("0")), credit, penalty)


@settings(max_examples=300, deadline=None)
@given(ledger=ledgers(), as_of=as_ofs, rate=rates, uplift=uplifts, basis=bases,
       accelerated=cents)
def test_claim_reconciles_with_the_ledger(ledger: list[LedgerEntry], as_of: date,
                                          rate: Decimal, uplift: Decimal, basis: int,
                                          accelerated: Decimal) -> None:
    claim = claim_as_of(ledger, as_of=as_of, annual_rate=rate, uplift=uplift, day_basis=basis,
                        accelerated_principal=accelerated)
    upto = [e for e in ledger if e.on <= as_of]
    due = sum((e.amount for e in upto if e.kind != "payment"), D("0"))
    paid = sum((e.amount for e in upto if e.kind == "payment"), D("0"))
    applied = paid - claim.unapplied_credit
    # What is due minus the payments applied is exactly what the claim asks for, penalty
    # apart; a credit is left only once everything due is paid.
    assert claim.principal - accelerated + claim.interest + claim.costs == due - applied
    assert claim.unapplied_credit >= 0 and applied >= 0
    if claim.unapplied_credit > 0:
        assert claim.principal - accelerated == claim.interest == claim.costs == 0
    assert claim.penalty_interest >= 0
    assert claim.total == (claim.principal + claim.interest + claim.penalty_interest
                           + claim.costs)
    assert claim.penalty_interest == sum((line.penalty for line in claim.lines), D("0"))
    assert claim.principal - accelerated == sum(
        (line.principal_outstanding for line in claim.lines), D("0"))
    for amount in (claim.principal, claim.interest, claim.penalty_interest, claim.costs,
                   claim.total, claim.unapplied_credit):
        assert amount == to_cent(amount)
    assert all(0 <= line.days_overdue <= (as_of - line.due_date).days for line in claim.lines)
    # An independent day-by-day replay agrees to the cent.
    assert reference(ledger, as_of, rate, uplift, basis) == (
        claim.principal - accelerated, claim.interest, claim.costs, claim.unapplied_credit,
        claim.penalty_interest)


@settings(max_examples=200, deadline=None)
@given(ledger=ledgers(), first=as_ofs, extra=st.integers(0, 100), rate=rates,
       uplift=uplifts, basis=bases)
def test_a_later_as_of_never_lowers_the_penalty(ledger: list[LedgerEntry], first: date,
                                                extra: int, rate: Decimal, uplift: Decimal,
                                                basis: int) -> None:
    earlier = claim_as_of(ledger, as_of=first, annual_rate=rate, uplift=uplift,
                          day_basis=basis)
    later = claim_as_of(ledger, as_of=first + timedelta(days=extra), annual_rate=rate,
                        uplift=uplift, day_basis=basis)
    assert later.penalty_interest >= earlier.penalty_interest


# --- Settlement ---------------------------------------------------------------------------


def test_worked_settlement_half_penalty_waived_three_instalments_after_grace() -> None:
    # waived = 20.70 x 0.5 = 10.35; settle = 2,320.70 - 10.35 = 2,310.35.
    # Grace of 30 days (2026-05-31 -> 2026-06-30): the first payment on 2026-06-30, where the
    # grace ends, then monthly.
    # 2,310.35 / 3 = 770.1166... -> 770.12, 770.12, last 2,310.35 - 1,540.24 = 770.11.
    offer = settlement_offer(worked_claim(), waive_penalty_share=D("0.5"), grace_days=30,
                             instalments=3, first_due=date(2026, 6, 30))
    assert offer == SettlementOffer(
        settle_amount=D("2310.35"), waived_penalty=D("10.35"),
        grace_until=date(2026, 6, 30),
        instalments=((date(2026, 6, 30), D("770.12")), (date(2026, 7, 30), D("770.12")),
                     (date(2026, 8, 30), D("770.11"))))


def test_settlement_waiver_rounds_half_even() -> None:
    # 20.70 x 0.15 = 3.105 -> 3.10 (HALF_EVEN; HALF_UP would give 3.11);
    # settle 2,320.70 - 3.10 = 2,317.60 = 4 x 579.40 exactly.
    offer = settlement_offer(worked_claim(), waive_penalty_share=D("0.15"), grace_days=0,
                             instalments=4, first_due=date(2026, 5, 15))
    assert offer.waived_penalty == D("3.10")
    assert offer.settle_amount == D("2317.60")
    assert offer.grace_until is None
    assert offer.instalments == tuple((date(2026, m, 15), D("579.40")) for m in (5, 6, 7, 8))


def test_settlement_one_payment_no_waiver() -> None:
    offer = settlement_offer(worked_claim(), waive_penalty_share=D("0"), grace_days=0,
                             instalments=1, first_due=date(2026, 5, 15))
    assert offer.instalments == ((date(2026, 5, 15), D("2320.70")),)
    assert offer.waived_penalty == D("0.00")


def test_settlement_one_payment_at_grace_end_full_waiver() -> None:
    # Whole penalty waived: 2,320.70 - 20.70 = 2,300.00, paid at the end of a 14-day grace
    # (2026-05-15 -> 2026-05-29), which is first_due.
    offer = settlement_offer(worked_claim(), waive_penalty_share=D("1"), grace_days=14,
                             instalments=1, first_due=date(2026, 5, 29))
    assert offer.grace_until == date(2026, 5, 29)
    assert offer.instalments == ((date(2026, 5, 29), D("2300.00")),)


def test_settlement_dates_clamp_to_month_end() -> None:
    offer = settlement_offer(worked_claim(), waive_penalty_share=D("0"), grace_days=0,
                             instalments=3, first_due=date(2026, 1, 31))
    assert [d for d, _ in offer.instalments] == [date(2026, 1, 31), date(2026, 2, 28),
                                                 date(2026, 3, 31)]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"waive_penalty_share": D("1.01")}, "waive_penalty_share"),
        ({"waive_penalty_share": D("-0.1")}, "waive_penalty_share"),
        ({"waive_penalty_share": 0.5}, "waive_penalty_share"),
        ({"grace_days": -1}, "grace_days"),
        ({"instalments": 0}, "instalments"),
        ({"instalments": 300_000}, "instalments"),
        ({"first_due": "2026-05-15"}, "first_due"),
    ],
)
def test_settlement_validation(overrides: dict[str, object], field: str) -> None:
    kwargs: dict[str, object] = {"waive_penalty_share": D("0"), "grace_days": 0,
                                 "instalments": 1, "first_due": date(2026, 5, 15)}
    kwargs.update(overrides)
    with pytest.raises(LegalError) as info:
        settlement_offer(worked_claim(), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_settlement_refuses_a_split_too_small() -> None:
    # 0.15 / 10 = 0.015 -> 0.02; nine of them is 0.18, more than 0.15.
    claim = claim_as_of((), as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT,
                        accelerated_principal=D("0.15"))
    with pytest.raises(LegalError) as info:
        settlement_offer(claim, waive_penalty_share=D("0"), grace_days=0, instalments=10,
                         first_due=AS_OF)
    assert info.value.field == "instalments"
    empty = claim_as_of((), as_of=AS_OF, annual_rate=RATE, uplift=UPLIFT)
    with pytest.raises(LegalError) as info:
        settlement_offer(empty, waive_penalty_share=D("0"), grace_days=0, instalments=1,
                         first_due=AS_OF)
    assert info.value.field == "claim"


def offer_amount_bound(claim: Claim, count: int) -> bool:
    return claim.total - claim.penalty_interest < D("0.005") * count * count


@settings(max_examples=200, deadline=None)
@given(ledger=ledgers(), accelerated=positive_cents, share=st.integers(0, 100),
       grace=st.integers(0, 90), count=st.integers(1, 60), first=as_ofs)
def test_settlement_splits_exactly(ledger: list[LedgerEntry], accelerated: Decimal,
                                   share: int, grace: int, count: int, first: date) -> None:
    claim = claim_as_of(ledger, as_of=date(2026, 6, 30), annual_rate=D("0.0435"),
                        uplift=D("0.5"), accelerated_principal=accelerated)
    try:
        offer = settlement_offer(claim, waive_penalty_share=D(share).scaleb(-2),
                                 grace_days=grace, instalments=count, first_due=first)
    except LegalError as exc:
        assert exc.field == "instalments"
        # round(s / n) x (n - 1) > s needs s < 0.005 x n x (n - 1): only tiny amounts.
        assert offer_amount_bound(claim, count)
        return
    amounts = [amount for _, amount in offer.instalments]
    assert len(amounts) == count
    assert sum(amounts, D("0")) == offer.settle_amount
    assert all(amount > 0 for amount in amounts)
    assert offer.settle_amount + offer.waived_penalty == claim.total
    assert 0 <= offer.waived_penalty <= claim.penalty_interest
    dates = [day for day, _ in offer.instalments]
    assert dates[0] == first
    assert all(a < b for a, b in pairwise(dates))
    assert offer.grace_until == (first if grace else None)


# --- Closure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deceased", "bankrupt", "disputed", "allowed", "fragments"),
    [
        (False, False, False, True, ["eligible"]),
        (True, False, False, False, ["deceased"]),
        (False, True, False, False, ["bankrupt"]),
        (False, False, True, False, ["dispute"]),
        (True, True, True, False, ["deceased", "bankrupt", "dispute"]),
    ],
)
def test_may_transfer(deceased: bool, bankrupt: bool, disputed: bool, allowed: bool,
                      fragments: list[str]) -> None:
    ok, reason = may_transfer(TransferScreening(deceased=deceased, bankrupt=bankrupt,
                                                disputed=disputed))
    assert ok is allowed
    assert all(fragment in reason for fragment in fragments)


@pytest.mark.parametrize("reason", sorted(WRITE_OFF_REASONS))
def test_write_off_reasons_accepted(reason: str) -> None:
    check_write_off(reason)


@pytest.mark.parametrize("reason", ["", "Uncollectable", "customer_asked", "bankrupt "])
def test_write_off_reasons_refused(reason: str) -> None:
    with pytest.raises(ValueError, match="write-off reason") as info:
        check_write_off(reason)
    assert repr(reason) in str(info.value)


def test_outcomes() -> None:
    assert OUTCOMES == ("cured", "restructured", "settled", "recovered", "written_off",
                        "transferred")
    expected = {"uncollectable", "deceased_no_estate", "bankrupt", "statute_barred",
                "small_balance", "fraud"}
    assert expected == WRITE_OFF_REASONS
