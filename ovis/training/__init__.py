"""Training runs: flags (:mod:`.arguments`), the loop (:mod:`.loop`), evaluation, checkpoints, logging,
schedules and the data order.

Example::

    from ovis.training import parse_args, run
    run(parse_args(["--dataset", "digits", "--estimator", "ovis-gamma1", "--nsteps", "500"]))
"""
from .arguments import add_arguments, build_parser, parse_args, run_id
from .loop import Trainer, TrainingFailure, run, run_directory

__all__ = ["add_arguments", "build_parser", "parse_args", "run_id", "run", "run_directory", "Trainer",
           "TrainingFailure"]
