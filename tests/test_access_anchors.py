"""The audit chain anchored in Object-Locked objects: rewrites by the database's owner are
found, on SQLite and PostgreSQL, with the real role keys on a real MinIO.

Each attack is what someone who can write the tables does (the issue's table, row
"audit rows edited and re-chained; rows deleted and renumbered; the last row deleted
with sqlite_sequence fixed; all rows deleted; on PostgreSQL: triggers disabled, a row
removed, re-chained, audit_chain.last_id lowered"): every time, the old
``sohoa audit verify`` said intact (exit 0); now it exits 1 naming the row and the anchor.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.retention import Retention

from pipeline.access.anchoring import Anchorer
from pipeline.access.anchors import ANCHOR_PREFIX, Head, parse_anchor_key
from pipeline.access.audit import row_hash
from pipeline.access.stores import open_anchor_store, open_audit
from pipeline.config import Config, load_config
from pipeline.errors import NotAllowed
from pipeline.storage.roles import BucketNames, RetentionSpec, RoleKeys, setup_storage
from tests.support.access import AccessDB, Raw, make_access
from tests.support.backends import BACKENDS
from tests.support.cli import json_lines, sohoa
from tests.support.minio import MinioServer, new_server

pytestmark = pytest.mark.integration

CODE = "000.00.13.H38-261120-0001"


@dataclass
class World:
    acc: AccessDB
    buckets: BucketNames
    keys: dict[str, RoleKeys]
    base: dict[str, str]  # SOHOA_HOME, the database and the buckets; no MinIO key
    root: Minio

    def env(self, role: str) -> dict[str, str]:
        key = self.keys[role]
        assert key.secret_key
        return {
            **self.base,
            "SOHOA_MINIO_ROLE": role,
            "SOHOA_MINIO_ACCESS_KEY": key.access_key,
            "SOHOA_MINIO_SECRET_KEY": key.secret_key,
        }

    def cfg(self, role: str) -> Config:
        return load_config(env=self.env(role))

    def client(self, role: str) -> Minio:
        key = self.keys[role]
        assert key.secret_key
        return Minio(
            self.base["SOHOA_MINIO_ENDPOINT"], key.access_key, key.secret_key, secure=False
        )

    def anchors(self) -> list[str]:
        """This chain's anchors (the bucket holds other tests' chains too)."""
        store = open_anchor_store(self.cfg("operator"))
        assert store is not None
        return [
            o.object_name
            for o in self.root.list_objects(
                self.buckets.archive, prefix=store.folder, recursive=True
            )
        ]

    def verify(self, role: str = "operator"):
        return sohoa(self.env(role), "--json", "audit", "verify", timeout=120)


@dataclass(frozen=True)
class Storage:
    """Buckets and role keys from one ``storage setup``: shared by a module's tests, whose
    anchors stay apart because each test's database is another chain."""

    endpoint: str
    buckets: BucketNames
    keys: dict[str, RoleKeys]
    root: Minio


def _setup(server: MinioServer) -> Storage:
    tag = secrets.token_hex(3)
    buckets = BucketNames(f"raw-{tag}", f"archive-{tag}", f"work-{tag}")
    keys = setup_storage(
        server.endpoint,
        (server.access_key, server.secret_key),
        buckets,
        RetentionSpec(raw_years=1, archive_years=1),
        prefix=f"t{tag}",
    )
    root = Minio(server.endpoint, server.access_key, server.secret_key, secure=False)
    return Storage(server.endpoint, buckets, {k.role: k for k in keys}, root)


def _world(storage: Storage, acc: AccessDB, tmp_path: Path) -> World:
    base = {
        "SOHOA_HOME": str(tmp_path / "home"),
        "SOHOA_MINIO_ENDPOINT": storage.endpoint,
        "SOHOA_BUCKET_RAW": storage.buckets.raw,
        "SOHOA_BUCKET_ARCHIVE": storage.buckets.archive,
        "SOHOA_BUCKET_WORK": storage.buckets.work,
        **acc.env,
    }
    return World(acc, storage.buckets, storage.keys, base, storage.root)


@pytest.fixture(scope="module")
def storage(minio_server: MinioServer) -> Storage:
    return _setup(minio_server)


@pytest.fixture(params=BACKENDS)
def world(request, storage: Storage, tmp_path: Path) -> Iterator[World]:
    acc = make_access(request.param, tmp_path, request, path=tmp_path / "home" / "ledger.sqlite3")
    yield _world(storage, acc, tmp_path)
    acc.close()


