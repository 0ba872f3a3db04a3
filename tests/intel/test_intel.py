"""Attack intelligence between two deployments through a real TAXII 2.1 server (issue 8).

medallion (memory backend) is started on 127.0.0.1 with a free port. Deployment A lets a resident in
with a real photo, then sees that photo replayed: a replay attack, refused and blocklisted. A
exports it as STIX 2.1 (validated with ``stix2``, with no biometric data in it) and pushes it to the
collection. Deployment B, which never saw the photo, pulls: the same replayed probe is refused on
its first sight, and so is a re-encoded copy (by its perceptual hash).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from _api_conftest import Api, build_site
from lvframes import jpeg, lfw_bytes, pixels
from stix2patterns.validator import validate as validate_pattern

from trustface.intel import stix, taxii

RESIDENT = "George_W_Bush_0099"
PROBE = "George_W_Bush_0037"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def taxii_server(tmp_path_factory):
    """medallion on 127.0.0.1:<free port>, memory backend, one read/write collection, user svc."""
    folder = tmp_path_factory.mktemp("taxii")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data = {
        "/discovery": {"title": "trustface test TAXII server", "default": f"{base}/api1/",
                       "api_roots": [f"{base}/api1/"]},
        "api1": {
            "information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"],
                            "max_content_length": 10485760},
            "status": [],
            "collections": [{"id": COLLECTION, "title": "face attacks", "description": "trustface indicators",
                             "can_read": True, "can_write": True,
                             "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}],
        },
    }
    (folder / "data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                          "filename": str(folder / "data.json")},
              "users": {"svc": "secret"}, "taxii": {"max_page_size": 100}}
    (folder / "config.json").write_text(json.dumps(config))
    log = open(folder / "medallion.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from medallion.scripts.run import main; sys.exit(main())",
                             "--host", "127.0.0.1", "--port", str(port), str(folder / "config.json")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{base}/taxii2/", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (401 without credentials): up
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "medallion.log").read_text()) from None
                time.sleep(0.1)
            else:
                break
        yield {"api_root": f"{base}/api1/", "collection": COLLECTION, "user": "svc", "password": "secret"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def two_deployments(tmp_path, _sqlite_template):
    """Deployments A and B (SQLite), each behind its own app."""
    from fastapi.testclient import TestClient

    from trustface.api import create_app
    from trustface.deployment import Deployment, init_deployment

    out, clients = [], []
    for name in ("a", "b"):
        directory = tmp_path / name
        info = init_deployment(directory)
        dep = Deployment(directory)
        client = TestClient(create_app(deployment=dep), raise_server_exceptions=False)
        client.__enter__()
        clients.append((client, dep))
        out.append(Api(client, dep, {"key": info["admin_key"]}))
    yield out
    for client, dep in clients:
        client.__exit__(None, None, None)
        dep.close()


def _gate_world(api: Api, *, enrol: bool):
    admin = api.admin["key"]
    world = build_site(api, admin, minors_notice=False)
    sid, gate = world["site_id"], world["gate_ids"][0]
    key = api.ok("POST", "/v1/api-keys", admin, 201, json={"role": "gate", "name": "kiosk", "site_id": sid,
                                                           "tenant_id": world["tenant_id"]})["key"]
    subject = None
    if enrol:
        subject = api.ok("POST", f"/v1/sites/{sid}/subjects", admin, 201, json={"age_band": "18+"})["id"]
        assert api.call("POST", f"/v1/subjects/{subject}/consents", admin, json={
            "purpose": "door_access", "mode": "identify", "notice_version": world["notice_version"],
            "channel": "kiosk", "method": "click"}).status_code == 201
        api.ok("POST", f"/v1/subjects/{subject}/enrolments", admin, 201,
               files=[("image", ("e.jpg", lfw_bytes(RESIDENT), "image/jpeg"))],
               data={"purpose": "door_access", "mode": "identify"})
    return gate, key, subject


def _attempt(api, key, gate, data: bytes) -> dict:
    return api.ok("POST", f"/v1/gates/{gate}/access", key, files=[("image", ("p.jpg", data, "image/jpeg"))])


def test_replay_seen_by_a_is_refused_by_b_on_first_sight(two_deployments, taxii_server):
    a, b = two_deployments
    gate_a, key_a, resident = _gate_world(a, enrol=True)
    gate_b, key_b, _ = _gate_world(b, enrol=False)
    probe = lfw_bytes(PROBE)

    # A: the resident enters; the same frame comes again: a replay attack, refused and blocklisted
    assert _attempt(a, key_a, gate_a, probe)["granted"] is True
    replay = _attempt(a, key_a, gate_a, probe)
    assert replay["reason"]["code"] == "E_REPLAY_DETECTED" and replay["alternatives"] == ["pin", "card"]

    # A pushes its detections to the TAXII collection
    with a.dep.transaction() as s:
        pushed = taxii.sync(s, stix.identity_key_of(a.dep), actor="admin:test", **_conn(taxii_server))
    assert pushed["pushed"] == 2 and pushed["push_status"]["success_count"] >= 2
    assert pushed["imported"]["added"] == 0  # its own indicators come back and are skipped

    # B has never seen the probe; before the pull it would reach the face matcher (no match here)
    before = _attempt(b, key_b, gate_b, jpeg(pixels("George_W_Bush_0104")))
    assert before["reason"]["code"] == "E_NO_MATCH"
    with b.dep.transaction() as s:
        pulled = taxii.sync(s, stix.identity_key_of(b.dep), actor="admin:test", push_local=False,
                            **_conn(taxii_server))
    assert pulled["imported"]["added"] == 2
    # B refuses the replayed probe on first sight, and a re-encoded copy of it
    first_sight = _attempt(b, key_b, gate_b, probe)
    assert first_sight["granted"] is False and first_sight["reason"]["code"] == "E_REPLAY_DETECTED"
    assert first_sight["alternatives"] == ["pin", "card"]
    copy = _attempt(b, key_b, gate_b, jpeg(pixels(PROBE), quality=80))
    assert copy["reason"]["code"] == "E_REPLAY_DETECTED"
    # B's blocklist names A only by its pseudonymous STIX identity
    with b.dep.session() as s:
        from trustface.liveness import service as liveness

        shared = liveness.blocklist(s, source="intel")
        assert {r.kind for r in shared} == {"sha256", "phash"}
        assert {r.origin for r in shared} == {stix.identity(stix.identity_key_of(a.dep)).id}
        # B's own sightings of the shared probe count on the shared entry
        assert next(r for r in shared if r.kind == "sha256").count == 2

    # a wrong password is refused by the server
    with b.dep.transaction() as s:
        from trustface.errors import TrustfaceError

        with pytest.raises(TrustfaceError) as info:
            taxii.sync(s, stix.identity_key_of(b.dep), actor="admin:test", push_local=False,
                       **{**_conn(taxii_server), "password": "wrong"})
        assert info.value.code == "E_TAXII_UNAVAILABLE"

    # the bundle A shared: valid STIX 2.1, and no biometric data, subject id or name in it
    with a.dep.transaction() as s:
        bundle = stix.export_bundle(s, stix.identity_key_of(a.dep), actor="admin:test")
    _assert_valid_stix(bundle.serialize())
    _assert_no_biometric_data(bundle.serialize(), resident=resident, probe=probe, api=a)


def _conn(server: dict) -> dict:
    return {"api_root": server["api_root"], "collection_id": server["collection"], "user": server["user"],
            "password": server["password"]}


def _assert_valid_stix(text: str) -> None:
    import stix2

    data = json.loads(text)
    assert data["type"] == "bundle" and data["id"].startswith("bundle--")
    parsed = stix2.parse(text, allow_custom=False, version="2.1")  # raises on any invalid object
    types = [o.type for o in parsed.objects]
    assert types.count("identity") == 1 and {"attack-pattern", "indicator", "relationship", "sighting"} <= set(types)
    for obj in data["objects"]:
        assert obj["spec_version"] == "2.1"
        assert str(uuid.UUID(obj["id"].split("--", 1)[1])) == obj["id"].split("--", 1)[1]
        if obj["type"] == "indicator":
            ok, errors = validate_pattern(obj["pattern"], ret_errs=True, stix_version="2.1")
            assert ok, errors
            assert obj["pattern_type"] == "stix" and obj["valid_until"] > obj["valid_from"]
        if obj["type"] == "sighting":
            assert obj["count"] >= 1 and obj["last_seen"] >= obj["first_seen"]
        if obj["type"] == "identity":
            assert obj["identity_class"] == "system" and obj["name"].startswith("trustface deployment ")


def _assert_no_biometric_data(text: str, *, resident: str, probe: bytes, api) -> None:
    import base64

    data = json.loads(text)
    # no subject id, no name, no identity detail, no photo bytes in any encoding
    assert resident not in text and "sub_" not in text
    for name in ("Bush", "George", "Acme", "Tower A", "dpo@"):
        assert name.lower() not in text.lower()
    for chunk in (base64.b64encode(probe[:60]).decode(), probe[:60].hex()):
        assert chunk not in text

    def walk(value, path="bundle"):
        if isinstance(value, dict):
            for key, item in value.items():
                assert key.lower() not in stix.FORBIDDEN_KEYS, path + "." + key
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            assert sum(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) <= 8, path
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif isinstance(value, str):
            assert len(value) < 500, path  # hashes and sentences, never an encoded image or a vector
        elif isinstance(value, float):
            raise AssertionError(f"{path}: a float in a bundle")

    walk(data)
    # and nothing the gallery holds for the resident appears either
    with api.dep.session() as s:
        from trustface.db.models import GalleryTemplate

        for row in s.query(GalleryTemplate).all():
            assert row.ciphertext.hex()[:40] not in text


def test_bundle_file_round_trip_and_refusals(two_deployments):
    """export to a file, import into the other deployment: the blocklist has it at once; a bundle
    that is not valid STIX 2.1 is refused and changes nothing; the guard refuses face data."""
    a, b = two_deployments
    from trustface.errors import TrustfaceError
    from trustface.liveness import service as liveness

    now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    with a.dep.transaction() as s:
        liveness.report(s, kind="phash", value="8f3a5c7e9b1d2f40" * 4, species="print_recapture", now=now)
        liveness.report(s, kind="client", value="ab" * 32, species="digital_injection", now=now)
        liveness.report(s, kind="client", value="ab" * 32, species="digital_injection", now=now)
        bundle = stix.export_bundle(s, stix.identity_key_of(a.dep), actor="admin:test")
    text = bundle.serialize()
    _assert_valid_stix(text)
    sighting = next(o for o in json.loads(text)["objects"] if o["type"] == "sighting" and
                    "user-account" in next(i["pattern"] for i in json.loads(text)["objects"]
                                           if i["id"] == o["sighting_of_ref"]))
    assert sighting["count"] == 2
    with b.dep.transaction() as s:
        result = stix.import_bundle(s, text, stix.identity_key_of(b.dep), actor="admin:test")
        assert result == {"source": "file", "added": 2, "known": 0, "skipped": 0}
        again = stix.import_bundle(s, text, stix.identity_key_of(b.dep), actor="admin:test")
        assert again["added"] == 0 and again["known"] == 2
        assert {(r.kind, r.species) for r in liveness.blocklist(s)} == {("phash", "print_recapture"),
                                                                         ("client", "digital_injection")}
    for bad in ('{"type": "bundle"', '{"type": "note"}',
                json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator", "id": "x"}]})):
        with b.dep.transaction() as s, pytest.raises(TrustfaceError) as info:
            stix.import_bundle(s, bad, stix.identity_key_of(b.dep), actor="admin:test")
        assert info.value.code == "E_INTEL_INVALID"
    with pytest.raises(ValueError):
        stix.assert_no_biometrics({"objects": [{"descriptor": [0.1] * 128}]})
    with pytest.raises(ValueError):
        stix.assert_no_biometrics({"objects": [{"x_note": "resident sub_0123456789abcdef"}]})


def test_cli_export_import(tmp_path):
    """`trustface intel export --dir DIR FILE` / `import`: a deployment with no detections shares only
    its pseudonymous identity; importing it back adds nothing; a broken bundle is refused (exit 2)."""
    from typer.testing import CliRunner

    from trustface.cli import app

    runner = CliRunner()
    d, file = tmp_path / "a", tmp_path / "bundle.json"
    assert runner.invoke(app, ["init", "--dir", str(d)]).exit_code == 0
    out = runner.invoke(app, ["intel", "export", "--dir", str(d), str(file), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["objects"] == {"identity": 1}
    assert json.loads(file.read_text())["objects"][0]["identity_class"] == "system"
    imported = runner.invoke(app, ["intel", "import", "--dir", str(d), str(file), "--json"])
    assert imported.exit_code == 0 and json.loads(imported.stdout)["added"] == 0
    listed = runner.invoke(app, ["intel", "list", "--dir", str(d)])
    assert listed.exit_code == 0 and "empty" in listed.stdout
    file.write_text('{"type": "bundle", "id": "bundle--x", "objects": [{"type": "indicator"}]}')
    bad = runner.invoke(app, ["intel", "import", "--dir", str(d), str(file)])
    assert bad.exit_code == 2 and "E_INTEL_INVALID" in bad.output
