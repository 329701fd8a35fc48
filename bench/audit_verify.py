"""`audit verify` on a long log: the chain walk, the anchor listing, and the two together.

Builds an audit log of N rows in a SQLite file (rows hashed and chained as sohoa
does, inserted in bulk), writes K anchors for it into a real MinIO (started here),
then times: the chain alone, one listing of the anchors, and the chain checked
against every anchor. Prints one table; nothing here is asserted.

    python -m bench.audit_verify                          # 1,000,000 rows, 10,000 anchors
    python -m bench.audit_verify --rows 20000 --anchors 200   # a check of the script
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from minio import Minio  # noqa: E402

from pipeline.access.anchors import AnchorStore, Head, chain_id  # noqa: E402
from pipeline.access.audit import GENESIS, SqliteAuditLog, row_hash  # noqa: E402
from pipeline.storage.roles import BucketNames, RetentionSpec, setup_storage  # noqa: E402
from tests.support.minio import new_server  # noqa: E402


def build_log(path: Path, rows: int) -> list[tuple[int, str]]:
    """N chained rows, as appends would have made them; each row's (id, hash)."""
    SqliteAuditLog(path).append("bench", "start")  # the schema, and row 1
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log")
    heads: list[tuple[int, str]] = []
    prev = GENESIS
    batch = []
    conn.execute("BEGIN")
    for i in range(1, rows + 1):
        at = f"2026-12-07T08:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1_000_000:06d}+00:00"
        details = json.dumps({"q": f"giấy phép {i}", "hits": i % 7}, ensure_ascii=False)
        digest = row_hash(i, at, "lan", "search", None, None, "10.0.0.5", details, prev)
        batch.append((i, at, "lan", "search", None, None, "10.0.0.5", details, prev, digest))
        heads.append((i, digest))
        prev = digest
        if len(batch) == 10_000:
            conn.executemany("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", (rows,))
    conn.execute("COMMIT")
    conn.close()
    return heads


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--anchors", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        base = Path(tmp)
        server = new_server(base / "minio")
        server.start()
        try:
            buckets = BucketNames("raw-bench", "archive-bench", "work-bench")
            setup_storage(
                server.endpoint,
                (server.access_key, server.secret_key),
                buckets,
                RetentionSpec(raw_years=1, archive_years=1),
                prefix="bench",
            )
            client = Minio(server.endpoint, server.access_key, server.secret_key, secure=False)
            store = AnchorStore(client, buckets.archive, chain_id("bench"), server.endpoint)
            heads, build = timed(lambda: build_log(base / "ledger.sqlite3", args.rows))
            step = max(1, args.rows // max(1, args.anchors))
            picked = heads[step - 1 :: step][: args.anchors]
            _, writing = timed(
                lambda: [
                    store.write(Head(i, h, i), host="bench", role=None, identity="bench")
                    for i, h in picked
                ]
            )
            log = SqliteAuditLog(base / "ledger.sqlite3")
            alone, t_alone = timed(log.verify)
            index, t_list = timed(store.index)
            both, t_both = timed(lambda: log.verify(anchors=store.index()))
            assert alone.ok and both.ok and both.anchors == len(picked), (alone, both)
        finally:
            server.stop()
    # bench.common needs psutil (bench/requirements.txt); this one runs with sohoa alone.
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"{args.rows} rows built in {build:.1f} s; {len(picked)} anchors written in {writing:.1f} s"
    )
    print(f"chain alone                {t_alone:7.2f} s")
    print(f"one listing of the anchors {t_list:7.2f} s ({index.count} anchors)")
    print(f"chain + every anchor       {t_both:7.2f} s ({both.anchors} anchors)")


if __name__ == "__main__":
    main()
