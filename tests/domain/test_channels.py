"""domain.channels: preference and responsiveness first, the age rule as a policy switch."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.channels import (
    Basis,
    ChannelChoice,
    ChannelPolicy,
    ContactProfile,
    choose_channels,
)
from domain.contact_rules import Channel

Step = Channel | Literal["auto"]
TODAY = date(2026, 3, 2)
POLICY = ChannelPolicy()
NO_AGE = ChannelPolicy(use_age_rule=False)
YOUNG = 1996   # 30 on TODAY
OLD = 1971     # 55 on TODAY: the first "older" year


def profile(
    preferred: Channel | None = None,
    consents: dict[Channel, bool] | None = None,
    has_email: bool = True,
    has_phone: bool = True,
    birth_year: int | None = None,
    responsive: tuple[Channel, ...] = (),
) -> ContactProfile:
    return ContactProfile(preferred, consents or {}, has_email, has_phone, birth_year,
                          responsive)


@pytest.mark.parametrize(
    ("prof", "policy", "step", "order", "basis", "excluded"),
    [
        pytest.param(profile(), POLICY, "auto", ("sms", "email", "phone"), "profile_default", {},
                     id="age-unknown-default-order"),
        pytest.param(profile(birth_year=YOUNG), POLICY, "auto", ("sms", "email", "phone"),
                     "profile_age", {}, id="younger-sms-email-phone"),
        pytest.param(profile(birth_year=OLD), POLICY, "auto", ("phone", "sms", "email"),
                     "profile_age", {}, id="older-at-55-phone-first"),
        pytest.param(profile(birth_year=OLD + 1), POLICY, "auto", ("sms", "email", "phone"),
                     "profile_age", {}, id="54-is-younger"),
        pytest.param(profile(birth_year=OLD), NO_AGE, "auto", ("sms", "email", "phone"),
                     "profile_default", {}, id="age-rule-off-ignores-birth-year"),
        pytest.param(profile(birth_year=OLD), replace(POLICY, older_customer_age=60), "auto",
                     ("sms", "email", "phone"), "profile_age", {}, id="configurable-age"),
        pytest.param(profile(preferred="email", birth_year=OLD), POLICY, "auto",
                     ("email", "phone", "sms"), "preference", {},
                     id="preference-beats-age"),
        pytest.param(profile(preferred="email", has_email=False, birth_year=OLD), POLICY, "auto",
                     ("phone", "sms"), "profile_age", {"email": "no_address"},
                     id="unreachable-preference-skipped"),
        pytest.param(profile(preferred="sms", consents={"sms": False}), POLICY, "auto",
                     ("email", "phone"), "profile_default", {"sms": "opted_out"},
                     id="opted-out-preference-skipped"),
        pytest.param(profile(responsive=("phone", "email"), birth_year=YOUNG), POLICY, "auto",
                     ("phone", "email", "sms"), "responsiveness", {},
                     id="responsiveness-beats-age"),
        pytest.param(profile(preferred="email", responsive=("phone", "email")), POLICY, "auto",
                     ("email", "phone", "sms"), "preference", {},
                     id="preference-beats-responsiveness-deduped"),
        pytest.param(profile(responsive=("email", "email", "sms")), POLICY, "auto",
                     ("email", "sms", "phone"), "responsiveness", {},
                     id="responsive-duplicates-removed"),
        pytest.param(profile(responsive=("email",), has_email=False), POLICY, "auto",
                     ("sms", "phone"), "profile_default", {"email": "no_address"},
                     id="responsive-but-unreachable-skipped"),
        pytest.param(profile(consents={"sms": True, "email": False}), POLICY, "auto",
                     ("sms", "phone"), "profile_default", {"email": "opted_out"},
                     id="opt-out-email-explicit-opt-in-sms"),
        pytest.param(profile(has_email=False, birth_year=YOUNG), POLICY, "auto",
                     ("sms", "phone"), "profile_age", {"email": "no_address"}, id="no-email"),
        pytest.param(profile(has_phone=False), POLICY, "auto", ("email",), "profile_default",
                     {"sms": "no_address", "phone": "no_address"}, id="no-phone-no-sms"),
        pytest.param(profile(has_phone=False, consents={"email": False}), POLICY, "auto",
                     (), "profile_default",
                     {"sms": "no_address", "email": "opted_out", "phone": "no_address"},
                     id="no-lawful-channel"),
        pytest.param(profile(consents={"sms": False}, has_phone=False), POLICY, "auto",
                     ("email",), "profile_default",
                     {"sms": "opted_out", "phone": "no_address"},
                     id="opt-out-reported-before-no-address"),
        pytest.param(profile(birth_year=YOUNG), POLICY, "phone", ("phone", "sms", "email"),
                     "step_fixed", {}, id="fixed-step-phone-first-rest-fallback"),
        pytest.param(profile(preferred="email"), POLICY, "sms", ("sms", "email", "phone"),
                     "step_fixed", {}, id="fixed-step-beats-preference"),
        pytest.param(profile(preferred="email", consents={"phone": False}), POLICY, "phone",
                     ("email", "sms"), "preference", {"phone": "opted_out"},
                     id="fixed-step-unusable-falls-back"),
        pytest.param(profile(has_phone=False, has_email=False), POLICY, "sms", (),
                     "profile_default",
                     {"sms": "no_address", "email": "no_address", "phone": "no_address"},
                     id="fixed-step-no-lawful-channel"),
        pytest.param(profile(birth_year=YOUNG),
                     replace(POLICY, younger_order=("email",)), "auto", ("email",),
                     "profile_age", {}, id="policy-order-may-omit-channels"),
    ],
)
def test_choose_channels(prof: ContactProfile, policy: ChannelPolicy,
                         step: Step, order: tuple[Channel, ...], basis: Basis,
                         excluded: dict[Channel, str]) -> None:
    choice = choose_channels(prof, policy, TODAY, step)
    assert choice == ChannelChoice(order, basis, excluded)


CHANNELS: st.SearchStrategy[Channel] = st.sampled_from(["sms", "email", "phone"])
PROFILES_WITHOUT_AGE = st.builds(
    ContactProfile,
    preferred_channel=st.none() | CHANNELS,
    consents=st.dictionaries(CHANNELS, st.booleans()),
    has_email=st.booleans(),
    has_phone=st.booleans(),
    birth_year=st.none(),
    responsive_channels=st.lists(CHANNELS, max_size=4).map(tuple),
)
POLICIES = st.builds(
    ChannelPolicy,
    use_age_rule=st.booleans(),
    older_customer_age=st.integers(0, 120),
    younger_order=st.permutations(["sms", "email", "phone"]).map(tuple),
    older_order=st.permutations(["sms", "email", "phone"]).map(tuple),
    default_order=st.permutations(["sms", "email", "phone"]).map(tuple),
)


@given(
    prof=PROFILES_WITHOUT_AGE,
    policy=POLICIES,
    birth_year=st.integers(1900, 2030),
    step=st.one_of(st.just("auto"), CHANNELS),
    today=st.dates(date(2000, 1, 1), date(2100, 12, 31)),
)
def test_birth_year_has_no_influence_when_age_rule_off(
    prof: ContactProfile, policy: ChannelPolicy, birth_year: int, step: Step,
    today: date,
) -> None:
    off = replace(policy, use_age_rule=False)
    with_age = choose_channels(replace(prof, birth_year=birth_year), off, today, step)
    without_age = choose_channels(prof, off, today, step)
    assert with_age == without_age
    assert with_age.basis != "profile_age"


@given(prof=PROFILES_WITHOUT_AGE, policy=POLICIES, birth_year=st.none() | st.integers(1900, 2030),
       step=st.one_of(st.just("auto"), CHANNELS))
def test_order_is_lawful_and_complete(
    prof: ContactProfile, policy: ChannelPolicy, birth_year: int | None, step: Step,
) -> None:
    choice = choose_channels(replace(prof, birth_year=birth_year), policy, TODAY, step)
    assert len(set(choice.order)) == len(choice.order)
    assert not set(choice.order) & set(choice.excluded)
    # Every channel is either usable (and, with full policy orders, ranked) or excluded.
    assert set(choice.order) | set(choice.excluded) == {"sms", "email", "phone"}
    for channel in choice.order:
        assert prof.consents.get(channel) is not False
        assert prof.has_email if channel == "email" else prof.has_phone
    if step != "auto" and step in choice.order:
        assert choice.order[0] == step
        assert choice.basis == "step_fixed"