@pytest.fixture
def anchored(world: World) -> World:
    """Five rows appended by the web app's key (which anchors the first), then an
    administrator's ``audit verify`` (which checks, then anchors row 5)."""
    log = open_audit(world.cfg("web"))
    log.append("lan", "login", client="10.0.0.5")
    log.append("lan", "search", details={"q": "giấy phép", "hits": 3})
    log.append("lan", "dossier_view", CODE)
    log.append("lan", "pdf_open", f"{CODE}/{CODE}.1.pdf", details={"page": 2})
    log.append("binh", "retry", "doc-123", details={"dossier_code": CODE})
    first = world.verify()
    assert first.returncode == 0, first.stderr
    (result,) = json_lines(first.stdout)
    assert result["ok"] and result["checked"] == 5 and result["anchors"] == 1
    heads = sorted(parse_anchor_key(k, k.split("/")[2]).last_id for k in world.anchors())
    assert heads == [1, 5]
    return world


# --------------------------------------------------------------- what an attacker does


def _disarm(raw: Raw) -> None:
    """Switch off every guard the tables have (the owner of the tables may)."""
    if raw.kind == "postgres":
        raw.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        raw.execute("ALTER TABLE audit_chain DISABLE TRIGGER USER")
    else:
        raw.disarm_audit()


def _set_counter(raw: Raw, value: int) -> None:
    """Wind the high-water counter to ``value`` (SQLite's sqlite_sequence, PostgreSQL's
    audit_chain.last_id), so a cut tail looks like it never was."""
    if raw.kind == "postgres":
        raw.execute("UPDATE audit_chain SET last_id = ?", (value,))
    elif value == 0:
        raw.execute("DELETE FROM sqlite_sequence WHERE name = 'audit_log'")
    else:
        raw.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", (value,))


def _rows(raw: Raw) -> list[dict]:
    return raw.execute("SELECT * FROM audit_log ORDER BY id")


def _rechain(raw: Raw, rows: list[dict]) -> None:
    """Replace the whole table with ``rows``, numbered from 1 and hashed afresh: a chain
    that holds on its own."""
    raw.execute("DELETE FROM audit_log")
    prev = "0" * 64
    for i, row in enumerate(rows, start=1):
        new = dict(row, id=i, prev_hash=prev)
        new["hash"] = row_hash(
            i,
            new["at"],
            new["actor"],
            new["action"],
            new["object"],
            new["dossier"],
            new["client"],
            new["details"],
            prev,
        )
        cols = ",".join(new)
        raw.execute(
            f"INSERT INTO audit_log ({cols}) VALUES ({','.join('?' * len(new))})",
            list(new.values()),
        )
        prev = new["hash"]
    _set_counter(raw, len(rows))


def _broken(world: World) -> tuple[dict, str]:
    result = world.verify()
    assert result.returncode == 1, result.stdout + result.stderr
    (check,) = json_lines(result.stdout)
    assert not check["ok"] and check["anchored"] is None  # a broken head is never anchored
    return check, result.stderr


# ----------------------------------------------------------------------------- attacks


def test_an_edited_row_rechained_is_found_against_the_anchor(anchored: World):
    with anchored.acc.raw() as raw:
        _disarm(raw)
        rows = _rows(raw)
        rows[2]["details"] = '{"note":"nothing to see"}'
        _rechain(raw, rows)
    assert anchored.acc.audit().verify().ok  # the chain alone holds ...
    check, stderr = _broken(anchored)  # ... the anchors do not
    assert check["first_broken_id"] == 5 and "rows 2..5 were rewritten" in check["reason"]
    assert check["anchor"] and check["anchor"].startswith(ANCHOR_PREFIX)
    assert "broken at row 5" in stderr and check["anchor"] in stderr


def test_rows_deleted_and_renumbered_are_found(anchored: World):
    with anchored.acc.raw() as raw:
        _disarm(raw)
        rows = _rows(raw)
        _rechain(raw, rows[:1] + rows[2:])  # row 2 gone, the rest renumbered 2..4
    assert anchored.acc.audit().verify().ok
    check, _ = _broken(anchored)
    assert check["first_broken_id"] == 5 and "removed" in check["reason"]


def test_the_last_row_deleted_with_the_counter_fixed_is_found(anchored: World):
    with anchored.acc.raw() as raw:
        _disarm(raw)
        raw.execute("DELETE FROM audit_log WHERE id = 5")
        _set_counter(raw, 4)
    assert anchored.acc.audit().verify().ok
    check, stderr = _broken(anchored)
    assert check["first_broken_id"] == 5 and "rows 5..5 were removed" in check["reason"]
    assert check["anchor"] in stderr


