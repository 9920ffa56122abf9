"""The manager's live progress: a tqdm bar on a terminal, silence otherwise.

The bar counts finished jobs (success, failed or aborted) out of all jobs in
the queue, with the running and failed counts after it; tqdm derives the rate
and the ETA from the jobs finished since the manager started. When the output
is not a terminal (a log file, CI), nothing is printed until
:func:`summary_line` at the end.
"""
from __future__ import annotations

import sys
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
    """

    def __init__(self, exp: str, counts: Mapping[str, int], enabled: Optional[bool] = None,
                 stream: Optional[TextIO] = None):
        stream = stream or sys.stderr
        self.enabled = stream.isatty() if enabled is None else enabled
        self.bar = tqdm(total=sum(counts.values()), initial=finished(counts), desc=exp, unit="job",
                        file=stream, disable=not self.enabled, dynamic_ncols=True, smoothing=0.1)
        self._postfix(counts)

    def _postfix(self, counts: Mapping[str, int]) -> None:
        self.bar.set_postfix_str(f"running {counts.get('running', 0)}, failed {counts.get('failed', 0)}, "
                                 f"aborted {counts.get('aborted', 0)}", refresh=False)

    def update(self, counts: Mapping[str, int]) -> None:
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
