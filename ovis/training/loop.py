"""The training loop of ``run.py``: build, resume, train, evaluate, checkpoint, report the status.

:func:`run` owns a run directory, through :class:`ovis.runs.Run` (see :mod:`ovis.runs`). Its life::

    config.json written, status 'running'
    └─ build data, model, estimator, optimizer; load checkpoint.pt if there is one
        └─ steps: alpha = schedule(step); loss = estimator(model, x, alpha=alpha); backward; step
            └─ every --eval_freq epochs, every --eval_every steps and at the end: evaluate train/valid/test, gradient
               statistics, active units -> metrics.jsonl + TensorBoard; then checkpoint.pt
    status 'success' | 'failed' (with the step and the reason)

A non-finite loss or gradient stops the run with status ``failed``; the metrics and the last
checkpoint stay on disk. SIGTERM (e.g. from the sweep worker) stops it the same way.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..runs import Run, RunConflict, RunDirectory, Terminated, failure, save_checkpoint, set_rng_states
from ..runs import summary as run_summary
from ..runs import terminate_on_sigterm
from . import factory
from .arguments import config_from_args, identity_differences, run_id
from .data import EpochBatches, eval_indices, fetch, mix_seed
from .evaluation import evaluate_split, to_floats
from .preflight import ConfigError, check_run
from .schedules import alpha_schedule, lr_milestones

__all__ = ["run", "Trainer", "TrainingFailure", "run_directory"]

#: ``build_datasets(config) -> (train, valid, test)``
DatasetsBuilder = Callable[[Dict[str, Any]], Tuple[Dataset, Dataset, Dataset]]
#: ``build_model(config, input_shape, train) -> model``
ModelBuilder = Callable[[Dict[str, Any], Tuple[int, ...], Dataset], nn.Module]

_EVAL_TAGS = {"train": 1, "valid": 2, "test": 3, "grads": 4, "au": 5}


class TrainingFailure(RuntimeError):
    """The run cannot go on (non-finite loss or gradient, signal); the message names the step and why."""


def run_directory(config: Dict[str, Any]) -> str:
    """``<root>/<exp>/<id>`` of a run."""
    return os.path.join(config["root"], config["exp"], run_id(config))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    optimizers = {"adam": torch.optim.Adam, "adamax": torch.optim.Adamax, "sgd": torch.optim.SGD,
                  "rmsprop": torch.optim.RMSprop}
    if name not in optimizers:
        raise ValueError(f"optimizer {name!r} is invalid; expected one of {sorted(optimizers)}")
    return optimizers[name](params, lr=lr)


def _has_lazy_parameters(module: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters())


class Trainer:
    """Trains one run; :func:`run` wraps it with the status bookkeeping.

    Arguments:
        config: the flags (see :mod:`ovis.training.arguments`).
        directory: the run directory.
        build_datasets, build_model: replace :mod:`ovis.training.factory` (tests, custom models).
    """

    def __init__(self, config: Dict[str, Any], directory: RunDirectory,
                 build_datasets: Optional[DatasetsBuilder] = None, build_model: Optional[ModelBuilder] = None) -> None:
        self.config = config
        self.dir = directory
        c = config
        self.seed = int(c["seed"])
        self.device = _device(c.get("device", "auto"))
        if c.get("threads"):
            torch.set_num_threads(int(c["threads"]))
        if c["deterministic"]:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self._seed_everything(self.seed)

        self.train_set, self.valid_set, self.test_set = (build_datasets or factory.build_datasets)(c)
        if len(self.train_set) == 0:
            raise ValueError(f"data set {c['dataset']!r} has an empty training split")
        x0 = fetch(self.train_set, torch.arange(min(2, len(self.train_set))))
        self.input_shape = tuple(x0.shape[1:])
        self.model = (build_model or factory.build_model)(c, self.input_shape, self.train_set).to(self.device)
        self.estimator = factory.build_estimator(c).to(self.device)
        if _has_lazy_parameters(self.estimator) or _has_lazy_parameters(self.model):
            # lazily-shaped modules (e.g. the neural baseline) take their size from one forward pass
            self.estimator(self.model, x0.to(self.device))
        params = list(self.model.parameters()) + list(self.estimator.parameters())
        self.optimizer = _make_optimizer(c["optimizer"], params, c["lr"])

        self.epoch_len = math.ceil(len(self.train_set) / c["bs"])
        self.nsteps = c["epochs"] * self.epoch_len if c["epochs"] > 0 else c["nsteps"]
        self.lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=lr_milestones(self.nsteps, c["lr_reduce_steps"]), gamma=0.5)
        self.step = self.epoch = self.position = 0
        self.last_eval_step = -1
        self._reset_running()
        self.train_eval_idx = eval_indices(len(self.train_set), c["max_eval"], seed=c["data_seed"])
        self.valid_eval_idx = eval_indices(len(self.valid_set), c["max_eval"])
        self.test_eval_idx = eval_indices(len(self.test_set), c["max_eval"])

    # ------------------------------------------------------------------ state
    @staticmethod
    def _seed_everything(seed: int) -> None:
        import random

        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        torch.manual_seed(seed)

    def _reset_running(self) -> None:
        self.running: Dict[str, float] = {}
        self.running_steps = 0

    def state_dict(self) -> Dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "position": self.position,
                "last_eval_step": self.last_eval_step, "model": self.model.state_dict(),
                "estimator": self.estimator.state_dict(), "optimizer": self.optimizer.state_dict(),
                "lr_scheduler": self.lr_scheduler.state_dict(), "running": (self.running, self.running_steps),
                "config": self.config}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.estimator.load_state_dict(state["estimator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.last_eval_step = state["last_eval_step"]
        self.running, self.running_steps = state["running"]
        set_rng_states(state["rng"])

    def save(self) -> None:
        save_checkpoint(self.dir.checkpoint_path, self.state_dict())

    # ------------------------------------------------------------------ training
    def alpha(self, step: Optional[int] = None) -> float:
        c = self.config
        return alpha_schedule(self.step if step is None else step, c["alpha_init"], c["alpha"], c["warmup"],
                              c["warmup_mode"], c["warmup_offset"])

    def _check_finite(self, loss: Tensor, diagnostics: Dict[str, Dict[str, Tensor]]) -> None:
        if bool(torch.isfinite(loss).all()):
            return
        values = {f"{g}/{k}": float(v.float().mean()) for g, d in diagnostics.items() for k, v in d.items()}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if k in ("loss/L_k", "loss/elbo", "loss/nll",
                                                                              "loss/kl"))
        raise TrainingFailure(f"non-finite training loss at step {self.step}: loss/loss={float(loss.detach().mean()):.4g}"
                              + (f" ({shown})" if shown else ""))

    def _check_gradients(self) -> None:
        params = [(n, p) for n, p in list(self.model.named_parameters()) + list(self.estimator.named_parameters())
                  if p.grad is not None]
        if not params:
            return
        total = torch.stack([p.grad.sum() for _, p in params]).sum()
        if bool(torch.isfinite(total)):
            return
        bad = [n for n, p in params if not bool(torch.isfinite(p.grad).all())]
        raise TrainingFailure(f"non-finite gradient at step {self.step} in parameter(s) {bad[:5]}"
                              + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))

    def train_step(self, x: Tensor) -> Dict[str, float]:
        self.model.train()
        alpha = self.alpha()
        loss, diagnostics, _ = self.estimator(self.model, x, alpha=alpha)
        self._check_finite(loss, diagnostics)
        self.optimizer.zero_grad(set_to_none=True)
        loss.mean().backward()
        self._check_gradients()
        self.optimizer.step()
        self.lr_scheduler.step()
        self.step += 1
        self.position += 1
        keys = [name if group == "loss" else f"{group}_{name}" for group, values in diagnostics.items()
                for name in values]
        means = torch.stack([v.detach().float().mean() for values in diagnostics.values() for v in values.values()])
        summary = dict(zip(keys, means.tolist()))  # one device synchronisation per step
        for key, value in summary.items():
            self.running[key] = self.running.get(key, 0.0) + value
        self.running_steps += 1
        return summary

    def train(self, progress: bool = True) -> None:
        """Train up to ``nsteps``, evaluating before training, every ``--eval_freq`` epochs, every
        ``--eval_every`` steps, and at the end."""
        from tqdm import tqdm

        c = self.config
        bar = tqdm(total=self.nsteps, initial=self.step, disable=not progress, unit="step", dynamic_ncols=True,
                   desc=os.path.basename(self.dir.path)[:40], file=sys.stderr)
        last_postfix = 0.0
        try:
            if self.step == 0 and self.last_eval_step != 0:
                self.evaluate_and_checkpoint()  # the model before training, the start of every curve
            while self.step < self.nsteps:
                batches = EpochBatches(self.train_set, c["bs"], self.seed, self.epoch)
                for x in batches.iterate(self.position, c["workers"]):
                    try:
                        summary = self.train_step(x.to(self.device, non_blocking=True))
                    except TrainingFailure:
                        raise
                    except Exception as err:
                        raise TrainingFailure(f"step {self.step}: {type(err).__name__}: {err}") from err
                    bar.update(1)
                    now = time.monotonic()
                    if progress and now - last_postfix > 0.5:
                        bar.set_postfix(L_K=f"{summary.get('L_k', float('nan')):.3f}", refresh=False)
                        last_postfix = now
                    if self.step >= self.nsteps:
                        break
                    if c.get("eval_every", 0) > 0 and self.step % c["eval_every"] == 0:
                        self.evaluate_and_checkpoint()
                if self.position >= self.epoch_len:
                    self.epoch += 1
                    self.position = 0
                    if c["eval_freq"] > 0 and self.epoch % c["eval_freq"] == 0 and self.step < self.nsteps \
                            and self.last_eval_step != self.step:
                        self.evaluate_and_checkpoint()
            if self.last_eval_step != self.step:
                self.evaluate_and_checkpoint()
        finally:
            bar.close()

    # ------------------------------------------------------------------ evaluation
    def _forked(self, tag: int):
        devices = [self.device] if self.device.type == "cuda" else []
        return torch.random.fork_rng(devices=devices), mix_seed(self.seed, tag, self.step)

    def evaluate(self) -> Dict[str, Dict[str, Dict[str, float]]]:
        """Metrics of the train, valid and test splits at the current step (no effect on training:
        every evaluation draws from its own seeded random stream)."""
        c = self.config
        results: Dict[str, Dict[str, Dict[str, float]]] = {}
        splits = (("train", self.train_set, self.train_eval_idx, c["iw_valid"], c["valid_bs"]),
                  ("valid", self.valid_set, self.valid_eval_idx, c["iw_valid"], c["valid_bs"]),
                  ("test", self.test_set, self.test_eval_idx, c["iw_test"], c["test_bs"]))
        for name, dataset, idx, iw, bs in splits:
            if len(idx) == 0:
                continue
            fork, seed = self._forked(_EVAL_TAGS[name])
            with fork:
                torch.manual_seed(seed)
                results[name] = evaluate_split(self.model, dataset, idx, iw, bs, c["eval_rows"], self.device)
        train = results.setdefault("train", {})
        if self.running_steps:
            train["estimator"] = {k: v / self.running_steps for k, v in self.running.items()}
        train["parameters"] = {"alpha": self.alpha(), "beta": float(c["beta"]),
                               "lr": float(self.optimizer.param_groups[0]["lr"]), "epoch": float(self.epoch)}
        if c["grad_samples"] > 1:
            train.update(self.gradient_statistics())
        if c["mc_au_analysis"] > 0:
            from ..analysis.active_units import active_units

            fork, seed = self._forked(_EVAL_TAGS["au"])
            idx = self.train_eval_idx[:c["npoints_au_analysis"]]
            with fork:
                torch.manual_seed(seed)
                self.model.eval()
                x = fetch(self.train_set, idx).to(self.device)
                train.update(to_floats(active_units(self.model, x, mc_samples=c["mc_au_analysis"], npoints=None)))
                self.model.train()
        if hasattr(self.model, "parameter_mse"):
            train["model"] = {f"mse_{k}": float(v) for k, v in self.model.parameter_mse().items()}
        return results

    def gradient_statistics(self) -> Dict[str, Dict[str, float]]:
        from ..analysis.gradients import get_gradients_statistics

        c = self.config
        fork, seed = self._forked(_EVAL_TAGS["grads"])
        with fork:
            torch.manual_seed(seed)
            x = fetch(self.train_set, self.train_eval_idx[:c["grad_bs"]]).to(self.device)
            stats, _ = get_gradients_statistics(self.estimator, self.model, x, mc_samples=c["grad_samples"],
                                                key_filter=c["grad_key"], epsilon=c["grad_epsilon"],
                                                alpha=self.alpha())
        return to_floats(stats)

    def evaluate_and_checkpoint(self) -> None:
        """Evaluate, append the metrics, then write the checkpoint (in that order: a run killed in
        between repeats this evaluation on resume, and the repeated lines are dropped)."""
        results = self.evaluate()
        for split, metrics in results.items():
            self.dir.log_metrics(self.step, split, metrics)
        self.dir.flush()
        self._reset_running()
        self.last_eval_step = self.step
        self.save()
        self.dir.set_status("running", f"step {self.step}/{self.nsteps}", self.step)


def run(args: argparse.Namespace, build_datasets: Optional[DatasetsBuilder] = None,
        build_model: Optional[ModelBuilder] = None) -> int:
    """Train (or resume, or skip if finished) the run described by ``args``; returns the exit code.

    Arguments:
        args: parsed flags (:func:`ovis.training.arguments.parse_args`).
        build_datasets, build_model: replace the defaults of :mod:`ovis.training.factory`.

    Returns:
        0 (finished, or already finished), 1 (failed), 2 (a configuration error found before
        anything is written, see :mod:`ovis.training.preflight`, or the run directory holds a run
        with other flags), 130 (interrupted), 143 (SIGTERM).
    """
    config = config_from_args(args)
    try:  # before the run directory exists and before anything is loaded
        check_run(config, check_data=build_datasets is None, check_model=build_model is None)
        path = run_directory(config)
    except (ConfigError, ValueError) as err:
        if config.get("debug"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    lifecycle = Run(path, config, differences=identity_differences)
    directory = lifecycle.directory
    try:
        if not lifecycle.begin():
            print(f"run {directory.path} already finished (step {lifecycle.step}); nothing to do", file=sys.stderr)
            return 0
    except RunConflict as err:
        print(f"run directory {err.path} holds a run with other flags ({'; '.join(err.differences)}); "
              f"use another --id or --exp, or remove the directory", file=sys.stderr)
        return 2
    trainer: Optional[Trainer] = None
    with terminate_on_sigterm():
        try:
            trainer = Trainer(config, directory, build_datasets=build_datasets, build_model=build_model)
            state = lifecycle.resume(map_location=trainer.device)
            if state is not None:
                trainer.load_state_dict(state)
                if not config["silent"]:
                    print(f"resuming {directory.path} at step {trainer.step}", file=sys.stderr)
            lifecycle.running(f"step {trainer.step}/{trainer.nsteps}", trainer.step)
            trainer.train(progress=not config["silent"])
            lifecycle.succeed(f"finished {trainer.nsteps} steps", trainer.step)
            print(run_summary(directory))  # even with --silent: a log file shows what the run reached
            return 0
        except (Exception, Terminated, KeyboardInterrupt) as err:
            step = trainer.step if trainer is not None else lifecycle.step
            expected = isinstance(err, (TrainingFailure, Terminated, KeyboardInterrupt))
            message, code = (str(err), 1) if isinstance(err, TrainingFailure) else \
                failure(err, step, setting_up=trainer is None)
            lifecycle.fail(message, step)
            if not expected:
                traceback.print_exc()
            print(f"run {directory.path} failed: {message}", file=sys.stderr)
            return code
        finally:
            lifecycle.close()
