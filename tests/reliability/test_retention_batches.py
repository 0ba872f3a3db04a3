"""A retention run purges in batches, one transaction each, so a long run never holds the write
lock for long (issue 18); every due consent still ends with its certificate, and a run with
nothing due is still on the record. Real SQLite file."""

import datetime as dt
import json

from trustface import demo
from trustface.db import audit_store
from trustface.deployment import Deployment, init_deployment
from trustface.policy import ledger
from trustface.services import Context, cli_principal, oversight


def test_retention_runs_in_batches_and_ends_everything_due(tmp_path, monkeypatch):
    init_deployment(tmp_path / "site")
    dep = Deployment(tmp_path / "site")
    try:
        with dep.transaction() as s:
            world = demo.setup_demo(s, actor="admin:test")
            residents = []
            for _ in range(5):
                sub = ledger.create_subject(s, tenant_id=world["tenant_id"], age_band="18+",
                                            site_id=world["site_id"], actor="admin:test").id
                ledger.give_consent(s, subject_id=sub, site_id=world["site_id"], purpose=demo.PURPOSE,
                                    mode="identify", notice_hash=world["notice_hash"], channel="kiosk",
                                    method="click", actor="admin:test", initiated_by="subject")
                residents.append(sub)
        monkeypatch.setattr(oversight, "RETENTION_BATCH", 2)  # the batch size, so five consents take three batches
        ctx, root = Context.open(dep, preload=False), cli_principal("system:test")
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10 * 365)
        report = oversight.run_retention(ctx, root, now=later)
        assert sorted(e["subject_id"] for e in report.ended) == sorted(residents) and report.checked == 5
        assert all(e["certificate_id"] for e in report.ended)
        again = oversight.run_retention(ctx, root, now=later)
        assert again.ended == [] and again.checked == 0
        with dep.session() as s:
            admin_events = [json.loads(e["payload"]) for e in audit_store.events_of_type(s, "admin")]
        idle = [e for e in admin_events if e.get("action") == "retention_run"]
        assert len(idle) == 1 and idle[0]["ended"] == 0  # only the second run found nothing due
        assert oversight.verify_audit_chain(ctx, root).ok
    finally:
        dep.close()
