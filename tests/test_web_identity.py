"""One identity per request, against a real `sohoa serve` on loopback (issue 20, row 2).

Server B of the issue: ``web.trusted_proxy: 127.0.0.1`` as ``configs/web.example.yaml``
suggests. Any local process can connect from that address, so it proves nothing: only
the proxy's shared secret (``SOHOA_WEB_PROXY_SECRET`` in ``X-Sohoa-Proxy-Secret``) makes
a request the proxy's, and only then are a user header and ``X-Forwarded-For`` believed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.access.audit import SqliteAuditLog
from pipeline.access.users import SqliteUserStore
from tests.support.cli import sohoa
from tests.support.minio import free_port
from tests.support.proxy import SingleSignOnProxy
from tests.support.web import World, build_world, fast_users, form_token, role_env, sohoa_serve

pytestmark = pytest.mark.integration
PROXY_SECRET = secrets.token_hex(24)
SECRET_HEADER = "X-Sohoa-Proxy-Secret"


@pytest.fixture(scope="module")
def office(minio_server, tmp_path_factory) -> tuple[World, dict[str, str]]:
    """An archive, users, and the environment of a web machine (the web key)."""
    tmp = tmp_path_factory.mktemp("identity")
    tag = secrets.token_hex(4)
    env = {
        **minio_server.env(),
        "SOHOA_HOME": str(tmp / "home"),
        "SOHOA_INBOX": str(tmp / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-id{tag}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-id{tag}",
        "SOHOA_BUCKET_WORK": f"work-id{tag}",
    }
    world = build_world(minio_server, env)
    fast_users(world.web)
    return world, role_env(env, world.keys, "web")


def _config(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def server_b(office, tmp_path_factory) -> Iterator[str]:
    """`sohoa serve` as the issue found it deployed: trusted_proxy 127.0.0.1, no more."""
    _, env = office
    conf = _config(tmp_path_factory.mktemp("b"), "web.yaml", "web:\n  trusted_proxy: 127.0.0.1\n")
    server_env = {**env, "SOHOA_CONFIG": conf, "SOHOA_WEB_PROXY_SECRET": PROXY_SECRET}
    with sohoa_serve(server_env) as running:
        yield running.url
    assert PROXY_SECRET not in running.output


@pytest.fixture(scope="module")
def sso_server(office, tmp_path_factory) -> Iterator[str]:
    """The same, with single sign-on by the proxy's user header switched on."""
    _, env = office
    text = "web:\n  trusted_proxy: 127.0.0.1\n  proxy_login: true\n"
    conf = _config(tmp_path_factory.mktemp("sso"), "web.yaml", text)
    server_env = {**env, "SOHOA_CONFIG": conf, "SOHOA_WEB_PROXY_SECRET": PROXY_SECRET}
    with sohoa_serve(server_env) as running:
        yield running.url
    assert PROXY_SECRET not in running.output


def _audit(world: World) -> SqliteAuditLog:
    return SqliteAuditLog(world.web.ledger_path)


def _direct(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, follow_redirects=False, timeout=30)


def test_a_local_process_naming_an_admin_gets_no_session_on_server_b(office, server_b):
    """The attack as found: connect straight to the port, say ``X-Remote-User: ad``."""
    world, _ = office
    forged = {"X-Remote-User": "ad", "X-Forwarded-For": "203.0.113.66"}
    with _direct(server_b) as local:
        users = local.get("/users", headers=forged)
        assert users.status_code == 303 and users.headers["location"].startswith("/login")
        assert "set-cookie" not in users.headers
        made = local.post(
            "/users",
            headers=forged,
            data={"name": "evil", "role": "admin", "password": "evil-pass-123"},
        )
        assert made.status_code in (303, 403)
    assert SqliteUserStore(world.web.ledger_path).get("evil") is None
    rows = _audit(world).query(since="2000-01-01")
    assert not [r for r in rows if r.action == "login" and r.actor == "ad"]
    assert "203.0.113.66" not in {r.client for r in rows}  # its X-Forwarded-For not believed


def test_a_user_header_without_the_secret_is_refused_and_audited(office, sso_server):
    world, _ = office
    before = len(_audit(world).query(action="denied"))
    with _direct(sso_server) as local:
        r = local.get("/users", headers={"X-Remote-User": "ad", "X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 303 and "set-cookie" not in r.headers
    denied = _audit(world).query(action="denied")[before:]
    assert [(d.details["reason"], d.client) for d in denied] == [
        ("user header without the proxy secret", "127.0.0.1")
    ]


def test_a_wrong_secret_is_refused_and_audited(office, sso_server):
    world, _ = office
    before = len(_audit(world).query(action="denied"))
    wrong = {"X-Remote-User": "ad", SECRET_HEADER: PROXY_SECRET[:-2] + "00"}
    with _direct(sso_server) as local:
        r = local.get("/users", headers=wrong)
        assert r.status_code == 403 and "set-cookie" not in r.headers
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
    denied = _audit(world).query(action="denied")[before:]
    assert [d.details["reason"] for d in denied] == ["wrong proxy secret"]
    assert not [r for r in _audit(world).query(action="login") if r.actor == "ad"]


def test_through_the_proxy_with_its_secret_the_named_user_is_logged_in(office, sso_server):
    world, _ = office
    port = int(sso_server.rsplit(":", 1)[1])
    with SingleSignOnProxy(("127.0.0.1", port), PROXY_SECRET, user="op") as proxy:
        browser = httpx.Client(base_url=proxy.url, follow_redirects=False, timeout=30)
        # what the client adds is dropped by the proxy: its own user, address, secret
        lies = {"X-Remote-User": "ad", "X-Forwarded-For": "203.0.113.9", SECRET_HEADER: "x"}
        r = browser.get("/batches", headers=lies)
        assert r.status_code == 200 and "op (vận hành)" in r.text
        assert browser.get("/users").status_code == 403  # op, not the ad it claimed
        browser.close()
    logins = [r for r in _audit(world).query(action="login") if r.actor == "op"]
    assert logins[-1].details == {"via": "proxy"} and logins[-1].client == proxy.forwarded_for


def test_server_b_believes_x_forwarded_for_only_with_the_secret(office, server_b):
    """Without single sign-on the secret still decides whose address goes into the log."""
    world, _ = office
    port = int(server_b.rsplit(":", 1)[1])

    def failed_login_from(base: str) -> str | None:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c:
            token = form_token(c.get("/login").text)
            form = {"username": "lan", "password": "wrong-pass-xyz", "csrf_token": token}
            spoof = {"X-Forwarded-For": "203.0.113.44"}
            assert c.post("/login", data=form, headers=spoof).status_code == 401
        return _audit(world).query(action="login_failed")[-1].client

    assert failed_login_from(server_b) == "127.0.0.1"
    with SingleSignOnProxy(("127.0.0.1", port), PROXY_SECRET) as proxy:
        assert failed_login_from(proxy.url) == proxy.forwarded_for


def test_serve_refuses_trusted_proxy_without_a_secret(office, tmp_path):
    _, env = office
    conf = _config(tmp_path, "web.yaml", "web:\n  trusted_proxy: 127.0.0.1\n")
    port = str(free_port())
    result = sohoa({**env, "SOHOA_CONFIG": conf}, "serve", "--port", port, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SOHOA_WEB_PROXY_SECRET" in lines[0]
