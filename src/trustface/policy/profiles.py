"""Jurisdiction profiles: data files ``profiles/{cn,eu,us-il}.toml`` read with :mod:`tomllib`.

A profile sets the guardian age (R3: cn 14, eu 13-16, us-il representative under 18), whether a
written release is required (R2), retention caps (R13; us-il 3 years of inactivity), the re-prompt
cooldown (R7, >= 48 h), the modes that need a PIA (R20) and additions to the analysis deny-list
(R19). The hard-coded deny-list in :mod:`trustface.policy.vocab` cannot be configured away.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from trustface.policy.vocab import DENY_ATTRIBUTES, JURISDICTIONS, MODES, SITE_TYPES

MIN_COOLDOWN_HOURS = 48


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    guardian_age: int
    guardian_age_min: int
    guardian_age_max: int
    guardian_title: str
    minors_notice_required: bool
    written_release_required: bool
    max_retention_days: int
    inactivity_limit_days: int
    reprompt_cooldown_hours: int
    pia_required_modes: frozenset[str]
    deny_attributes: frozenset[str]
    emotion_blocked_site_types: frozenset[str]

    def guardian_age_for(self, site_value: int | None) -> int:
        return self.guardian_age if site_value is None else site_value


def _validate(data: dict[str, Any]) -> Profile:
    p = Profile(
        id=data["id"],
        name=data["name"],
        guardian_age=int(data["guardian_age"]),
        guardian_age_min=int(data["guardian_age_min"]),
        guardian_age_max=int(data["guardian_age_max"]),
        guardian_title=data["guardian_title"],
        minors_notice_required=bool(data["minors_notice_required"]),
        written_release_required=bool(data["written_release_required"]),
        max_retention_days=int(data["max_retention_days"]),
        inactivity_limit_days=int(data["inactivity_limit_days"]),
        reprompt_cooldown_hours=int(data["reprompt_cooldown_hours"]),
        pia_required_modes=frozenset(data["pia_required_modes"]),
        # the hard-coded list is always included: a profile can add, never remove (R19)
        deny_attributes=frozenset(data["deny_attributes"]) | DENY_ATTRIBUTES,
        emotion_blocked_site_types=frozenset(data["emotion_blocked_site_types"]),
    )
    if not p.guardian_age_min <= p.guardian_age <= p.guardian_age_max:
        raise ValueError(f"profile {p.id}: guardian_age outside its own range")
    if p.reprompt_cooldown_hours < MIN_COOLDOWN_HOURS:
        raise ValueError(f"profile {p.id}: re-prompt cooldown under {MIN_COOLDOWN_HOURS} h (R7)")
    if p.max_retention_days <= 0 or p.inactivity_limit_days <= 0:
        raise ValueError(f"profile {p.id}: retention caps must be finite and positive (R13)")
    if not p.pia_required_modes <= set(MODES) or not p.emotion_blocked_site_types <= set(SITE_TYPES):
        raise ValueError(f"profile {p.id}: unknown mode or site type")
    return p


@lru_cache(maxsize=None)
def load(profile_id: str) -> Profile:
    """The profile ``cn``, ``eu`` or ``us-il`` (validated; cached)."""
    if profile_id not in JURISDICTIONS:
        raise ValueError(f"unknown jurisdiction profile {profile_id!r} (use one of {', '.join(JURISDICTIONS)})")
    text = resources.files("trustface.policy").joinpath("profiles", f"{profile_id}.toml").read_text("utf-8")
    profile = _validate(tomllib.loads(text))
    if profile.id != profile_id:
        raise ValueError(f"profile file {profile_id}.toml declares id {profile.id!r}")
    return profile
