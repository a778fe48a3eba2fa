"""theodoi web behind Debian's nginx with a self-signed certificate (openssl), on loopback: the
shipped site (deploy/nginx/theodoi.conf, ports and paths changed), a login over HTTPS,
Secure cookies, HSTS, and the client address the login limiter sees is the one nginx
forwarded (clients on 127.0.0.2 and 127.0.0.3; nginx and the app on 127.0.0.1)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.smtp_server import free_port, self_signed_cert  # openssl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
THEODOI = str(Path(sys.executable).parent / "theodoi")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
EMAIL, PASSWORD = "dieu.phoi@snv.vn", "mat-khau-rat-dai-2026"


def site(tmp: Path, https_port: int, http_port: int, web_port: int, cert: Path, key: Path) -> str:
    text = (ROOT / "deploy" / "nginx" / "theodoi.conf").read_text()
    text = "\n".join(line for line in text.splitlines() if "[::]" not in line)
    text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{web_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl;")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("server_name theodoi.example.gov.vn;", "server_name 127.0.0.1;")
    text = text.replace("/etc/ssl/theodoi/fullchain.pem", str(cert))
    text = text.replace("/etc/ssl/theodoi/privkey.pem", str(key))
    temp = "\n".join(f"    {kind}_temp_path {tmp}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
            f"events {{ worker_connections 64; }}\nhttp {{\n    access_log {tmp}/access.log;\n"
            f"{temp}\n{text}\n}}\n")


def wait_up(url: str, proc: subprocess.Popen, **kwargs: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the process exited"
        try:
            if httpx.get(url, timeout=2, **kwargs).status_code < 500:  # type: ignore[arg-type]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One `theodoi web` and one nginx for the module (each test its client addresses)."""
    tmp_path = tmp_path_factory.mktemp("nginx")
    if NGINX is None:
        pytest.skip("nginx is not installed (.ci/run installs Debian's nginx)")
    web_port, https_port, http_port = free_port(), free_port(), free_port()
    base = f"https://127.0.0.1:{https_port}"
    env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{tmp_path / 't.db'}",
           "THEODOI_ORGANISATION__BASE_URL": base, "THEODOI_WEB__SECURE_COOKIES": "true",
           "THEODOI_WEB__HSTS": "true", "THEODOI_WEB__TRUSTED_PROXIES": '["127.0.0.1"]',
           "THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "64"}
    for key in ("THEODOI_NOW", "THEODOI_CONFIG"):
        env.pop(key, None)
    for args, stdin in ((["init"], None),
                        (["user", "add", EMAIL, "--role", "coordinator", "--password-stdin"],
                         PASSWORD + "\n")):
        done = subprocess.run([THEODOI, *args], env=env, input=stdin, capture_output=True,
                              text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 0, done.stderr
    cert, key = self_signed_cert(tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_text(site(tmp_path, https_port, http_port, web_port, cert, key))
    web = subprocess.Popen([THEODOI, "web", "--host", "127.0.0.1", "--port", str(web_port)],
                           env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_up(f"http://127.0.0.1:{web_port}/healthz", web)
        wait_up(f"{base}/healthz", nginx, verify=str(cert))
        yield base, cert
    finally:
        for proc in (nginx, web):
            proc.terminate()
            proc.wait(timeout=30)


def client(base: str, cert: Path, source: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source, verify=str(cert))
    return httpx.Client(base_url=base, transport=transport, timeout=30)


def login(http: httpx.Client, password: str) -> httpx.Response:
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    return http.post("/login", data={"email": EMAIL, "password": password,
                                     "csrf_token": token.group(1), "next": "/"},
                     headers={"X-Forwarded-For": "10.9.9.9"})  # nginx replaces what we claim


def test_login_over_https_behind_nginx(behind_nginx: tuple[str, Path]) -> None:
    base, cert = behind_nginx
    with client(base, cert, "127.0.0.4") as http:
        page = http.get("/login")
        assert page.status_code == 200
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert all("secure" in c.lower() for c in page.headers.get_list("set-cookie"))
        done = login(http, PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/dashboard"
        session = [c for c in done.headers.get_list("set-cookie") if "httponly" in c.lower()]
        assert session and all("; secure" in c.lower() for c in session)
        assert http.get("/dashboard").status_code == 200  # the Secure cookie came back


def test_the_limiter_sees_the_address_nginx_forwarded(behind_nginx: tuple[str, Path]) -> None:
    base, cert = behind_nginx
    with client(base, cert, "127.0.0.2") as http:
        codes = [login(http, "sai-mat-khau").status_code for _ in range(5)]
        assert codes == [401] * 5
        assert login(http, PASSWORD).status_code == 429  # this address is blocked …
    with client(base, cert, "127.0.0.3") as other:
        assert login(other, PASSWORD).status_code == 303  # … another one is not
