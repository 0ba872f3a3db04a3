"""Property (hypothesis state machine, issue 3): no sequence of consent / withdraw / suspend /
guardian / notice / clock / retention steps yields a Grant without a current, separate consent for
that purpose and mode -- and a current consent always yields one (R1, R3, R4, R5, R13, R14, R23).

The model below is written independently of the gate: it only remembers what was consented and
when, and decides from that alone.
"""

from __future__ import annotations

import datetime as dt
import os

from db_fixtures import ADMIN, NOTICE, NOW, guardian_for, make_world
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from trustface.errors import TrustfaceError
from trustface.policy import gate, ledger, retention, sites
from trustface.policy.gate import Grant

PURPOSES = {"door_access": 200, "attendance": 500}  # name -> retention days
MODES = ("verify", "identify")
INACTIVITY = dt.timedelta(days=365)  # cn profile
GUARDIAN_AGE = 14                    # cn profile
EXAMPLES = int(os.environ.get("TRUSTFACE_PROPERTY_EXAMPLES", "20"))


def _age(birth: dt.date, now: dt.datetime) -> int:
    d = now.date()
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


def test_R1_R3_R14_R23_no_grant_without_current_separate_consent(deployment):
    dep = deployment

    class ConsentMachine(RuleBasedStateMachine):
        @initialize(age_days=st.integers(min_value=10 * 365, max_value=30 * 365))
        def setup(self, age_days):
            self.now = NOW
            self.w = make_world(dep, jurisdiction="cn", modes=MODES, retention_days=PURPOSES["door_access"])
            with dep.transaction() as s:
                p = sites.create_purpose(s, site_id=self.w.site_id, name="attendance", allowed_modes=list(MODES),
                                         legal_basis="consent", necessity_justification="time sheets",
                                         retention_days=PURPOSES["attendance"], actor=ADMIN, now=self.now)
                sites.approve_pia(s, purpose_id=p.id, modes=list(MODES),
                                  sections={"lawfulness_necessity": "a", "rights_impact": "b", "risks": "c",
                                            "protections": "d"}, approver="dpo", actor=ADMIN, now=self.now)
                self.birth = (self.now - dt.timedelta(days=age_days)).date()
                self.subject = ledger.create_subject(s, tenant_id=self.w.tenant_id, birth_date=self.birth,
                                                     actor=ADMIN, now=self.now).id
            self.notice = self.w.notice_hash
            self.consents: dict[tuple[str, str], dict] = {}  # active in the ledger
            self.subject_suspended = False
            self.site_suspended = False
            self.last_interaction: dt.datetime | None = None
            self.notice_version = 1

        # -- the model -------------------------------------------------------------------
        def minor(self) -> bool:
            return _age(self.birth, self.now) < GUARDIAN_AGE

        def current(self, purpose: str, mode: str) -> bool:
            c = self.consents.get((purpose, mode))
            if c is None or self.subject_suspended or self.site_suspended:
                return False
            last = max(self.last_interaction or c["given"], c["given"])
            return (self.now < c["expires"] and self.now < last + INACTIVITY and c["notice"] == self.notice
                    and (c["guardian"] or not self.minor()))

        # -- steps -----------------------------------------------------------------------
        @rule(purpose=st.sampled_from(sorted(PURPOSES)), mode=st.sampled_from(MODES), with_guardian=st.booleans())
        def give(self, purpose, mode, with_guardian):
            minor = self.minor()
            guardian = guardian_for(self.w) if (minor and with_guardian) else None
            try:
                with dep.transaction() as s:
                    ledger.give_consent(s, subject_id=self.subject, site_id=self.w.site_id, purpose=purpose,
                                        mode=mode, notice_hash=self.notice, channel="app", method="click",
                                        actor="subject", guardian=guardian, now=self.now)
            except TrustfaceError as exc:
                assert minor and guardian is None and exc.code == "E_GUARDIAN_REQUIRED", exc
                return
            assert not minor or guardian is not None, "a minor's consent was accepted without a guardian"
            self.consents[(purpose, mode)] = {"given": self.now, "notice": self.notice, "guardian": guardian is not None,
                                              "expires": self.now + dt.timedelta(days=PURPOSES[purpose])}

        @rule(purpose=st.sampled_from(sorted(PURPOSES)), mode=st.sampled_from(MODES),
              channel=st.sampled_from(["kiosk", "app", "desk", "paper"]))
        def withdraw(self, purpose, mode, channel):
            try:
                with dep.transaction() as s:
                    ledger.withdraw_consent(s, subject_id=self.subject, site_id=self.w.site_id, purpose=purpose,
                                            mode=mode, channel=channel, actor="subject", now=self.now)
            except TrustfaceError as exc:
                assert (purpose, mode) not in self.consents and exc.code == "E_CONSENT_MISSING"
                return
            assert self.consents.pop((purpose, mode), None) is not None

        @rule(on=st.booleans())
        def suspend_subject(self, on):
            with dep.transaction() as s:
                if on:
                    ledger.suspend_subject(s, subject_id=self.subject, reason="dispute", actor=ADMIN, now=self.now)
                else:
                    ledger.lift_subject_suspension(s, subject_id=self.subject, actor=ADMIN, now=self.now)
            self.subject_suspended = on

        @rule(on=st.booleans())
        def suspend_site(self, on):
            with dep.transaction() as s:
                if on:
                    sites.suspend_site(s, site_id=self.w.site_id, reason="hold", actor=ADMIN, now=self.now)
                else:
                    sites.lift_site_suspension(s, site_id=self.w.site_id, actor=ADMIN, now=self.now)
            self.site_suspended = on

        @rule()
        def change_notice(self):
            self.notice_version += 1
            with dep.transaction() as s:
                n = sites.create_notice(s, site_id=self.w.site_id, actor=ADMIN, now=self.now,
                                        content={**NOTICE, "retention": f"version {self.notice_version}"})
                sites.publish_notice(s, notice_id=n.id, actor=ADMIN, now=self.now)
            self.notice = n.content_hash

        @rule(hours=st.integers(min_value=1, max_value=24 * 400))
        def advance_clock(self, hours):
            self.now += dt.timedelta(hours=hours)

        @rule()
        def run_retention(self):
            with dep.transaction() as s:
                retention.run(s, now=self.now)
            for key, c in list(self.consents.items()):
                last = max(self.last_interaction or c["given"], c["given"])
                if self.now >= min(c["expires"], last + INACTIVITY):
                    del self.consents[key]

        @rule(purpose=st.sampled_from(sorted(PURPOSES) + ["marketing"]), mode=st.sampled_from(MODES + ("analyze",)))
        def authorize(self, purpose, mode):
            with dep.transaction() as s:
                result = gate.authorize(s, tenant_id=self.w.tenant_id, site_id=self.w.site_id, purpose=purpose,
                                        mode=mode, subject_id=self.subject,
                                        attributes=["age_estimate"] if mode == "analyze" else (), now=self.now)
            expected = purpose in PURPOSES and mode in MODES and self.current(purpose, mode)
            if isinstance(result, Grant):
                assert expected, f"Grant without a current separate consent: {purpose}/{mode} {self.consents}"
                assert (result.purpose, result.mode, result.subject_id) == (purpose, mode, self.subject)
                self.last_interaction = self.now
            else:
                assert not expected, f"current consent for {purpose}/{mode} but denied: {result}"

        @invariant()
        def gallery_lists_only_current_consents(self):
            if not hasattr(self, "w") or self.site_suspended:
                return
            with dep.transaction() as s:
                g = gate.authorize(s, tenant_id=self.w.tenant_id, site_id=self.w.site_id, purpose="door_access",
                                   mode="identify", now=self.now)
                assert isinstance(g, Grant) and g.subject_id is None
                listed = gate.consented_subject_ids(s, g, now=self.now)
            assert (self.subject in listed) == self.current("door_access", "identify")

    run_state_machine_as_test(
        ConsentMachine,
        settings=settings(max_examples=EXAMPLES, stateful_step_count=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]),
    )