def test_all_rows_deleted_is_found(anchored: World):
    with anchored.acc.raw() as raw:
        _disarm(raw)
        raw.execute("DELETE FROM audit_log")
        _set_counter(raw, 0)
    assert anchored.acc.audit().verify().ok
    check, _ = _broken(anchored)
    assert check["first_broken_id"] == 1 and "rows 1..5 were removed" in check["reason"]


def test_all_rows_replaced_by_a_fresh_chain_is_found(anchored: World):
    with anchored.acc.raw() as raw:
        _disarm(raw)
        fresh = [dict(r, actor="someone-else") for r in _rows(raw)]
        _rechain(raw, fresh)
    check, _ = _broken(anchored)
    assert check["first_broken_id"] == 1 and "rewritten" in check["reason"]  # row 1 anchored


def test_a_counter_wound_back_is_found(anchored: World):
    with anchored.acc.raw() as raw:
        _disarm(raw)
        _set_counter(raw, 3)  # preparing to cut rows 4 and 5 later
    assert anchored.acc.audit().verify().ok
    check, _ = _broken(anchored)
    assert check["first_broken_id"] == 4 and "went back from 5 to 3" in check["reason"]


def test_postgres_with_the_shared_url_triggers_disabled_row_removed_rechained(
    request, storage: Storage, tmp_path: Path
):
    """The issue's PostgreSQL attack, spelled out: anyone with the shared URL owns the
    tables, disables their triggers, removes a row, re-chains, lowers last_id."""
    acc = make_access("postgres", tmp_path, request)
    try:
        world = _world(storage, acc, tmp_path)
        log = open_audit(world.cfg("worker"))
        for i in range(6):
            log.append("lan", "pdf_open", f"{CODE}/{CODE}.{i + 1}.pdf")
        assert world.verify().returncode == 0
        with acc.raw() as raw:
            raw.execute("ALTER TABLE audit_log DISABLE TRIGGER ALL")
            raw.execute("ALTER TABLE audit_chain DISABLE TRIGGER ALL")
            raw.execute("DELETE FROM audit_log WHERE id = 3")
            rows = _rows(raw)
            _rechain(raw, rows)
            assert raw.execute("SELECT last_id FROM audit_chain") == [{"last_id": 5}]
            raw.execute("ALTER TABLE audit_log ENABLE TRIGGER ALL")
            raw.execute("ALTER TABLE audit_chain ENABLE TRIGGER ALL")
        assert acc.audit().verify().ok
        check, _ = _broken(world)
        assert check["first_broken_id"] == 6 and "removed" in check["reason"]
    finally:
        acc.close()


def test_a_noted_anchor_still_works_and_a_false_one_is_reported(anchored: World):
    head = anchored.acc.audit().head()
    assert head
    noted = f"{head[0]}:{head[1]}"
    assert sohoa(anchored.env("operator"), "audit", "verify", "--anchor", noted).returncode == 0
    wrong = f"{head[0]}:{'f' * 64}"
    result = sohoa(anchored.env("operator"), "audit", "verify", "--anchor", wrong)
    assert result.returncode == 1 and "--anchor" in result.stderr


def test_verify_without_a_minio_key_says_the_anchors_were_not_checked(anchored: World):
    result = sohoa(anchored.base, "audit", "verify")
    assert result.returncode == 0 and "not checked against its anchors" in result.stderr


def test_two_chains_in_one_bucket_keep_to_their_own_anchors(anchored: World, tmp_path: Path):
    """A machine's own SQLite chain beside the office's: each checked against its own."""
    other = {**anchored.env("operator"), "SOHOA_HOME": str(tmp_path / "other")}
    other.pop("SOHOA_DATABASE_URL", None)
    open_audit(load_config(env=other)).append("an", "search")
    result = sohoa(other, "--json", "audit", "verify")
    assert result.returncode == 0, result.stderr
    (check,) = json_lines(result.stdout)
    assert check["anchors"] == 1 and check["checked"] == 1
    assert anchored.verify().returncode == 0


