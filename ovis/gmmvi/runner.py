"""A resumable GMMVI run: iterate, log metrics, checkpoint.

:class:`GMMVIRunner` drives :class:`~ovis.gmmvi.GMMVI` and writes through a
small *sink* interface (:class:`RunSink`): the configuration once, a metrics
dict per logged iteration, the full state as a checkpoint, and a status. The
local implementation :class:`LocalRunSink` writes a run directory through the
project's run layer (:class:`ovis.runs.RunDirectory`, the files of ``run.py``)::

    <run_dir>/config.json              the full configuration
    <run_dir>/metrics.jsonl            per logged iteration one line per split, {"step": 50, "split": "eval",
                                       "gmmvi/neg_elbo": ..., ...} (the run layer's format)
    <run_dir>/events.out.tfevents.*    TensorBoard scalars, tags "split:group/name" (eval:gmmvi/neg_elbo)
    <run_dir>/checkpoint.pt            torch.save of the full state (written atomically)
    <run_dir>/status.json              {"status": "running" | "success" | "failed", "message": ..., "step": ...}

The status follows the run layer's life: ``running`` while iterating (updated at
every checkpoint), ``success`` at the end, ``failed`` with the reason when an error,
SIGTERM or Ctrl-C stops the run (the exception is raised again).

Starting a runner on a directory that holds a checkpoint resumes from it
(model, sample DB, module states, random state, iteration, time).

Metric keys read ``split:group/name``: ``eval:gmmvi/elbo``, ``eval:gmmvi/neg_elbo``,
``eval:gmmvi/entropy``, ``eval:gmmvi/target_density``, ``eval:gmmvi/gap`` (``log Z - ELBO``
when ``log Z`` is known), ``eval:gmmvi/elbo_full_batch`` (mini-batch targets),
``train:gmmvi/num_components``, ``train:gmmvi/target_evaluations``,
``train:gmmvi/seconds_per_iteration`` (mean since the last log), ``train:gmmvi/algo_time``,
``train:gmmvi/max_weight``.

Example:
    >>> import tempfile
    >>> from ovis.gmmvi.configs import default_config, merge
    >>> cfg = merge(default_config("SAMTRON", "gmm20"), {"environment_config": {"num_dimensions": 2}})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     runner = GMMVIRunner(cfg, LocalRunSink(d), progress=False)
    ...     last = runner.run(num_iterations=3, log_every=3)
    >>> last["train:gmmvi/num_components"], last["train:gmmvi/target_evaluations"] >= 100
    (1, True)
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch

from ..runs import names
from ..runs.directory import RunDirectory
from ..runs.lifecycle import failure, terminate_on_sigterm
from ..runs.atomic import atomic_write as _atomic_write
from .configs import merge
from .gmmvi import GMMVI
from .targets import make_target

__all__ = ["RunSink", "LocalRunSink", "GMMVIRunner", "atomic_write"]


def atomic_write(path: Union[str, Path], write) -> None:
    """Write a file atomically (binary mode), through the project's one write-then-rename,
    :func:`ovis.runs.atomic.atomic_write`.

    Arguments:
        path: destination.
        write: ``write(file_object)`` (binary mode).
    """
    _atomic_write(str(path), write, binary=True)


class RunSink:
    """Where a run goes: the interface :class:`GMMVIRunner` writes through."""

    def write_config(self, config: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def log_metrics(self, iteration: int, metrics: Mapping[str, float]) -> None:
        raise NotImplementedError

    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def load_checkpoint(self) -> Optional[Dict[str, Any]]:
        """The last checkpoint, or ``None``."""
        raise NotImplementedError

    def write_status(self, status: str, message: str, step: int) -> None:
        """``status`` is one of ``running``, ``success``, ``failed`` (:data:`ovis.runs.names.STATUSES`)."""
        raise NotImplementedError

    def open(self, step: int) -> None:
        """Called before iterating from ``step`` (e.g. to open TensorBoard); default: nothing."""

    def close(self) -> None:
        """Called when the run stops; default: nothing."""


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.dtype):
        return str(value).replace("torch.", "")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class LocalRunSink(RunSink):
    """A run directory on the local disk (created if missing), written through :class:`ovis.runs.RunDirectory`.

    Arguments:
        run_dir: the directory.
    """

    def __init__(self, run_dir: Union[str, Path]):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.directory = RunDirectory(str(self.run_dir))

    def write_config(self, config):
        self.directory.write_config(_jsonable(dict(config)))

    def open(self, step):
        if self.directory._writer is None:
            self.directory.open_writer(purge_step=step + 1 if step > 0 else None)

    def close(self):
        self.directory.close()

    def log_metrics(self, iteration, metrics):
        splits: Dict[str, Dict[str, float]] = {}
        for key, value in metrics.items():
            split, name = key.split(":", 1) if ":" in key else ("train", key)
            splits.setdefault(split, {})[name] = value
        for split, values in splits.items():
            self.directory.log_metrics(int(iteration), split, values)

    def save_checkpoint(self, state):
        self.directory.flush()
        atomic_write(self.run_dir / names.CHECKPOINT, lambda f: torch.save(dict(state), f))

    def load_checkpoint(self):
        path = self.run_dir / names.CHECKPOINT
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=False)

    def write_status(self, status, message, step):
        self.directory.set_status(status, message, step)

    def read_metrics(self):
        """All logged metrics, one dict per logged iteration ``{"iteration": i, "split:group/name": value}``
        (lines of the run layer's format merged by step; lines of the earlier one-line-per-iteration
        format, ``{"iteration": i, ...}``, are read as they are)."""
        rows: Dict[int, Dict[str, Any]] = {}
        for r in self.directory.read_metrics():
            if "iteration" in r and "step" not in r:
                rows.setdefault(int(r["iteration"]), {"iteration": int(r["iteration"])}).update(r)
                continue
            row = rows.setdefault(int(r["step"]), {"iteration": int(r["step"])})
            row.update({f"{r['split']}:{k}": v for k, v in r.items() if k not in ("step", "split")})
        return [rows[i] for i in sorted(rows)]

    def truncate_metrics(self, iteration: int) -> None:
        """Drop metrics logged after ``iteration`` (written after the checkpoint a resumed run starts from)."""
        kept = [r for r in self.directory.read_metrics() if int(r.get("step", r.get("iteration", 0))) <= iteration]
        text = "".join(json.dumps(r) + "\n" for r in kept).encode()
        atomic_write(self.run_dir / names.METRICS, lambda f: f.write(text))


class GMMVIRunner:
    """Build GMMVI from a configuration and run it through a sink.

    Arguments:
        config: a full configuration (algorithm + ``environment_name``/``environment_config``).
        sink: where the run goes (e.g. :class:`LocalRunSink`).
        target: a target object or callable (default: built from ``environment_name``); with a callable,
            ``num_dimensions`` is needed.
        seed: the random seed (default: ``config["seed"]`` or ``config["start_seed"]``); it also seeds the
            random targets (GMM20, STM20), as in the framework.
        progress: show a tqdm progress bar.
        num_dimensions: for a plain callable target.
    """

    def __init__(self, config: Mapping[str, Any], sink: RunSink, target=None, seed: Optional[int] = None,
                 progress: bool = True, num_dimensions: Optional[int] = None):
        self.config = merge(config, {})
        self.seed = int(seed if seed is not None else self.config.get("seed", self.config.get("start_seed", 0)))
        self.config["seed"] = self.seed
        self.sink, self.progress = sink, progress
        torch.manual_seed(self.seed)
        if target is None:
            env = dict(self.config.get("environment_config") or {})
            env.setdefault("seed", self.seed)
            target = make_target(self.config["environment_name"], **env)
        self.target = target
        self.gmmvi = GMMVI.build_from_config(self.config, target, num_dimensions=num_dimensions)
        self.iteration = 0
        self.algo_time = 0.0
        state = sink.load_checkpoint()
        if state is not None:
            self.gmmvi.load_state_dict(state["gmmvi"])
            torch.set_rng_state(state["rng"])
            self.iteration, self.algo_time = int(state["iteration"]), float(state["algo_time"])
            if hasattr(sink, "truncate_metrics"):
                sink.truncate_metrics(self.iteration)
        else:
            sink.write_config(self.config)

    def state_dict(self) -> Dict[str, Any]:
        return {"gmmvi": self.gmmvi.state_dict(), "rng": torch.get_rng_state(), "iteration": self.iteration,
                "algo_time": self.algo_time}

    def evaluate(self, num_samples: int = 2000) -> Dict[str, float]:
        """The ``eval:`` metrics from ``num_samples`` fresh samples."""
        e = self.gmmvi.elbo(num_samples)
        out = {"eval:gmmvi/elbo": e["elbo"], "eval:gmmvi/neg_elbo": -e["elbo"], "eval:gmmvi/entropy": e["entropy"],
               "eval:gmmvi/target_density": e["target_density"]}
        log_z = getattr(self.target, "log_normalizer", None)
        if log_z is not None:
            out["eval:gmmvi/gap"] = float(log_z) - e["elbo"]
        if hasattr(self.target, "log_density_full_batch") and getattr(self.target, "batch_size", 0) > 0:
            with torch.no_grad():
                x, _ = self.gmmvi.model.sample(num_samples)
                fb = self.target.log_density_full_batch(x).mean() - self.gmmvi.model.log_density(x).mean()
            out["eval:gmmvi/elbo_full_batch"] = float(fb)
        return out

    def run(self, num_iterations: int, log_every: int = 0, checkpoint_every: int = 0, num_eval_samples: int = 2000,
            max_target_evaluations: Optional[int] = None) -> Dict[str, float]:
        """Iterate up to ``num_iterations`` in total (a resumed run continues); return the last metrics.

        Arguments:
            num_iterations: total iterations of the run.
            log_every: evaluation interval (default: ``gmmvi_runner_config.log_metrics_interval``, else 100);
                the last iteration is always logged.
            checkpoint_every: checkpoint interval (default: ``log_every``); a checkpoint is written at the end.
            num_eval_samples: samples of the ELBO estimate.
            max_target_evaluations: stop once this many target evaluations were made.
        """
        if log_every <= 0:
            log_every = int((self.config.get("gmmvi_runner_config") or {}).get("log_metrics_interval", 100))
        checkpoint_every = checkpoint_every if checkpoint_every > 0 else log_every
        if self.iteration >= num_iterations:        # nothing to do (e.g. a finished run started again)
            return {}
        self.sink.write_status("running", f"iteration {self.iteration}/{num_iterations}", self.iteration)
        self.sink.open(self.iteration)
        bar = None
        try:
            with terminate_on_sigterm():
                if self.progress:
                    from tqdm import tqdm
                    bar = tqdm(total=num_iterations, initial=self.iteration, desc="gmmvi", dynamic_ncols=True)
                last = self._iterate(num_iterations, log_every, checkpoint_every, num_eval_samples,
                                     max_target_evaluations, bar)
                self.sink.save_checkpoint(self.state_dict())
                self.sink.write_status("success", f"finished {self.iteration} iterations, "
                                       f"{self.gmmvi.num_target_evaluations} target evaluations", self.iteration)
        except BaseException as err:                 # failed, with the reason; raised again
            message, _ = failure(err, self.iteration)
            self.sink.write_status("failed", message, self.iteration)
            raise
        finally:
            if bar is not None:
                bar.close()
            self.sink.close()
        return last

    def _iterate(self, num_iterations: int, log_every: int, checkpoint_every: int, num_eval_samples: int,
                 max_target_evaluations: Optional[int], bar) -> Dict[str, float]:
        last: Dict[str, float] = {}
        window_time, window_iters = 0.0, 0
        while self.iteration < num_iterations:
            t0 = time.perf_counter()
            self.gmmvi.train_iter()
            dt = time.perf_counter() - t0
            self.iteration += 1
            self.algo_time += dt
            window_time, window_iters = window_time + dt, window_iters + 1
            done = self.iteration >= num_iterations or (
                max_target_evaluations is not None and self.gmmvi.num_target_evaluations >= max_target_evaluations)
            if self.iteration % log_every == 0 or done:
                q = self.gmmvi.model
                last = {"train:gmmvi/num_components": q.num_components,
                        "train:gmmvi/target_evaluations": self.gmmvi.num_target_evaluations,
                        "train:gmmvi/seconds_per_iteration": window_time / window_iters,
                        "train:gmmvi/algo_time": self.algo_time,
                        "train:gmmvi/max_weight": float(q.weights.max()), **self.evaluate(num_eval_samples)}
                window_time, window_iters = 0.0, 0
                self.sink.log_metrics(self.iteration, last)
                if bar is not None:
                    bar.set_postfix(neg_elbo=f"{last['eval:gmmvi/neg_elbo']:.3f}", K=q.num_components,
                                    fevals=self.gmmvi.num_target_evaluations)
            if self.iteration % checkpoint_every == 0 or done:
                self.sink.save_checkpoint(self.state_dict())
                self.sink.write_status("running", f"iteration {self.iteration}/{num_iterations}", self.iteration)
            if bar is not None:
                bar.update(1)
            if done:
                break
        return last
