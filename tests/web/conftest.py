"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (never `playwright
install`), a fake camera fed from a real photo, and a real server (`trustface serve`, uvicorn on
127.0.0.1 and a free port) over a demo deployment with one console administrator.

Screenshots go to $TRUSTFACE_WEB_ARTIFACTS when set (CI keeps them), else to a temp folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db_fixtures import _pg_template, _sqlite_template, database_url, deployment  # noqa: E402,F401

CHROMIUM = "/usr/lib/chromium/chromium"
PASSWORD = "correct horse battery staple"
EMAIL = "desk@harbour.example"


def _need(tool_ok: bool, what: str) -> None:
    if not tool_ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI (scripts/test.sh installs it)")
        pytest.skip(f"{what} is not installed (apt-get install -y chromium ffmpeg)")


@pytest.fixture(scope="session")
def camera_file(tmp_path_factory, examples) -> Path:
    """A fake-camera clip of a real photo of the person enrolled from obama.jpg (another sitting:
    obama2.jpg), framed on the face at 320x240. Per-frame sensor-like noise and 260 frames (26 s at
    10 fps, ~30 MB, looped by Chromium) make every captured frame new, as a real camera's are: the
    gate refuses a frame it has already seen as a replay (liveness)."""
    _need(os.path.exists(CHROMIUM), "Debian's chromium")
    _need(shutil.which("ffmpeg") is not None, "ffmpeg")
    out = tmp_path_factory.mktemp("camera") / "obama2.y4m"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-loop", "1", "-i", str(examples / "obama2.jpg"), "-t", "26",
                    "-r", "10", "-vf", "crop=626:470:0:180,scale=320:240,noise=alls=10:allf=t+u",
                    "-pix_fmt", "yuv420p", str(out)], check=True, timeout=120)
    return out


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, camera_file):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={camera_file}"]}


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    wanted = os.environ.get("TRUSTFACE_WEB_ARTIFACTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("web-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    dir: Path
    admin_key: str
    tenant_id: str
    site_id: str
    gate_ids: list
    email: str = EMAIL
    password: str = PASSWORD


@pytest.fixture(scope="session")
def server(tmp_path_factory, cli, camera_file):
    """`trustface init --demo`, `trustface user add` and `trustface serve`, as a user would run them."""
    directory = tmp_path_factory.mktemp("web") / "deployment"
    init = cli("init", "--dir", str(directory), "--demo", "--json")
    assert init.returncode == 0, init.stderr
    info = json.loads(init.stdout)
    settings = directory / "settings.toml"
    settings.write_text(settings.read_text().replace('sqlite_synchronous = "FULL"', 'sqlite_synchronous = "NORMAL"'))
    added = subprocess.run([sys.executable, "-m", "trustface", "user", "add", "--dir", str(directory), "--tenant",
                            info["tenant_id"], "--role", "admin", "--email", EMAIL, "--password-stdin"],
                           input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    port = _free_port()
    log = open(directory.parent / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "trustface", "serve", "--dir", str(directory), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError("the server did not start:\n" + (directory.parent / "serve.log").read_text()[-3000:])
        time.sleep(0.3)
    yield Server(url, directory, info["admin_key"], info["tenant_id"], info["site_id"], info["gate_ids"])
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
    log.close()