# ------------------------------------------------------------- appending and anchoring


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_appends_anchor_at_most_once_per_interval_after_the_commit(world: World):
    store = open_anchor_store(world.cfg("web"))
    assert store is not None
    clock = Clock()
    anchorer = Anchorer(store, 300.0, role="web", identity="test", clock=clock)
    log = world.acc.audit()
    log.anchorer = anchorer
    rows = [log.append("lan", "search", details={"i": i}) for i in range(5)]
    assert len(world.anchors()) == 1 and anchorer.last_key
    anchor = parse_anchor_key(anchorer.last_key, store.chain)
    assert anchor and (anchor.last_id, anchor.hash, anchor.high_water) == (1, rows[0].hash, 1)
    clock.t += 299
    log.append("lan", "search")
    assert len(world.anchors()) == 1
    clock.t += 1
    row = log.append("lan", "search")
    assert len(world.anchors()) == 2
    latest = parse_anchor_key(anchorer.last_key, store.chain)
    assert latest and (latest.last_id, latest.hash) == (row.id, row.hash)
    body = json.loads(world.root.get_object(world.buckets.archive, anchorer.last_key).read())
    assert body["last_id"] == row.id and body["hash"] == row.hash and body["host"]
    assert body["role"] == "web" and body["high_water"] == row.id


def test_the_anchor_is_written_after_the_commit_with_the_chain_unlocked(world: World):
    """While an appender writes its anchor, another appender gets the chain's lock at once
    (inside the transaction it would wait for a lock its own thread holds)."""
    import threading

    store = open_anchor_store(world.cfg("web"))
    assert store is not None
    other: dict[str, object] = {}

    class Probing:
        def write(self, head: Head, **kw):
            def append() -> None:
                other["row"] = world.acc.audit().append("probe", "search")

            t = threading.Thread(target=append, daemon=True)
            t.start()
            t.join(120)  # a guard against a hang, not a measurement
            assert "row" in other, "the chain was still locked while the anchor was written"
            return store.write(head, **kw)

    log = world.acc.audit()
    log.anchorer = Anchorer(Probing(), 300.0, role="web", identity="t")  # type: ignore[arg-type]
    row = log.append("lan", "search")
    assert log.anchorer.last_key and other["row"].id == row.id + 1  # type: ignore[attr-defined]
    anchor = parse_anchor_key(log.anchorer.last_key, store.chain)
    assert anchor and anchor.last_id == row.id


