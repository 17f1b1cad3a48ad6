"""A progress bar for passes over a dataset: bytes read, rows/s, MB/s and ETA."""

from __future__ import annotations

import time
from types import TracebackType

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from bigfit.cli import _console


class _Throughput(ProgressColumn):
    """Rows per second and megabytes per second since the pass began."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("")
        rows = task.fields.get("rows", 0) / elapsed
        megabytes = task.completed / elapsed / 1e6
        return Text(f"{rows / 1e6:.2f}M rows/s  {megabytes:.0f} MB/s", style="progress.data.speed")


class ScanProgress:
    """Context manager: ``advance(nbytes, rows)`` as each shard of a pass completes.

    Draws on stderr when it is a terminal and stays silent otherwise (pipes, CI, tests).
    """

    def __init__(self, description: str, total_bytes: int) -> None:
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"), _Throughput(), TimeRemainingColumn(),
            console=_console.stderr(), transient=True,
            disable=not _console.stderr().is_terminal)
        self._task = self._progress.add_task(description, total=max(total_bytes, 1), rows=0)
        self.rows = 0
        self.started = time.perf_counter()

    def advance(self, nbytes: int, rows: int) -> None:
        """Record a finished part of ``nbytes`` bytes and ``rows`` rows."""
        self.rows += rows
        self._progress.update(self._task, advance=nbytes, rows=self.rows)

    def __enter__(self) -> ScanProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._progress.stop()


class TrainingProgress:
    """A :class:`~bigfit.models.callbacks.Callback` drawing epochs: loss, rows/s, memory, ETA."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(),
            TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
            console=_console.stderr(), transient=True, disable=not _console.stderr().is_terminal)
        self._task = None
        self.lines: list[str] = []

    def on_fit_start(self, info: dict) -> None:
        self._progress.start()
        self._task = self._progress.add_task(
            f"{info['estimator']} ({info['solver']})", total=info["max_iter"], status="")

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        status = f"epoch {epoch}  train loss {logs['train_loss']:.5f}"
        if "validation_loss" in logs:
            status += f"  validation loss {logs['validation_loss']:.5f}"
        status += f"  {logs['rows_per_second'] / 1e6:.2f}M rows/s  {logs['peak_rss_mb']:.0f} MB"
        self.lines.append(status)
        self._progress.update(self._task, completed=epoch, status=status)

    def on_fit_end(self, logs: dict) -> None:
        self._progress.stop()
