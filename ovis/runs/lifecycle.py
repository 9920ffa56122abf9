"""The life of a run: create or resume its directory, mark it running, succeeded or failed, summarise it.

Any loop that trains or fits something step by step uses the same life (the training loop of
``run.py`` does; a loop without an estimator or a backward pass, such as GMMVI's, does too)::

    run = Run(path, config)                 # <root>/<exp>/<id>
    if not run.begin():                     # config.json written, status 'running'
        return 0                            # (False: it already finished, nothing to do)
    with terminate_on_sigterm():            # SIGTERM raises Terminated
        try:
            state = run.resume()            # checkpoint.pt or None; metrics cut to its step
            ...                             # build from config, load state if any
            for step in ...:
                run.log(step, "train", {"loss": {"L_k": ...}})     # metrics.jsonl + TensorBoard
                run.save({"step": step, ...}, step)                # checkpoint.pt, status 'running'
            run.succeed(f"finished {step} steps", step)
        except BaseException as err:
            message, code = failure(err, step)
            run.fail(message, step)         # status 'failed' with the reason
            return code
        finally:
            run.close()

A checkpoint is a dict with an integer ``"step"``: on resume, the metrics logged after it (by
an attempt killed before its next checkpoint) are dropped and TensorBoard hides them.

Example:
    >>> import tempfile
    >>> from ovis.runs import Run, RunConflict
    >>> root = tempfile.mkdtemp()
    >>> run = Run(root + "/exp/fit-1", {"lr": 0.1, "steps": 2})
    >>> run.begin(), run.resume()                  # a new run: no checkpoint
    (True, None)
    >>> for step in (1, 2):
    ...     _ = run.log(step, "train", {"loss": {"L_k": -10.0 / step}})
    ...     run.save({"step": step, "x": step * 0.1}, step)
    >>> run.succeed("finished 2 steps", 2); run.close()
    >>> print(run.summary())                      # doctest: +ELLIPSIS
    train L_K: -10.000 nats at step 1 -> -5.000 nats at step 2 (2 evaluations); run directory: .../exp/fit-1
    >>> Run(root + "/exp/fit-1", {"lr": 0.1, "steps": 2}).begin()   # finished: nothing to do
    False
    >>> Run(root + "/exp/fit-1", {"lr": 0.2, "steps": 2}).begin()
    Traceback (most recent call last):
        ...
    ovis.runs.lifecycle.RunConflict: run directory .../exp/fit-1 holds a run with other settings (lr: 0.1 -> 0.2); use another id or experiment, or remove the directory
    >>> failure(ValueError("bad value"), step=3)
    ('ValueError at step 3: bad value', 1)
"""
from __future__ import annotations

import contextlib
import signal
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from .checkpoint import load_checkpoint, save_checkpoint
from .directory import RunDirectory

__all__ = ["Run", "RunConflict", "Terminated", "terminate_on_sigterm", "failure", "config_differences",
           "summary"]

#: ``differences(previous_config, config) -> ['name: old -> new', ...]``
Differences = Callable[[Mapping[str, Any], Mapping[str, Any]], List[str]]


class RunConflict(RuntimeError):
    """The run directory holds a run with other settings.

    Attributes:
        path: the run directory.
        differences: what differs, ``['key: old -> new', ...]``.
    """

    def __init__(self, path: str, differences: List[str]) -> None:
        self.path, self.differences = path, list(differences)
        super().__init__(f"run directory {path} holds a run with other settings ({'; '.join(differences)}); "
                         f"use another id or experiment, or remove the directory")


class Terminated(BaseException):
    """Raised by the SIGTERM handler of :func:`terminate_on_sigterm` (a ``BaseException``, like
    :class:`KeyboardInterrupt`, so that ``except Exception`` in a loop does not swallow it)."""


