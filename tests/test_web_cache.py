"""The web's cache of archived PDFs and page images: private whatever the umask, bounded in
size and age, and pruned without breaking a response (issue 20, row 8)."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.web import World, build_world, fast_users, logged_in, role_cfg, serve
from tests.test_search_minio import CODE_A
from workers.web.app import create_app
from workers.web.cache import WebCache

pytestmark = pytest.mark.integration
IMAGE = f"/document/{CODE_A}.1/page/1.png"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def world(minio_server, tmp_path_factory) -> tuple[World, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("webcache")
    tag = secrets.token_hex(4)
    env = {
        **minio_server.env(),
        "SOHOA_HOME": str(tmp / "home"),
        "SOHOA_INBOX": str(tmp / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-wc{tag}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-wc{tag}",
        "SOHOA_BUCKET_WORK": f"work-wc{tag}",
    }
    return build_world(minio_server, env), env


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def test_cached_copies_are_private_whatever_the_umask(world, umask_022):
    w, _ = world
    cache = w.web.home / "cache" / "web"
    shutil.rmtree(cache, ignore_errors=True)
    with serve(create_app(w.web, users=fast_users(w.web))) as url:
        client = logged_in(url, "lan")
        for width in ("320", "1100"):
            assert client.get(IMAGE, params={"w": width}).content.startswith(b"\x89PNG")
        client.close()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    modes = _modes(cache)
    assert sorted(n.rsplit(".", 1)[1] for n in modes) == ["pdf", "png", "png"]
    assert set(modes.values()) == {0o600}, modes


def test_a_copy_left_readable_by_an_older_version_is_made_private_at_start(world, umask_022):
    w, _ = world
    cache = w.web.home / "cache" / "web"
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    old = cache / ("0" * 32 + ".pdf")
    old.write_bytes(b"%PDF-1.4 a citizen's dossier")
    old.chmod(0o644)
    create_app(w.web, users=fast_users(w.web))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


def _file(folder: Path, name: str, size: int, age_hours: float, now: float) -> Path:
    path = folder / name
    path.write_bytes(b"x" * size)
    when = now - age_hours * 3600
    os.utime(path, (when, when))
    return path


def test_prune_drops_expired_copies_then_the_oldest_past_the_size_limit(tmp_path, umask_022):
    now = 2_000_000_000.0
    cache = WebCache(tmp_path / "web", max_bytes=2500, max_age_seconds=24 * 3600, clock=lambda: now)
    folder = cache.ensure()
    expired = _file(folder, "a.pdf", 100, 25, now)
    oldest = _file(folder, "b.pdf", 1000, 5, now)
    older = _file(folder, "b-p1-w320.png", 1000, 4, now)
    newer = _file(folder, "c.pdf", 1000, 1, now)
    report = cache.prune()
    assert not expired.exists() and not oldest.exists()
    assert older.exists() and newer.exists()
    assert (report.removed, report.kept, report.kept_bytes) == (2, 2, 2000)
    assert set(_modes(folder).values()) == {0o600}


def test_prune_never_deletes_a_file_a_response_is_using(tmp_path):
    now = 2_000_000_000.0
    cache = WebCache(tmp_path / "web", max_bytes=0, max_age_seconds=3600, clock=lambda: now)
    folder = cache.ensure()
    pdf = _file(folder, "d.pdf", 500, 30, now)  # expired and over the limit, but in use
    png = _file(folder, "d-p1-w320.png", 500, 0, now)
    spare = _file(folder, "e.pdf", 500, 0, now)
    part = _file(folder, "f.pdf.123.456.part", 500, 0, now)  # a download under way
    with cache.using(pdf, png):
        cache.prune()
        assert pdf.exists() and png.exists() and part.exists() and not spare.exists()
        with cache.using(pdf):  # two requests for the same file
            pass
        cache.prune()
        assert pdf.exists()
    cache.prune()
    assert not pdf.exists() and not png.exists() and part.exists()


def test_a_zero_size_cache_still_serves_every_image(world):
    """With nothing allowed to stay and a pruner running all the while, every request
    renders, serves its image, and the cache ends empty."""
    w, env = world
    cfg = role_cfg(env, w.keys, "web", web={"cache_max_mb": 0})
    app = create_app(cfg, users=fast_users(cfg))
    cache = app.state.context.images.cache
    with serve(app) as url:
        client = logged_in(url, "lan")
        stop = threading.Event()

        def prune_all_the_time() -> None:
            while not stop.is_set():
                cache.prune()

        pruner = threading.Thread(target=prune_all_the_time)
        pruner.start()
        try:
            for page in ("1", "2", "1", "2", "1"):
                resp = client.get(f"/document/{CODE_A}.1/page/{page}.png", params={"w": "320"})
                assert resp.status_code == 200 and resp.content.startswith(b"\x89PNG")
        finally:
            stop.set()
            pruner.join()
        client.close()
    cache.prune()
    assert [p for p in cache.folder.iterdir()] == []


def test_cache_settings_are_validated(tmp_path):
    from pipeline.config import ConfigError, load_config

    env = {"SOHOA_HOME": str(tmp_path)}
    cfg = load_config(env=env)
    assert cfg.web.cache_max_mb > 0 and cfg.web.cache_max_age_hours > 0
    for bad in ({"cache_max_mb": -1}, {"cache_max_age_hours": 0}):
        with pytest.raises(ConfigError, match="cache"):
            load_config(env=env, overrides={"web": bad})
