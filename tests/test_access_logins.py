"""Logins under concurrency: a burst of guesses sent at once checks at most the limit.

The attack: 25 wrong passwords and then the right one, all sent at once from a fresh
address. Checking the lock, verifying with Argon2 and counting the failure used to be
three steps, so every guess of the burst passed the check before any failure was
counted: all 25 were verified and the right one logged in. Now an attempt is reserved
in the same transaction that checks the lock, before Argon2 runs. Real threads against
the real stores (SQLite and PostgreSQL), and through the web login route.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pipeline.access.users import AuthResult, LoginPolicy, SqlUserStore
from tests.support.access import AccessDB, make_access
from tests.support.backends import BACKENDS

PW = "đúng-mật-khẩu-1"
LIMIT = 5
GUESSES = 25
POLICY = LoginPolicy(max_failures=LIMIT, max_failures_per_client=30, lockout_seconds=900)


class GateHasher(PasswordHasher):
    """A cheap Argon2 that counts verifications and can hold wrong guesses at a gate, so a
    test decides what is in flight when the next attempt arrives (no sleeps, no timing)."""

    def __init__(self, hold_wrong: bool) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.hold_wrong = hold_wrong
        self.gate = threading.Event()
        self.changed = threading.Condition()
        self.verified: list[str] = []

    def verify(self, hash, password):  # type: ignore[override]
        with self.changed:
            self.verified.append(password)
            self.changed.notify_all()
        if self.hold_wrong and password != PW:
            assert self.gate.wait(300), "the test never opened the gate"
        return super().verify(hash, password)


@pytest.fixture(params=BACKENDS)
def acc(request, tmp_path: Path) -> Iterator[AccessDB]:
    db = make_access(request.param, tmp_path, request)
    yield db
    db.close()


def _burst(
    n: int, attempt: Callable[[int], AuthResult], on_done: Callable[[], None] = lambda: None
) -> tuple[list[threading.Thread], dict[int, AuthResult]]:
    """``n`` threads released together by a barrier; results by thread number."""
    results: dict[int, AuthResult] = {}
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        results[i] = attempt(i)
        on_done()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def test_a_burst_checks_at_most_the_limit_and_the_right_password_after_it_is_refused(
    acc: AccessDB,
):
    hasher = GateHasher(hold_wrong=True)
    users = acc.users(POLICY, hasher)
    users.add("lan", "records", PW)
    hasher.verified.clear()
    finished = [0]

    def done() -> None:
        with hasher.changed:
            finished[0] += 1
            hasher.changed.notify_all()

    threads, results = _burst(
        GUESSES, lambda i: users.authenticate("lan", f"guess-number-{i}", "198.51.100.7"), done
    )
    # Every wrong guess is either verifying (held at the gate) or already answered.
    with hasher.changed:
        settled = hasher.changed.wait_for(
            lambda: len(hasher.verified) + finished[0] >= GUESSES, timeout=300
        )
    assert settled
    right = users.authenticate("lan", PW, "198.51.100.7")  # the right one, within the burst
    hasher.gate.set()
    for t in threads:
        t.join(300)
    assert len(results) == GUESSES
    assert len(hasher.verified) == LIMIT  # was 26: every guess, and the right password
    assert PW not in hasher.verified
    assert not right.ok and right.locked and right.retry_after > 0 and not right.checked
    refused = [r for r in results.values() if not r.checked]
    assert len(refused) == GUESSES - LIMIT and all(r.locked and not r.ok for r in refused)
    # The count says how many were tried, refused ones included (was: nothing at all).
    assert sorted([r.tried for r in results.values()] + [right.tried]) == list(
        range(1, GUESSES + 2)
    )
    assert users.lockout_remaining("lan", None) > 0


@pytest.mark.parametrize("run", range(5))
def test_a_burst_sent_at_once_verifies_at_most_the_limit(acc: AccessDB, run: int):
    """26 guesses released together from a fresh address, real (cheap) Argon2 throughout:
    the old code verified all 26, five runs out of five."""
    hasher = GateHasher(hold_wrong=False)
    users = acc.users(POLICY, hasher)
    users.add("lan", "records", PW)
    hasher.verified.clear()
    client = f"203.0.113.{run + 10}"
    n = GUESSES + 1
    threads, results = _burst(n, lambda i: users.authenticate("lan", f"guess-number-{i}", client))
    for t in threads:
        t.join(300)
    assert len(results) == n and not any(r.ok for r in results.values())
    assert len(hasher.verified) == LIMIT
    assert sum(r.checked for r in results.values()) == LIMIT
    assert all(r.locked for r in results.values() if not r.checked)
    assert sorted(r.tried for r in results.values()) == list(range(1, n + 1))


def test_a_success_releases_its_reservation_on_the_address(acc: AccessDB):
    """Staff behind one NAT address: good logins never use up the address's allowance."""
    users = acc.users(LoginPolicy(max_failures=3, max_failures_per_client=3), GateHasher(False))
    users.add("lan", "records", PW)
    for _ in range(10):
        assert users.authenticate("lan", PW, "10.0.0.1").ok
    users.authenticate("lan", "guess-number-1", "10.0.0.1")
    users.authenticate("lan", "guess-number-2", "10.0.0.1")
    assert users.authenticate("lan", PW, "10.0.0.1").ok


# ------------------------------------------------------------------- the web login route


def _web(acc: AccessDB, hasher: PasswordHasher):
    from workers.web.auth import AuthSettings, WebAuth

    users: SqlUserStore = acc.users(POLICY, hasher)
    users.add("lan", "records", PW)
    auth = WebAuth(users, acc.sessions(), AuthSettings(b"k" * 48), acc.audit())
    app = Starlette(routes=auth.routes(), middleware=[auth.middleware()])
    return auth, app


def _login_form(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and match
    return match.group(1)


def test_a_burst_through_the_login_page_is_audited_with_how_many_were_tried(acc: AccessDB):
    hasher = GateHasher(hold_wrong=False)
    auth, app = _web(acc, hasher)
    hasher.verified.clear()
    guesses = [f"guess-number-{i}" for i in range(GUESSES)]
    browsers = [TestClient(app, follow_redirects=False) for _ in guesses]
    nonces = [_login_form(b) for b in browsers]
    statuses: dict[int, int] = {}

    def post(i: int) -> AuthResult:
        r = browsers[i].post(
            "/login", data={"username": "lan", "password": guesses[i], "csrf_token": nonces[i]}
        )
        statuses[i] = r.status_code
        return AuthResult(None)

    threads, _ = _burst(len(guesses), post)
    for t in threads:
        t.join(300)
    right = TestClient(app, follow_redirects=False)
    refused = right.post(
        "/login", data={"username": "lan", "password": PW, "csrf_token": _login_form(right)}
    )
    for b in [*browsers, right]:
        b.close()
    assert refused.status_code == 429 and len(hasher.verified) == LIMIT
    # Guesses answered before the fifth was reserved are plain failures; every other is 429.
    assert len(statuses) == GUESSES and set(statuses.values()) <= {401, 429}
    assert list(statuses.values()).count(401) <= LIMIT - 1
    rows = auth.audit.query(user="lan")  # type: ignore[union-attr]
    assert len(rows) == GUESSES + 1
    assert sorted(r.details["tried"] for r in rows) == list(range(1, GUESSES + 2))
    assert sum(r.details["checked"] for r in rows) == LIMIT
    assert all(r.action == "login_locked" for r in rows if not r.details["checked"])
