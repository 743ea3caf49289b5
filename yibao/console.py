"""Terminal output shared by every command: one rich console and a progress bar with the usual columns."""

from __future__ import annotations

import rich.progress as rp
from rich.console import Console

console = Console(stderr=True)


class Progress(rp.Progress):
    """A rich progress display with description, bar, count, elapsed and remaining time."""

    def __init__(self, **kwargs):
        kwargs.setdefault("console", console)
        super().__init__(rp.SpinnerColumn(), rp.TextColumn("{task.description}"), rp.BarColumn(),
                         rp.MofNCompleteColumn(), rp.TimeElapsedColumn(), rp.TimeRemainingColumn(), **kwargs)
