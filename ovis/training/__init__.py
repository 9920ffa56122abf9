"""Training runs: flags (:mod:`.arguments`), the loop (:mod:`.loop`), the ``ovis run`` command
(:mod:`.command`), flags -> data, model and estimator (:mod:`.factory`), evaluation, schedules and the
data order. The run directory itself (files, checkpoints, status, resumption) is :mod:`ovis.runs`.

Example:
    >>> import tempfile
    >>> from ovis.training import parse_args, run
    >>> args = parse_args(["--dataset", "digits", "--model", "sbn", "--N", "10", "--estimator", "ovis-gamma1",
    ...                    "--nsteps", "5", "--max_eval", "20", "--iw_valid", "4", "--iw_test", "4",
    ...                    "--grad_samples", "0", "--root", tempfile.mkdtemp()])
    >>> run(args)     # doctest: +ELLIPSIS
    test L_K: ... nats at step 0 -> ... nats at step 5 (2 evaluations); run directory: ...
    0
"""
from .arguments import add_arguments, build_parser, parse_args, run_id
from .loop import Trainer, TrainingFailure, run, run_directory

__all__ = ["add_arguments", "build_parser", "parse_args", "run_id", "run", "run_directory", "Trainer",
           "TrainingFailure"]
