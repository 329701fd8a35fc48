"""The web app as a test meets it: role keys, an indexed archive, users, uvicorn, logging in."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class ServeProcess:
    """A real ``sohoa serve`` on loopback: its URL, and its output once it has stopped."""

    url: str
    proc: subprocess.Popen
    output: str = ""


@contextmanager
def sohoa_serve(env: dict[str, str], *args: str, timeout: float = 60) -> Iterator[ServeProcess]:
    """``python -m workers.cli serve --port P ARGS`` with ``env``, up once /health answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = ServeProcess(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sohoa serve exited {proc.returncode}: {proc.stdout.read()}")
            try:
                if httpx.get(running.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sohoa serve did not start")
            time.sleep(0.2)
        yield running
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        running.output = out or ""


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


# ------------------------------------------------------------------ a world to attack

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
FLAGGED_CODE = "000.00.13.H38-261125-0004"


@dataclass
class World:
    """An archive, an index, a ledger with work for operators, and a web process's config."""

    web: Config
    worker: Config
    keys: dict[str, RoleKeys]
    failed_id: str
    needs_code_id: str
    flagged_id: str
    batch_id: str
    xss_name_id: str


def _ledger_doc(ledger, batch: str, name: str, sha: str, state: str, **fields) -> str:
    """A document walked through the states to ``state`` (no OCR: only the ledger)."""
    doc = ledger.add_document(
        batch,
        actor="watcher",
        source_name=name,
        source_path=f"/inbox/motcua-01/{name}",
        sha256=sha,
        size=100,
        station="motcua-01",
        folder_name=None,
        dossier_hint=None,
    )
    raw = {"raw_key": f"sha256/{sha}"}
    ledger.transition(doc.id, "stored_raw", actor="watcher", stage="ingest", reason="raw", **raw)
    ledger.transition(doc.id, "processing", actor="worker", stage="start", reason="start")
    if state == "indexed":
        ledger.transition(doc.id, "archived", actor="worker", stage="pdf", reason="ok", **fields)
        ledger.transition(doc.id, "indexed", actor="worker", stage="index", reason="ok")
    else:
        reason = {"failed": "OcrError: tesseract died", "needs_dossier": "no dossier code"}[state]
        ledger.transition(doc.id, state, actor="worker", stage="ocr", reason=reason, **fields)
    return doc.id


def build_world(server: MinioServer, env: dict[str, str]) -> World:
    from pipeline.storage.ledger import SqliteLedger
    from pipeline.storage.objects import connect
    from tests.support import index as idx
    from tests.test_search_minio import DOCS, archive_meta, put_archive_document, small_pdf

    keys = setup_roles(server, env)
    worker = role_cfg(env, keys, "worker")
    store = connect(worker)
    for code, n, station, type_name, pages in DOCS:
        put_archive_document(store, code, n, station, type_name, pages)
    put_archive_document(store, DOCS[1][0], 3, "motcua-02", XSS, [f"Ghi chú {XSS} & trích"])
    # A document with a page flagged for review (its metadata says which).
    texts = ["Trang một đọc tốt", "TRANG HAI MO NHOE: Ph?m V?n"]
    meta = archive_meta(FLAGGED_CODE, 1, "motcua-01", "Tờ khai", len(texts))
    meta["ocr"]["pages_needing_review"] = [2]
    base = f"{FLAGGED_CODE}/{FLAGGED_CODE}.1"
    bucket = store.archive_bucket
    store.put_bytes(bucket, f"{base}.pdf", small_pdf(2), content_type="application/pdf")
    store.put_bytes(bucket, f"{base}.json", json.dumps(meta).encode(), content_type="text/json")
    store.put_bytes(bucket, f"{base}.txt", "\f".join(texts).encode(), content_type="text/plain")
    idx.reindex(worker.index_path, store)

    ledger = SqliteLedger(worker.ledger_path)
    batch = ledger.create_batch("motcua-01", "motcua-01/ho-so", "watcher")
    failed = _ledger_doc(ledger, batch, "to-khai.pdf", "a" * 64, "failed")
    needs = _ledger_doc(ledger, batch, "don.png", "b" * 64, "needs_dossier")
    xss_name = _ledger_doc(ledger, batch, f"{XSS}\r\nSet-Cookie: x=1.png", "c" * 64, "failed")
    flagged = _ledger_doc(
        ledger,
        batch,
        "mo-nhoe.tif",
        "d" * 64,
        "indexed",
        dossier_code=FLAGGED_CODE,
        ordinal=1,
        pages=2,
        pdf_key=f"{base}.pdf",
        metadata_key=f"{base}.json",
        text_key=f"{base}.txt",
        review="low OCR quality: page 2 (confidence 41.0, invalid syllables 30%)",
    )
    ledger.close()
    web = role_cfg(env, keys, "web")
    return World(web, worker, keys, failed, needs, flagged, batch, xss_name)
