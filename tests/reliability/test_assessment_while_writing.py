"""The compliance assessment scans the deployment folder for stray photos. It must never open the
database files: closing any handle on a SQLite file drops the process's POSIX locks on it, and the
running server then loses acknowledged writes (issue 18: 28 of 32 requests failed with "disk I/O
error" and a created site vanished after a restart). Real SQLite file, real threads, no mocks."""

import datetime as dt
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compliance"))

from compliance_worlds import build_demo  # noqa: E402

from trustface.deployment import Deployment, init_deployment  # noqa: E402
from trustface.services import Context, admin, cli_principal, oversight  # noqa: E402

_OPENED: list[str] = []
_RECORDING = threading.Event()


def _hook(event: str, args: tuple) -> None:
    if _RECORDING.is_set() and event == "open" and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_hook)


@pytest.fixture
def site_in_folder(tmp_path):
    """A deployment whose SQLite database lives in its folder (the default layout)."""
    directory = tmp_path / "site"
    init_deployment(directory, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    dep = Deployment(directory)
    world = build_demo(dep)
    yield dep, world
    dep.close()


def test_the_folder_scan_never_opens_the_database_files(site_in_folder):
    dep, world = site_in_folder
    ctx = Context.open(dep, preload=False)
    (dep.directory / "stray.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    _OPENED.clear()
    _RECORDING.set()
    try:
        result = oversight.assess_site(ctx, cli_principal("auditor:test"), world["site_id"], record=False)
    finally:
        _RECORDING.clear()
    protected = [p for p in _OPENED if Path(p).name.startswith("trustface.db")]
    assert not protected, protected
    photos = next(f for f in result["findings"] if f["id"] == "photos_kept")
    assert "stray.jpg" in str(photos["evidence"]), photos  # the scan still finds a stray photo


def test_every_acknowledged_write_survives_assessments_run_while_writing(site_in_folder):
    dep, world = site_in_folder
    ctx = Context.open(dep, preload=False)
    who = cli_principal("admin:test")
    acknowledged: list[str] = []
    errors: list[BaseException] = []

    def write() -> None:
        for n in range(30):
            try:
                made = admin.create_site(ctx, who, name=f"Block {n}", site_type="residential", jurisdiction="cn",
                                         tenant_id=world["tenant_id"])
                acknowledged.append(made.id)
            except BaseException as exc:  # noqa: BLE001 - every failure is reported below
                errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        oversight.assess_site(ctx, who, world["site_id"], record=False)
    writer.join()
    assert not errors, errors
    dep.close()
    reopened = Deployment(dep.directory)
    try:
        reread = Context.open(reopened, preload=False)
        names = {s.id for s in admin.list_sites(reread, who)}
        assert set(acknowledged) <= names and len(acknowledged) == 30
        assert oversight.verify_audit_chain(reread, who).ok
    finally:
        reopened.close()
