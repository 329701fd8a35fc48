"""The web app as a test meets it: role keys, an indexed archive, users, uvicorn, logging in."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from argon2 import PasswordHasher
from starlette.applications import Starlette

from pipeline.access.users import LoginPolicy, SqliteUserStore
from pipeline.config import Config, load_config
from pipeline.storage.roles import BucketNames, RetentionSpec, RoleKeys, setup_storage
from tests.support.minio import MinioServer, free_port

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORDS = {"lan": "records-pass-1", "op": "operator-pass-1", "ad": "admin-pass-1"}
ROLES_OF = {"lan": "records", "op": "operator", "ad": "admin"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def setup_roles(server: MinioServer, env: dict[str, str]) -> dict[str, RoleKeys]:
    """``storage setup`` for the buckets ``env`` names, with a prefix of its own: role keys."""
    keys = setup_storage(
        server.endpoint,
        (server.access_key, server.secret_key),
        BucketNames(env["SOHOA_BUCKET_RAW"], env["SOHOA_BUCKET_ARCHIVE"], env["SOHOA_BUCKET_WORK"]),
        RetentionSpec(raw_years=1, archive_years=1),
        prefix=f"t{secrets.token_hex(3)}",
    )
    return {k.role: k for k in keys}


def role_env(env: dict[str, str], keys: dict[str, RoleKeys], role: str) -> dict[str, str]:
    """``env`` with ``role``'s key in place of the root key."""
    key = keys[role]
    assert key.secret_key
    return {
        **env,
        "SOHOA_MINIO_ROLE": role,
        "SOHOA_MINIO_ACCESS_KEY": key.access_key,
        "SOHOA_MINIO_SECRET_KEY": key.secret_key,
    }


def role_cfg(env: dict[str, str], keys: dict[str, RoleKeys], role: str, **over) -> Config:
    return load_config(env=role_env(env, keys, role), overrides=over or None)


def fast_users(cfg: Config, max_failures: int = 5) -> SqliteUserStore:
    """The web's user store with a cheap Argon2 (the real parameters cost a second per login
    on a busy test machine), and the three test users."""
    users = SqliteUserStore(
        cfg.ledger_path,
        LoginPolicy(max_failures=max_failures, lockout_seconds=600),
        FAST_HASHER,
    )
    for name, password in PASSWORDS.items():
        if users.get(name) is None:
            users.add(name, ROLES_OF[name], password)
    return users


@contextmanager
def serve(app: Starlette, **options) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", proxy_headers=False, **options
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    scheme = "https" if options.get("ssl_certfile") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(client: httpx.Client, name: str, password: str | None = None, next_path: str = "/"):
    """Log in through the form, as a browser does; returns the POST's response."""
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200, page.status_code
    return client.post(
        "/login",
        data={
            "username": name,
            "password": PASSWORDS[name] if password is None else password,
            "csrf_token": form_token(page.text),
            "next": next_path,
        },
    )


def logged_in(base_url: str, name: str, **kw) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30, **kw)
    resp = login(client, name)
    assert resp.status_code == 303, resp.text[:300]
    return client


def csrf(client: httpx.Client, path: str = "/") -> str:
    """The session's CSRF token, read off any page with a form (the logout form)."""
    return form_token(client.get(path).text)


def tmp_file(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path
