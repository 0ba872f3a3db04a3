"""The consent use cases that the API, the CLI and the pages share (issue 15): who started a
request is decided from the caller (R7), and the consent state pages show follows the ledger
(R1, R3, R6, R7, R14). Real app, real database; the services are called as the doors call them."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import born_years_ago, build_site

from trustface.access.keys import Principal
from trustface.errors import TrustfaceError
from trustface.policy import codes
from trustface.services import admin, cli_principal, consents


@pytest.fixture
def shop(api):
    """A residential site built through the API, its context, and three callers: an operator
    (staff), the deployment administrator at the command line, and a subject's own key."""
    world = build_site(api, api.admin["key"])
    ctx = api.client.app.state.trustface.ctx
    operator = Principal("key_op", "operator", world["tenant_id"])
    return {**world, "ctx": ctx, "operator": operator, "cli": cli_principal("admin:test")}


def _request(world: dict, mode: str = "identify", **extra) -> consents.ConsentRequest:
    return consents.ConsentRequest.from_payload({"purpose": "door_access", "mode": mode, "channel": "desk",
                                                 "method": "click", "notice_version": world["notice_version"],
                                                 **extra})


def _subject(shop: dict, **age) -> str:
    return admin.create_subject(shop["ctx"], shop["operator"], site_id=shop["site_id"], **(age or {"age_band": "18+"})).id


def test_R7_initiator_is_decided_from_the_caller():
    staff = Principal("key_op", "operator", "ten_1")
    own = Principal("key_me", "subject", "ten_1", subject_id="sub_1")
    assert consents.initiator(staff) == "processor"
    assert consents.initiator(cli_principal()) == "processor"
    assert consents.initiator(staff, "subject") == "subject"  # staff may state that the person asked
    assert consents.initiator(own) == "subject"
    assert consents.initiator(own, "processor") == "subject"  # a subject's own request is theirs


@pytest.mark.parametrize("caller", ["operator", "cli"])
def test_R7_staff_and_cli_are_refused_in_the_cooldown_the_subject_is_not(shop, caller):
    ctx, sub = shop["ctx"], _subject(shop)
    declined = consents.refuse(ctx, shop[caller], sub, purpose="door_access", mode="identify", channel="desk")
    assert declined.issue_instead == ("card", "pin")  # R6: the non-face ways in, never face
    with pytest.raises(TrustfaceError) as refused:
        consents.give(ctx, shop[caller], sub, _request(shop))
    assert refused.value.code == codes.E_REPROMPT_COOLDOWN
    own = Principal("key_me", "subject", shop["tenant_id"], subject_id=sub)
    given = consents.give(ctx, own, sub, _request(shop, initiated_by="processor"))
    assert given.initiated_by == "subject" and given.status == "active"


def test_R1_R14_consent_state_rows_follow_the_ledger(shop):
    ctx, op, sub = shop["ctx"], shop["operator"], _subject(shop)
    rows = {(r.purpose, r.mode): r for r in consents.consent_state(ctx, op, sub).rows}
    assert set(rows) == {("door_access", "verify"), ("door_access", "identify")}
    assert all(r.kind == "none" and r.may_prompt for r in rows.values())
    consents.refuse(ctx, op, sub, purpose="door_access", mode="identify", channel="desk")
    given = consents.give(ctx, op, sub, _request(shop, mode="verify"))
    state = {r.mode: r for r in consents.consent_state(ctx, op, sub).rows}
    assert state["identify"].kind == "declined" and not state["identify"].may_prompt  # R7
    assert state["verify"].kind == "active" and state["verify"].consent_id == given.id
    consents.withdraw(ctx, op, sub, given.id, channel="desk")
    state = {r.mode: r for r in consents.consent_state(ctx, op, sub).rows}
    assert state["verify"].kind == "withdrawn" and state["verify"].consent_id is None and state["verify"].may_prompt
    assert consents.consent_states(ctx, op, shop["site_id"], [sub])[sub].rows == tuple(state.values())


def test_R3_consent_screen_for_a_minor_and_scope(shop):
    ctx, op = shop["ctx"], shop["operator"]
    child = _subject(shop, birth_date=dt.date.fromisoformat(born_years_ago(10)))
    screen = consents.consent_screen(ctx, op, child, "door_access", "verify")
    assert screen.minor and screen.minors_notice_version == 1 and screen.notice_version == shop["notice_version"]
    assert screen.to_dict()["who_for"] == child
    with pytest.raises(TrustfaceError) as refused:
        consents.give(ctx, op, child, _request(shop, mode="verify"))
    assert refused.value.code == codes.E_GUARDIAN_REQUIRED
    guardian = {"name": "Parent", "relationship": "parent", "verification": "id_document"}
    assert consents.give(ctx, op, child, _request(shop, mode="verify", guardian=guardian)).status == "active"
    stranger = Principal("key_x", "operator", "ten_other")  # another tenant: as if the subject did not exist
    for call in (lambda: consents.consent_state(ctx, stranger, child),
                 lambda: consents.consent_screen(ctx, stranger, child, "door_access", "verify")):
        with pytest.raises(TrustfaceError) as hidden:
            call()
        assert hidden.value.code == codes.E_NOT_FOUND
    auditor = Principal("key_a", "auditor", shop["tenant_id"])
    with pytest.raises(TrustfaceError) as forbidden:
        consents.give(ctx, auditor, child, _request(shop, mode="verify"))
    assert forbidden.value.code == "E_FORBIDDEN"
