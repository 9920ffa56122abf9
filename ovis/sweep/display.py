"""The manager's live progress: a tqdm bar on a terminal, silence otherwise.

The bar counts finished jobs (success, failed or aborted) out of all jobs in
the queue, with the running and failed counts after it; tqdm derives the rate
and the ETA from the jobs finished since the manager started. When the output
is not a terminal (a log file, CI), nothing is printed until
:func:`summary_line` at the end.
"""
from __future__ import annotations

import sys
import time
from typing import Mapping, Optional, TextIO

from tqdm import tqdm

__all__ = ["Progress", "summary_line", "finished"]


def finished(counts: Mapping[str, int]) -> int:
    return counts.get("success", 0) + counts.get("failed", 0) + counts.get("aborted", 0)


def summary_line(exp: str, counts: Mapping[str, int]) -> str:
    """``mini: 6 jobs | 5 success | 1 failed | 0 aborted | 0 running | 0 queued``."""
    total = sum(counts.values())
    parts = [f"{counts.get(s, 0)} {s}" for s in ("success", "failed", "aborted", "running", "queued")]
    return f"{exp}: {total} jobs | " + " | ".join(parts)


class Progress:
    """Progress of a queue, fed with state counts (see :func:`ovis.sweep.queue.count_states`).

    Arguments:
        exp: the experiment name (bar label).
        counts: the counts when the manager starts (the ETA uses only later progress).
        enabled: show the bar; default: only when ``stream`` is a terminal.
        stream: where to draw (default stderr).
        log_every: without a bar (a log file, a cluster job), print one progress line
            (:func:`summary_line` and the time elapsed) to ``log_stream`` at most every this many
            seconds (0: never).
        log_stream: where the progress lines go (default stdout).
    """

    def __init__(self, exp: str, counts: Mapping[str, int], enabled: Optional[bool] = None,
                 stream: Optional[TextIO] = None, log_every: float = 60.0, log_stream: Optional[TextIO] = None):
        stream = stream or sys.stderr
        self.exp = exp
        self.enabled = stream.isatty() if enabled is None else enabled
        self.log_every = float(log_every)
        self.log_stream = log_stream
        self._start = self._last_log = time.monotonic()
        self.bar = tqdm(total=sum(counts.values()), initial=finished(counts), desc=exp, unit="job",
                        file=stream, disable=not self.enabled, dynamic_ncols=True, smoothing=0.1)
        self._postfix(counts)

    def _postfix(self, counts: Mapping[str, int]) -> None:
        self.bar.set_postfix_str(f"running {counts.get('running', 0)}, failed {counts.get('failed', 0)}, "
                                 f"aborted {counts.get('aborted', 0)}", refresh=False)

    def due(self) -> bool:
        """Whether :meth:`update` would show something now (a bar always; a line when one is due)."""
        return self.enabled or (self.log_every > 0 and time.monotonic() - self._last_log >= self.log_every)

    def update(self, counts: Mapping[str, int]) -> None:
        if not self.enabled:
            if self.due():
                self._last_log = time.monotonic()
                elapsed = int(self._last_log - self._start)
                print(f"{summary_line(self.exp, counts)} | {elapsed // 3600}:{elapsed // 60 % 60:02d}:"
                      f"{elapsed % 60:02d} elapsed", file=self.log_stream or sys.stdout, flush=True)
            return
        total = sum(counts.values())
        if total != self.bar.total:
            self.bar.total = total
        self._postfix(counts)
        delta = finished(counts) - self.bar.n
        if delta > 0:
            self.bar.update(delta)
        else:
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
