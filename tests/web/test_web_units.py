"""The web room without a browser: page language, signed sessions, CSRF, safe redirects, console
accounts (argon2id, audited sign-in, disabled accounts) and the API's roles on the console pages."""

from __future__ import annotations

import re
import time

import pytest
from db_fixtures import ADMIN, make_world
from fastapi.testclient import TestClient

from trustface import audit
from trustface.access import accounts as users
from trustface.api import create_app
from trustface.db import audit_store, web_store
from trustface.errors import TrustfaceError
from trustface.web import i18n
from trustface.web.security import fingerprint, safe_next, sign, unsign

PASSWORD = "a long enough passphrase"


def test_language_from_the_switch_then_the_browser():
    assert i18n.pick("zh-CN,zh;q=0.9,en;q=0.8", None) == "zh"
    assert i18n.pick("en-US,en;q=0.9,zh-CN;q=0.5", None) == "en"
    assert i18n.pick("fr-FR,zh;q=0.7,en;q=0.6", None) == "zh"
    assert i18n.pick("fr-FR", None) == "en" and i18n.pick(None, None) == "en"
    assert i18n.pick("en-US", "zh") == "zh" and i18n.pick("zh-CN", "en") == "en"
    assert i18n.pick("zh;q=0.5, en;q=0.5", None) == "zh"  # a tie goes to the first listed


def test_every_text_exists_in_both_languages():
    for key, pair in {**i18n.T, **i18n.KIOSK_STRINGS, **i18n.LIVENESS_STEPS}.items():
        assert len(pair) == 2 and all(isinstance(x, str) and x for x in pair), key
    t = i18n.translator("zh")
    assert t("consent_accept") == "确认同意" and t("version_n", n=3) == "第 3 版"
    assert t("purpose_gym", default="gym") == "gym"
    assert i18n.error_text("zh", "E_FACE_ONLY_POLICY", "x").startswith("不能只用刷脸")
    assert i18n.error_text("en", "E_FACE_ONLY_POLICY", "face cannot be ...") == "face cannot be ..."


def test_signed_values_refuse_tampering_and_expiry():
    key = b"k" * 32
    good = sign(key, {"k": "user", "id": "usr_1", "exp": time.time() + 60})
    assert unsign(key, good)["id"] == "usr_1"
    body, mac = good.split(".")
    assert unsign(key, body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")) is None
    assert unsign(b"x" * 32, good) is None
    assert unsign(key, sign(key, {"exp": time.time() - 1})) is None
    assert unsign(key, None) is None and unsign(key, "garbage") is None


def test_redirects_stay_on_this_site():
    assert safe_next("/console/residents?site=x", "/") == "/console/residents?site=x"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil", "", None, "console"):
        assert safe_next(bad, "/console") == "/console"


def test_console_accounts(deployment):
    w = make_world(deployment)
    with deployment.transaction() as s:
        for bad in ({"role": "gate"}, {"role": "subject"}, {"password": "short"}, {"password": "aaaaaaaaaaaaaaaa"},
                    {"email": "not an address"}, {"tenant_id": "ten_missing"}):
            with pytest.raises(TrustfaceError):
                users.create_user(s, **{"tenant_id": w.tenant_id, "email": "a@b.example", "role": "operator",
                                        "password": PASSWORD, "actor": ADMIN, **bad})
        row = users.create_user(s, tenant_id=w.tenant_id, email="Desk@B.example", role="operator",
                                password=PASSWORD, actor=ADMIN)
        assert row.email == "desk@b.example" and row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
        with pytest.raises(TrustfaceError):
            users.create_user(s, tenant_id=w.tenant_id, email="desk@b.example", role="admin", password=PASSWORD,
                              actor=ADMIN)
    for email, password in (("desk@b.example", "wrong password here"), ("nobody@b.example", PASSWORD)):
        with deployment.transaction() as s, pytest.raises(TrustfaceError) as info:
            users.sign_in(s, email=email, password=password)
        assert info.value.code == "E_UNAUTHENTICATED" and "not right" in info.value.message
    with deployment.transaction() as s:
        signed = users.sign_in(s, email="DESK@b.example", password=PASSWORD)
        assert signed.id == row.id
        who = users.principal(signed)
        assert who.actor == f"user:{row.id}" and who.role == "operator" and who.tenant_id == w.tenant_id
    with deployment.session() as s:
        actions = [e for e in audit_store.events_of_type(s, "admin") if '"console_' in e["payload"]]
        assert [re.search(r'"action":"(\w+)"', e["payload"]).group(1) for e in actions] == \
            ["console_user_created", "console_sign_in"]
        assert all(PASSWORD not in e["payload"] for e in actions)
        assert audit.verify(s).ok
    with deployment.transaction() as s:
        users.disable_user(s, user_id=row.id, actor=ADMIN)
    with deployment.transaction() as s, pytest.raises(TrustfaceError):
        users.sign_in(s, email="desk@b.example", password=PASSWORD)
    with deployment.session() as s:
        assert web_store.users_of_tenant(s, w.tenant_id)[0].disabled_at is not None


def _login(client: TestClient, email: str) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/console/login", data={"email": email, "password": PASSWORD, "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def test_console_pages_keep_the_api_roles(deployment):
    """An auditor reads the audit chain but may not ask for consent; an operator may not mint a
    self-service link (only admins make keys, as in the API); a disabled account is signed out."""
    w = make_world(deployment)
    with deployment.transaction() as s:
        auditor = users.create_user(s, tenant_id=w.tenant_id, email="audit@b.example", role="auditor",
                                    password=PASSWORD, actor=ADMIN)
        users.create_user(s, tenant_id=w.tenant_id, email="op@b.example", role="operator", password=PASSWORD,
                          actor=ADMIN)
        from trustface.policy import ledger

        subject = ledger.create_subject(s, tenant_id=w.tenant_id, site_id=w.site_id, age_band="18+", actor=ADMIN).id
    app = create_app(deployment=deployment)
    with TestClient(app) as ops, TestClient(app) as aud:
        _login(aud, "audit@b.example")
        assert "intact" in aud.get("/console/audit").text
        r = aud.get(f"/console/residents/{subject}/consent?purpose=door_access&mode=identify")
        assert r.status_code == 403 and "auditor" in r.text
        _login(ops, "op@b.example")
        page = ops.get(f"/console/residents/{subject}")
        assert page.status_code == 200 and "Make a self-service link" not in page.text
        r = ops.post(f"/console/residents/{subject}/self-service", data={"csrf": _csrf(ops, "/console")})
        assert r.status_code == 403
        assert ops.get("/console/audit").status_code == 403  # audit:read is for admins and auditors
        r = ops.post(f"/console/residents/{subject}/decline", data={"csrf": "forged", "purpose": "door_access",
                                                                   "mode": "identify"})
        assert r.status_code == 403  # CSRF
        with deployment.transaction() as s:
            users.disable_user(s, user_id=auditor.id, actor=ADMIN)
        r = aud.get("/console/audit", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


def test_a_password_change_ends_old_sessions():
    assert fingerprint("$argon2id$a") != fingerprint("$argon2id$b")