def config_differences(previous: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """Keys whose values differ, as ``'key: old -> new'`` (a missing key reads as ``None``)."""
    keys = sorted(set(previous) | set(current))
    return [f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in keys if previous.get(k) != current.get(k)]


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (in the main thread; elsewhere the
    handler cannot be installed and SIGTERM keeps its effect). The previous handler is restored."""
    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def failure(err: BaseException, step: int, setting_up: bool = False) -> Tuple[str, int]:
    """The status message and exit code of a run stopped by ``err`` at ``step``.

    Returns:
        ``(message, code)``: 143 for :class:`Terminated` (SIGTERM), 130 for
        :class:`KeyboardInterrupt`, else 1; the message names the step (or ``while setting up``)
        and the error.
    """
    if isinstance(err, Terminated):
        return f"terminated by SIGTERM at step {step}", 143
    if isinstance(err, KeyboardInterrupt):
        return f"interrupted at step {step}", 130
    where = "while setting up" if setting_up else f"at step {step}"
    return f"{type(err).__name__} {where}: {err}", 1


def summary(directory: RunDirectory, metric: str = "loss/L_k") -> str:
    """One line: ``metric`` of the test (else valid, else train) split at the first and the last
    evaluation of a run, and the run directory."""
    points: Dict[str, list] = {}
    for record in directory.read_metrics():
        if record.get(metric) is not None:
            points.setdefault(record.get("split"), []).append((record["step"], record[metric]))
    name = metric.rpartition("/")[2].replace("L_k", "L_K")
    for split in ("test", "valid", "train"):
        if points.get(split):
            (s0, v0), (s1, v1) = points[split][0], points[split][-1]
            return (f"{split} {name}: {v0:.3f} nats at step {s0} -> {v1:.3f} nats at step {s1} "
                    f"({len(points[split])} evaluations); run directory: {directory.path}")
    return f"run directory: {directory.path}"


class Run:
    """One run's life in its directory (see the module's docstring).

    Arguments:
        path: the run directory (created).
        config: the run's configuration, written to ``config.json`` (JSON-serialisable).
        differences: how two configurations differ (default :func:`config_differences`); a
            non-empty answer when the directory already holds a config makes :meth:`begin`
            raise :class:`RunConflict`.
    """

    def __init__(self, path: str, config: Mapping[str, Any], differences: Optional[Differences] = None) -> None:
        self.directory = RunDirectory(path)
        self.config = dict(config)
        self.differences = differences or config_differences
        #: the last step known to the status (from ``status.json`` before :meth:`resume`)
        self.step = 0

    @property
    def path(self) -> str:
        return self.directory.path

    def begin(self) -> bool:
        """Check the directory, write ``config.json`` and mark the run ``running``.

        Returns:
            ``False`` if the run already finished (status ``success`` and a checkpoint): nothing
            is written then. ``True`` otherwise.

        Raises:
            RunConflict: the directory holds a run with another configuration.
        """
        previous = self.directory.read_config()
        if previous is not None:
            diffs = self.differences(previous, self.config)
            if diffs:
                raise RunConflict(self.path, diffs)
        status = self.directory.read_status() or {}
        self.step = int(status.get("step", 0) or 0)
        if status.get("status") == "success" and self.directory.has_checkpoint():
            return False
        self.directory.write_config(self.config)
        self.directory.set_status("running", "starting", self.step)
        return True

    def resume(self, map_location: Any = "cpu") -> Optional[Dict[str, Any]]:
        """The checkpoint to resume from, or ``None`` (a fresh start: old metrics, events and
        checkpoint are removed). Opens the TensorBoard writer either way."""
        state = load_checkpoint(self.directory.checkpoint_path, map_location=map_location)
        if state is None:
            self.directory.clear_outputs()
            self.directory.open_writer()
            return None
        self.step = int(state["step"])
        self.directory.truncate_metrics(self.step)
        self.directory.open_writer(purge_step=self.step + 1)
        return state

    def log(self, step: int, split: str, metrics: Mapping[str, Any]) -> Dict[str, Optional[float]]:
        """Append metrics (see :meth:`RunDirectory.log_metrics`)."""
        return self.directory.log_metrics(step, split, metrics)

    def save(self, state: Mapping[str, Any], step: int, message: Optional[str] = None) -> None:
        """Flush the metrics, write the checkpoint ``dict(state, step=step)``, then mark the run
        ``running`` at ``step`` (in that order: a run killed in between repeats the last
        evaluation on resume, and the repeated lines are dropped)."""
        self.directory.flush()
        save_checkpoint(self.directory.checkpoint_path, dict(state, step=int(step)))
        self.running(message or f"step {step}", step)

    def running(self, message: str, step: int) -> None:
        self.step = int(step)
        self.directory.set_status("running", message, step)

    def succeed(self, message: str, step: int) -> None:
        self.step = int(step)
        self.directory.set_status("success", message, step)

    def fail(self, message: str, step: int) -> None:
        self.step = int(step)
        self.directory.set_status("failed", message, step)

    def close(self) -> None:
        """Close the TensorBoard writer."""
        self.directory.close()

    def summary(self, metric: str = "loss/L_k") -> str:
        """See :func:`summary`."""
        return summary(self.directory, metric)
