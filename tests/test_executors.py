"""Executors keep their contract: dead workers retried, then given up; fair; prompt to stop.

The page function is replaced by small fakes (module-level, so the forked pool
workers run them): what is tested is the scheduling, not the OCR.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import Interrupted, PageWorkerLost, RejectedInput
from pipeline.model import PageJob, PageOptions, PageResult, SourceRef
from workers.executors.inline import InlineExecutor
from workers.executors.local import LocalExecutor


def _job(doc: str, index: int, work_key: str = "w") -> PageJob:
    cfg = load_config(env={})
    ref = SourceRef("sha256/" + "0" * 64, "0" * 64, 1, "image/png")
    return PageJob(doc, ref, index, PageOptions.from_config(cfg), work_key=work_key)


def _result(job: PageJob) -> PageResult:
    return PageResult(
        index=job.index,
        pdf_key=f"{job.document_id}/{job.index}",
        text=f"{job.document_id}:{job.index}",
        words=1,
        mean_confidence=90.0,
        dpi=300.0,
        dpi_source="file",
        colour="gray",
        width_px=10,
        height_px=10,
        rotation=0,
        skew_angle=0.0,
        blank=False,
        codes=(),
        seconds=0.0,
    )


def fake_die_on_page_two(job: PageJob, runtime: object) -> PageResult:
    if job.index == 1:
        os._exit(3)  # as the OOM killer would: no exception, the process is gone
    return _result(job)


def fake_die_once(job: PageJob, runtime: object) -> PageResult:
    marker = Path(job.work_key)
    if not marker.exists():
        marker.write_text("died once")
        os._exit(3)
    return _result(job)


def fake_slow(job: PageJob, runtime: object) -> PageResult:
    time.sleep(0.3)
    return _result(job)


def fake_reject(job: PageJob, runtime: object) -> PageResult:
    raise RejectedInput(f"page {job.index + 1} cannot be decoded")


@pytest.fixture
def executor(request: pytest.FixtureRequest):
    cfg = load_config(env={}, overrides={"run": {"max_worker_deaths": 2}})
    # This process ran OpenCV in other tests: its native threads rule out a plain fork.
    ex = LocalExecutor(cfg, workers=2, task=request.param, start_method="forkserver")
    yield ex
    ex.close(cancel=True)


@pytest.mark.parametrize("executor", [fake_die_on_page_two], indirect=True)
def test_a_page_that_keeps_killing_its_worker_fails_the_document(executor) -> None:
    got: list[int] = []
    with pytest.raises(PageWorkerLost, match="page 2: its worker process died 2 times"):
        for result in executor.run([_job("d", i) for i in range(4)]):
            got.append(result.index)
    assert 1 not in got
    # The pool was rebuilt: the executor still serves the next document.
    assert [r.index for r in executor.run([_job("e", 0)])] == [0]


@pytest.mark.parametrize("executor", [fake_die_once], indirect=True)
def test_a_worker_that_dies_once_costs_a_retry_not_the_document(executor, tmp_path) -> None:
    marker = tmp_path / "marker"
    results = list(executor.run([_job("d", 0, str(marker))]))
    assert [r.index for r in results] == [0] and marker.exists()


@pytest.mark.parametrize("executor", [fake_reject], indirect=True)
def test_an_error_of_the_page_itself_comes_back_unchanged(executor) -> None:
    with pytest.raises(RejectedInput, match="page 1 cannot be decoded"):
        list(executor.run([_job("d", 0)]))


@pytest.mark.parametrize("executor", [fake_slow], indirect=True)
def test_documents_share_the_pool_fairly(executor) -> None:
    """A one-page document dropped beside a long one is done within a page's time."""
    order: list[str] = []
    lock = threading.Lock()

    def consume(doc: str, n: int) -> None:
        for result in executor.run([_job(doc, i) for i in range(n)]):
            with lock:
                order.append(result.text)

    long = threading.Thread(target=consume, args=("long", 16))
    long.start()
    deadline = time.monotonic() + 60
    while len(order) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the pool is up and the long document holds both workers
    done_before = len(order)
    consume("short", 1)
    long.join()
    waited = order.index("short:0") - done_before
    # Only pages already handed out (workers + 1) may finish first; FIFO would
    # make the short page wait behind the rest of the long document (14 pages).
    assert done_before >= 2 and waited <= 4, order


@pytest.mark.parametrize("executor", [fake_slow], indirect=True)
def test_close_with_cancel_stops_a_long_document_within_seconds(executor) -> None:
    seen: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for result in executor.run([_job("long", i) for i in range(100)]):
                seen.append(result.index)
        except Interrupted as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    while not seen:
        time.sleep(0.05)
    executor.close(cancel=True)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the document's thread was left waiting"
    assert errors and isinstance(errors[0], Interrupted)
    assert len(seen) < 100
    with pytest.raises(Interrupted):
        next(iter(executor.run([_job("late", 0)])))


def test_inline_executor_stops_between_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.executors.inline as inline

    monkeypatch.setattr(inline, "run_page_job", lambda job, rt: _result(job))
    ex = InlineExecutor(load_config(env={}))
    stream = ex.run([_job("d", i) for i in range(3)])
    assert next(stream).index == 0
    ex.close(cancel=True)
    with pytest.raises(Interrupted):
        next(stream)
