"""Reports in three formats, through the library, the CLI and the API (issue 7, items 2 and 5).
The PDF is turned into PNG pages with pdftoppm: the pages are not blank and the Chinese text is
there (pdftotext finds it, and the title area of page 1 holds ink)."""

import json
import os
import shutil
import subprocess

import pytest
from compliance_worlds import LATER, build_mall
from db_fixtures import NOW
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from trustface.access.keys import create_api_key
from trustface.api import create_app
from trustface.cli import app as cli_app
from trustface.compliance import assess, report

TITLE_ZH = "人脸识别合规自评估报告"
CHECK_ZH = "人脸识别不得作为唯一的通行方式"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} missing in CI (scripts/test.sh installs poppler-utils)")
        pytest.skip(f"{tool} not installed (apt-get install poppler-utils)")
    return path


def _check_pdf(pdf: bytes, tmp_path, name: str) -> list[Image.Image]:
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([_need("pdftotext"), "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert TITLE_ZH in text and CHECK_ZH in text, "Chinese text is missing from the PDF (CJK font?)"
    subprocess.run([_need("pdftoppm"), "-png", "-r", "40", str(path), str(tmp_path / name)], check=True)
    pages = sorted(tmp_path.glob(f"{name}-*.png"))
    assert pages
    images = []
    for page in pages:
        img = Image.open(page).convert("L")
        dark = sum(img.histogram()[:200])
        assert dark > 0.005 * img.width * img.height, f"{page.name} is blank"
        images.append(img)
    return images


def test_json_html_pdf_of_the_mall(sqlite_dep, tmp_path):
    mall = build_mall(sqlite_dep, now=NOW)
    with sqlite_dep.transaction() as s:
        result = assess(s, mall["site_id"], directory=sqlite_dep.directory, now=LATER)
    data = json.loads(report.render(result, "json"))
    assert set(data) >= {"site", "generated_at", "findings"} and data["summary"]["verdict"] == "fail"
    html = report.render(result, "html").decode()
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 3  # status bar, coverage, access by method
    for f in result["findings"]:
        assert f'id="{f["id"]}"' in html
    assert "FAIL · 不通过" in html and mall["staff_door"] in html and "<script" not in html
    pages = _check_pdf(report.render(result, "pdf"), tmp_path, "mall")
    # the title block (the Chinese subtitle is in it) holds ink on page 1
    first = pages[0]
    band = first.crop((0, int(first.height * 0.04), first.width, int(first.height * 0.12)))
    assert sum(band.histogram()[:128]) > 50


def test_cli_assess_in_three_formats_and_pia_notice_commands(live, tmp_path, monkeypatch):
    dep, world, _info = live
    monkeypatch.setenv("TRUSTFACE_DATABASE_URL", dep.database_url)
    runner = CliRunner()
    base = ["--dir", str(dep.directory), "--site", world["site_id"]]
    for fmt in ("json", "html", "pdf"):
        out = tmp_path / f"demo.{fmt}"
        r = runner.invoke(cli_app, ["assess", *base, "--format", fmt, "--out", str(out), "--strict"])
        assert r.exit_code == 0, r.output
        assert "pass (16 pass, 0 warn, 0 fail)" in r.output
    data = json.loads((tmp_path / "demo.json").read_text())
    assert data["summary"]["verdict"] == "pass" and data["audit_seq"] > 0
    assert "人脸识别合规自评估报告" in (tmp_path / "demo.html").read_text()
    _check_pdf((tmp_path / "demo.pdf").read_bytes(), tmp_path, "demo")

    r = runner.invoke(cli_app, ["pia", "create", *base, "--purpose", "door_access", "--out", str(tmp_path / "p.yaml")])
    assert r.exit_code == 0, r.output
    assert "TODO" in (tmp_path / "p.yaml").read_text()
    r = runner.invoke(cli_app, ["pia", "approve", "--dir", str(dep.directory), "--file", str(tmp_path / "p.yaml"),
                                "--approver", "dpo"])
    assert r.exit_code == 2 and "E_INVALID_ARGUMENT" in r.output and "TODO" in r.output
    r = runner.invoke(cli_app, ["pia", "status", *base])
    assert r.exit_code == 0 and "door_access: fresh" in r.output
    r = runner.invoke(cli_app, ["notice", "render", *base, "--lang", "zh"])
    assert r.exit_code == 0 and "人脸信息处理规则" in r.output
    r = runner.invoke(cli_app, ["purpose", "set-modes", *base, "--purpose", "door_access",
                                "--modes", "verify,identify,analyze"])
    assert r.exit_code == 2 and "E_PIA_MISSING" in r.output


def test_api_assessment_formats_scopes_and_public_notice(live):
    dep, world, info = live
    with dep.transaction() as s:
        _, auditor = create_api_key(s, role="auditor", tenant_id=world["tenant_id"], name="auditor", actor="admin:t")
        _, gate_key = create_api_key(s, role="gate", tenant_id=world["tenant_id"], site_id=world["site_id"],
                                     name="kiosk", actor="admin:t")
        _, subject_key = create_api_key(s, role="subject", tenant_id=world["tenant_id"],
                                        subject_id=world["people"]["bob"], name="bob", actor="admin:t")
        from trustface.policy import sites

        other = sites.create_tenant(s, name="Other", contact="o@example", actor="admin:t")
        _, other_admin = create_api_key(s, role="admin", tenant_id=other.id, name="other", actor="admin:t")
    path = f"/v1/sites/{world['site_id']}/assessment"
    with TestClient(create_app(deployment=dep), raise_server_exceptions=False) as client:
        def get(url, key=None, **params):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return client.get(url, headers=headers, params=params)

        r = get(path, info["admin_key"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["summary"]["verdict"] == "pass" and len(body["findings"]) == 16 and body["audit_seq"] > 0
        r = get(path, auditor, format="html")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and TITLE_ZH in r.text
        r = get(path, auditor, format="pdf")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
        r = get(path, auditor, regime="eu-gdpr")
        assert [x["id"] for x in r.json()["regimes"]] == ["eu-gdpr"]
        assert get(path, auditor, regime="nowhere").json()["error"]["code"] == "E_INVALID_ARGUMENT"
        assert get(path, gate_key).json()["error"]["code"] == "E_FORBIDDEN"
        assert get(path, subject_key).json()["error"]["code"] == "E_FORBIDDEN"
        assert get(path, other_admin).status_code == 404
        assert get(path).status_code == 401
        page = get(f"/public/sites/{world['site_id']}/notice.html", lang="en")
        assert page.status_code == 200 and "Face information processing rules" in page.text
        assert world["notice_hash"] in page.text
        assert "未成年人" in get(f"/public/sites/{world['site_id']}/notice.html", kind="minors").text
        assert get("/public/sites/site_nope/notice.html").status_code == 404
