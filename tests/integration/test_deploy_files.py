"""deploy/: the systemd units verify, the nginx site agrees with the app's settings.

(The nginx-in-front test is tests/integration/test_nginx_https.py.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.settings import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("theodoi-web.service", "theodoi-runner.service", "theodoi-worker@.service")
THEODOI = Path(sys.executable).parent / "theodoi"


def test_nginx_site_matches_the_upload_limit_and_forwards_what_the_app_reads() -> None:
    site = (DEPLOY / "nginx" / "theodoi.conf").read_text()
    body = re.search(r"client_max_body_size (\d+)m;", site)
    assert body and int(body.group(1)) > load_config(None, {}).web.upload_max_mb
    for header in ("X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme", "Host $host"):
        assert f"proxy_set_header {header};" in site
    assert "listen 443 ssl" in site and "return 301 https://" in site
    assert re.search(r"proxy_read_timeout \d+s;", site)


def verify(folder: Path, *units: str) -> str:
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    return (proc.stdout + proc.stderr).strip() if proc.returncode == 0 else f"rc {proc.returncode}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        assert "/opt/theodoi/.venv/bin/theodoi " in text and "UMask=0077" in text
        (tmp_path / name).write_text(text.replace("/opt/theodoi/.venv/bin/theodoi", str(THEODOI)))
    (tmp_path / "theodoi-worker@1.service").write_text((tmp_path / UNITS[2]).read_text())
    assert verify(tmp_path, UNITS[0], UNITS[1], "theodoi-worker@1.service") == ""
    broken = tmp_path / UNITS[0]
    broken.write_text(broken.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    assert "sometimes" in verify(tmp_path, UNITS[0])  # the check can fail
