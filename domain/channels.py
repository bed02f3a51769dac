"""Channel choice per customer: which of SMS, email and phone to use, best first.

What the customer said and did ranks first (stated preference, then the channels that got
a reply or a payment); the bank's profile rule (younger customers SMS/email, older
customers phone) only fills in after that. Age is a prohibited basis for collection
procedures in some jurisdictions (US Regulation B), so the age rule is a policy switch:
with it off, the birth year has no influence at all.

Consent and reachability are hard filters: an opted-out or unreachable channel is never
in the order, whatever ranked it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from domain.contact_rules import Channel

Basis = Literal["preference", "responsiveness", "profile_age", "profile_default", "step_fixed"]
Exclusion = Literal["opted_out", "no_address"]

CHANNELS: tuple[Channel, ...] = ("sms", "email", "phone")


@dataclass(frozen=True)
class ContactProfile:
    preferred_channel: Channel | None
    consents: Mapping[Channel, bool]
    """Explicit opt-in (True) / opt-out (False) per channel; a missing channel is allowed."""
    has_email: bool
    has_phone: bool
    """A mobile number: needed for both SMS and calls."""
    birth_year: int | None
    responsive_channels: Sequence[Channel] = ()
    """Channels that got a reply or a payment, most recent first."""


@dataclass(frozen=True)
class ChannelPolicy:
    use_age_rule: bool = True
    """The bank's rule; a switch because age is a prohibited basis in some jurisdictions."""
    older_customer_age: int = 55
    younger_order: tuple[Channel, ...] = ("sms", "email", "phone")
    older_order: tuple[Channel, ...] = ("phone", "sms", "email")
    default_order: tuple[Channel, ...] = ("sms", "email", "phone")
    """Used when the age rule is off or the age is unknown."""


@dataclass(frozen=True)
class ChannelChoice:
    order: tuple[Channel, ...]
    """Usable channels, best first; empty = no lawful channel."""
    basis: Basis
    """What decided the first channel (``profile_default`` when the order is empty)."""
    excluded: Mapping[Channel, str]
    """Every channel unusable for this customer -> why ("opted_out", "no_address")."""


def _exclusion(channel: Channel, profile: ContactProfile) -> Exclusion | None:
    if profile.consents.get(channel) is False:
        return "opted_out"
    reachable = profile.has_email if channel == "email" else profile.has_phone
    if not reachable:
        return "no_address"
    return None


def _profile_order(
    profile: ContactProfile, policy: ChannelPolicy, today: date
) -> tuple[tuple[Channel, ...], Basis]:
    if policy.use_age_rule and profile.birth_year is not None:
        age = today.year - profile.birth_year
        older = age >= policy.older_customer_age
        return (policy.older_order if older else policy.younger_order), "profile_age"
    return policy.default_order, "profile_default"


def choose_channels(
    profile: ContactProfile,
    policy: ChannelPolicy,
    today: date,
    step_channel: Channel | Literal["auto"] = "auto",
) -> ChannelChoice:
    """Usable channels for ``profile``, best first, and what decided the first one.

    Ranking: explicit preference, then observed responsiveness (most recent first), then
    the profile order (the age rule if ``policy.use_age_rule`` and the birth year is known,
    else the default order). Duplicates keep their best rank; opted-out and unreachable
    channels are dropped. A fixed ``step_channel`` goes first when usable, the rest follow
    as fallbacks in the ranked order; an unusable fixed channel leaves the ranked order as is.
    """
    excluded: dict[Channel, str] = {}
    for channel in CHANNELS:
        why = _exclusion(channel, profile)
        if why is not None:
            excluded[channel] = why

    profile_order, profile_basis = _profile_order(profile, policy, today)
    ranked: list[tuple[Channel, Basis]] = []
    if profile.preferred_channel is not None:
        ranked.append((profile.preferred_channel, "preference"))
    ranked.extend((channel, "responsiveness") for channel in profile.responsive_channels)
    ranked.extend((channel, profile_basis) for channel in profile_order)

    order: list[Channel] = []
    basis: Basis = "profile_default"
    for channel, source in ranked:
        if channel in order or channel in excluded:
            continue
        if not order:
            basis = source
        order.append(channel)

    if step_channel != "auto" and step_channel in order:
        order.remove(step_channel)
        order.insert(0, step_channel)
        basis = "step_fixed"
    return ChannelChoice(order=tuple(order), basis=basis, excluded=excluded)
