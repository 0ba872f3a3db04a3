"""Rule packs: YAML data files, one per regime, keyed by the requirement IDs of requirements.md.

``rules/checks.yaml`` names the checks (title in English and Chinese, merged-list IDs R1-R27, the
default fix, thresholds); ``rules/<regime>.yaml`` maps requirement IDs of one regime to those
checks. A rule: ``id`` (the requirement ID, e.g. ``SPC-10(1)``), ``title``, ``check`` (a name in
checks.yaml), ``severity`` (high | medium | low), ``fix``, and optionally ``site_types`` (the rule
applies only there: SPC-10(1) binds property managers of residential sites). The same ID may
appear in several rules when one article is proven by more than one check.

Packs are read with ``yaml.safe_load`` and validated on load; an unknown check, severity, site
type or jurisdiction is an error, never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from trustface.policy.vocab import JURISDICTIONS, SITE_TYPES

REGIMES = ("cn-spc-2021", "cn-pipl", "cn-cac-2025", "cn-gbt41819", "eu-gdpr", "us-il-bipa")
SEVERITIES = ("low", "medium", "high")
_RULE_KEYS = {"id", "title", "check", "severity", "fix", "site_types"}


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    title_zh: str
    requirements: tuple[str, ...]
    fix: str
    params: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Rule:
    regime: str
    id: str
    title: str
    check: str
    severity: str
    fix: str
    site_types: tuple[str, ...] = ()

    def applies_to(self, site_type: str) -> bool:
        return not self.site_types or site_type in self.site_types

    def to_dict(self) -> dict:
        return {"regime": self.regime, "id": self.id, "title": self.title, "check": self.check,
                "severity": self.severity, "fix": self.fix, "site_types": list(self.site_types)}


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    title_zh: str
    jurisdictions: tuple[str, ...]
    rules: tuple[Rule, ...]


def _text(name: str) -> str:
    return resources.files("trustface.compliance").joinpath("rules", name).read_text("utf-8")


def _req(data: dict, key: str, where: str):
    if key not in data or data[key] in (None, ""):
        raise ValueError(f"{where}: {key!r} is required")
    return data[key]


@lru_cache(maxsize=None)
def checks() -> dict[str, CheckSpec]:
    """The check catalogue (rules/checks.yaml), validated."""
    data = yaml.safe_load(_text("checks.yaml"))
    if data.get("format") != "trustface-checks/1":
        raise ValueError("checks.yaml: format must be trustface-checks/1")
    out = {}
    for name, spec in data["checks"].items():
        where = f"checks.yaml: {name}"
        reqs = tuple(_req(spec, "requirements", where))
        out[name] = CheckSpec(name, str(_req(spec, "title", where)), str(_req(spec, "title_zh", where)), reqs,
                              " ".join(str(_req(spec, "fix", where)).split()), dict(spec.get("params") or {}))
    return out


@lru_cache(maxsize=None)
def load(regime: str) -> Pack:
    """One regime's rule pack, validated against the check catalogue."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r} (use one of {', '.join(REGIMES)})")
    data = yaml.safe_load(_text(f"{regime}.yaml"))
    where = f"{regime}.yaml"
    if data.get("format") != "trustface-rules/1":
        raise ValueError(f"{where}: format must be trustface-rules/1")
    if data.get("id") != regime:
        raise ValueError(f"{where} declares id {data.get('id')!r}")
    jurisdictions = tuple(_req(data, "jurisdictions", where))
    if not set(jurisdictions) <= set(JURISDICTIONS):
        raise ValueError(f"{where}: unknown jurisdiction in {jurisdictions}")
    known = checks()
    rules = []
    for n, raw in enumerate(_req(data, "rules", where), start=1):
        at = f"{where} rule {n}"
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise ValueError(f"{at}: unknown keys {sorted(unknown)}")
        check = _req(raw, "check", at)
        if check not in known:
            raise ValueError(f"{at}: unknown check {check!r}")
        severity = _req(raw, "severity", at)
        if severity not in SEVERITIES:
            raise ValueError(f"{at}: severity must be one of {', '.join(SEVERITIES)}")
        site_types = tuple(raw.get("site_types") or ())
        if not set(site_types) <= set(SITE_TYPES):
            raise ValueError(f"{at}: unknown site type in {site_types}")
        rules.append(Rule(regime, str(_req(raw, "id", at)), str(_req(raw, "title", at)), check, severity,
                          " ".join(str(_req(raw, "fix", at)).split()), site_types))
    return Pack(regime, str(_req(data, "title", where)), str(_req(data, "title_zh", where)), jurisdictions,
                tuple(rules))


def all_packs() -> list[Pack]:
    return [load(r) for r in REGIMES]


def regimes_for(jurisdiction: str) -> list[str]:
    """The regimes whose packs apply to a site of this jurisdiction profile."""
    return [p.id for p in all_packs() if jurisdiction in p.jurisdictions]
