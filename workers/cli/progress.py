"""Progress of long commands (reindex, ledger rebuild): a bar on a terminal, lines in a log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from workers.cli.output import Output

Progress = Callable[[int, int], None]


@contextmanager
def progress_for(out: Output, label: str) -> Iterator[Progress]:
    if out.err.isatty() and not out.json_mode:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(file=out.err)) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    last = [0.0]

    def lines(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] >= 2.0:
            last[0] = now
            out.info(f"{label}: {done}/{total}")

    yield lines
