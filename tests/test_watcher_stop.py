"""Stopping promptly (issue 9, the watcher side of SIGTERM): nothing new is started, nothing lost.

A service manager sends SIGTERM and waits a few seconds before SIGKILL. The watcher
must stop taking files at once (``--once`` included), let what is in flight settle
or hand it back, and exit; whatever it did not take stays in the inbox.
"""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage import objects as store
from pipeline.storage.ledger import SqliteLedger, states
from tests.support.watch import CODE, Watch, page_bytes, quick_env

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_sigterm_stops_a_once_watcher_with_the_rest_still_in_the_inbox(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    env = quick_env(sohoa_env, tmp_path, stable_seconds=0.5)
    station = Path(env["SOHOA_INBOX"]) / "motcua-01"
    station.mkdir(parents=True)
    dropped: dict[str, bytes] = {}
    for i in range(200):
        data = page_bytes(i)
        (station / f"{CODE}__{i:03d}.png").write_bytes(data)
        dropped[hashlib.sha256(data).hexdigest()] = data
    with Watch(env, "--once") as watch:
        watch.wait_for(lambda: "took " in watch.stderr, 60, "the first file to be taken")
        watch.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = watch.wait(30)
        took = time.monotonic() - sent
    assert took < 5, f"exited {took:.1f} s after SIGTERM\n{watch.stderr}"
    assert code == 0, watch.stderr

    left = {hashlib.sha256(p.read_bytes()).hexdigest() for p in station.iterdir()}
    cfg = load_config(env=env)
    docs = SqliteLedger(cfg.ledger_path).find_documents()
    assert len(left) >= 150, f"{len(left)} files left, {len(docs)} taken"
    st = store.connect(cfg)
    taken = {d.sha256 for d in docs}
    assert left | taken == set(dropped) and not left & taken
    for doc in docs:  # taken ones are in custody: a verified raw copy, settled or resumable
        assert st.get_bytes(st.raw_bucket, doc.raw_key or "-") == dropped[doc.sha256]
        assert doc.state in (states.INDEXED, states.STORED_RAW), doc

    # The next run finishes the job: the handed-back documents and the files left.
    with Watch(env, "--once") as again:
        assert again.wait(600) == 0, again.stderr
    docs = SqliteLedger(cfg.ledger_path).find_documents()
    assert len(docs) == 200 and {d.state for d in docs} == {states.INDEXED}
    assert not list(station.iterdir())


def test_sigterm_stops_an_idle_watcher_at_once(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    """Idle between rescans (30 s apart), the watcher must not sleep through the signal."""
    env = quick_env(sohoa_env, tmp_path, rescan_seconds=30)
    with Watch(env) as watch:
        watch.wait_for(lambda: "watching" in watch.stderr, 60, "the watcher to start")
        time.sleep(2)
        watch.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = watch.wait(60)
        took = time.monotonic() - sent
    assert code == 0 and took < 3, f"exited {took:.1f} s after SIGTERM, code {code}"