def test_an_append_never_fails_while_minio_is_away_and_the_next_one_anchors(
    request, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    server = new_server(tmp_path / "own-minio")
    server.start()
    acc = make_access("sqlite", tmp_path, request, path=tmp_path / "home" / "ledger.sqlite3")
    try:
        world = _world(_setup(server), acc, tmp_path)
        store = open_anchor_store(world.cfg("worker"))
        assert store is not None
        clock = Clock()
        anchorer = Anchorer(store, 300.0, role="worker", identity="test", clock=clock)
        log = acc.audit()
        log.anchorer = anchorer
        server.stop()
        with caplog.at_level(logging.WARNING, logger="pipeline.access.anchoring"):
            assert log.append("lan", "search").id == 1  # MinIO away: the row is in all the same
            assert log.append("lan", "search").id == 2  # (and this one did not even try)
        assert anchorer.last_key is None and "not written" in caplog.text
        server.start()
        clock.t += 10
        row = log.append("lan", "search")
        assert anchorer.last_key and world.anchors() == [anchorer.last_key]
        anchor = parse_anchor_key(anchorer.last_key, store.chain)
        assert anchor and (anchor.last_id, anchor.hash) == (row.id, row.hash) == (3, row.hash)
    finally:
        server.stop()
        acc.close()


# ------------------------------------------------------------- the grants, on real keys


SOME_HEAD = Head(3, "a" * 64, 3)


def _anchor_as(world: World, role: str) -> str:
    store = open_anchor_store(world.cfg(role))
    assert store is not None
    return store.write(SOME_HEAD, host="test", role=role, identity="test")


def _denied(fn) -> None:
    with pytest.raises(S3Error) as info:
        fn()
    assert info.value.code in ("AccessDenied", "InvalidRequest"), info.value.code


def test_the_appending_roles_may_put_anchors_and_nothing_else_new(world: World):
    for role in ("worker", "web", "operator"):
        key = _anchor_as(world, role)
        stat = world.root.stat_object(world.buckets.archive, key)
        assert stat.metadata.get("x-amz-object-lock-mode") == "GOVERNANCE"
        assert stat.metadata.get("x-amz-object-lock-retain-until-date")
    with pytest.raises(NotAllowed):
        _anchor_as(world, "station")
    for role in ("web", "operator"):
        client = world.client(role)
        for key in (f"{CODE}/{CODE}.1.pdf", "audit/other.json", "audit/anchorsx/a.json"):
            _denied(lambda c=client, k=key: c._put_object(world.buckets.archive, k, b"{}", {}))


def test_no_role_can_remove_an_anchor_or_shorten_its_lock(world: World):
    from datetime import UTC, datetime, timedelta

    key = _anchor_as(world, "web")
    version = world.root.stat_object(world.buckets.archive, key).version_id
    for role in ("station", "worker", "web", "operator"):
        c = world.client(role)
        _denied(lambda c=c: c.remove_object(world.buckets.archive, key))
        _denied(lambda c=c: c.remove_object(world.buckets.archive, key, version_id=version))
        errors = list(
            c.remove_objects(
                world.buckets.archive, [DeleteObject(key, version)], bypass_governance_mode=True
            )
        )
        assert [e.code for e in errors] == ["AccessDenied"], role
        soon = Retention("GOVERNANCE", datetime.now(UTC) + timedelta(days=1))
        with pytest.raises(S3Error):
            c.set_object_retention(world.buckets.archive, key, soon, version_id=version)
    assert world.anchors() == [key]
    retention = world.root.get_object_retention(world.buckets.archive, key, version_id=version)
    assert retention and retention.retain_until_date > datetime.now(UTC) + timedelta(days=300)


def test_an_anchor_put_over_is_noticed_and_changes_nothing_verified(anchored: World):
    """A role that may put anchors may put a second version over one (S3 has no "create
    only" permission). sohoa never does (If-None-Match: *); verification reads the key,
    which no role can change, and reports the extra version."""
    keys = anchored.anchors()
    target = max(keys, key=lambda k: parse_anchor_key(k, k.split("/")[2]).last_id)
    original = anchored.root.stat_object(anchored.buckets.archive, target).version_id
    web = anchored.client("web")
    with pytest.raises(S3Error) as info:  # sohoa's own conditional put cannot overwrite
        web._put_object(anchored.buckets.archive, target, b"{}", {"If-None-Match": "*"})
    assert info.value.code == "PreconditionFailed"
    web._put_object(anchored.buckets.archive, target, b'{"last_id": 999}', {})
    kept = anchored.root.get_object(anchored.buckets.archive, target, version_id=original)
    assert json.loads(kept.read())["last_id"] == 5  # the first version stays, locked
    with anchored.acc.raw() as raw:
        _disarm(raw)
        raw.execute("DELETE FROM audit_log WHERE id = 5")
        _set_counter(raw, 4)
    result = anchored.verify()
    assert result.returncode == 1 and f"anchor {target} has more than one version" in result.stderr


def test_every_anchor_is_read_from_one_listing(world: World):
    """Verification lists the chain's folder once and reads no anchor's body: many anchors
    cost one listing (the bench measures the time)."""
    store = open_anchor_store(world.cfg("operator"))
    assert store is not None
    log = world.acc.audit()
    rows = [log.append("lan", "search", details={"i": i}) for i in range(30)]
    for row in rows:
        store.write(Head(row.id, row.hash, row.id), host="t", role="operator", identity="t")
    calls = {"list": 0, "get": 0}
    client = store.client
    real_list, real_get = client.list_objects, client.get_object

    def counting_list(*a, **k):
        calls["list"] += 1
        return real_list(*a, **k)

    def counting_get(*a, **k):
        calls["get"] += 1
        return real_get(*a, **k)

    client.list_objects, client.get_object = counting_list, counting_get  # type: ignore[method-assign]
    index = store.index()
    assert index.count == 30 and index.versions_seen and calls == {"list": 1, "get": 0}
    check = log.verify(anchors=index)
    assert check.ok and check.anchors == 30


def test_an_anchor_store_without_list_rights_is_an_error_not_a_pass(world: World):
    store = open_anchor_store(world.cfg("station"))
    assert store is not None
    with pytest.raises(NotAllowed):
        store.index()
    result = world.verify("station")
    assert result.returncode == 5


def test_the_anchor_key_round_trips():
    from datetime import UTC, datetime

    from pipeline.access.anchors import anchor_key

    head = Head(123, "b" * 64, 125)
    key = anchor_key("0123456789abcdef", head, datetime(2026, 12, 7, 8, 30, tzinfo=UTC), "00ff00ff")
    assert key.startswith(f"{ANCHOR_PREFIX}0123456789abcdef/20261207T083000.000000Z-123-125-")
    anchor = parse_anchor_key(key, "0123456789abcdef")
    assert anchor and (anchor.last_id, anchor.hash, anchor.high_water) == (123, "b" * 64, 125)
    assert parse_anchor_key(key, "fedcba9876543210") is None
    assert parse_anchor_key(key.replace(".json", ".txt"), "0123456789abcdef") is None
