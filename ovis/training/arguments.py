"""Train a model with a gradient estimator; every run writes its own directory and can be resumed.

A run lives in ``<root>/<exp>/<id>/`` (``--id``, or an id derived from the flags):
``config.json`` (the flags), ``metrics.jsonl`` (one line per split per evaluation),
TensorBoard events (tags ``split:group/name``), ``checkpoint.pt`` (written at each
evaluation) and ``status.json``. Running the same command again resumes from the
checkpoint; with ``--deterministic`` the result is the same as an uninterrupted run.

Usage (shell)::

    python run.py --dataset digits --model sbn --estimator ovis-gamma1 --iw 16 --nsteps 2000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["add_arguments", "build_parser", "parse_args", "run_id", "config_from_args", "identity_differences",
           "NON_IDENTITY_FLAGS", "DEFAULTS"]

#: flags that may change between the first run and a resume (where and how a run executes,
#: not what it computes)
NON_IDENTITY_FLAGS = ("root", "data_root", "exp", "id", "silent", "workers", "device", "threads", "debug",
                      "download")
#: flags added after runs were first made, with the value that leaves a run's id as it was: at that value they
#: are left out of the id, so existing run directories are still found (and resumed)
LATER_FLAGS = {"eval_every": 0, "posterior": None, "test_only_split": False}


def _integer(text: str) -> int:
    """An integer, also written as an integral float (``"1e6"``, ``"200.0"``, as sweep files may)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected an integer") from None
        return int(value)


def _positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected an integer >= 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``run.py`` / ``ovis run`` to ``parser``."""
    g = parser.add_argument_group("run directory")
    g.add_argument("--root", default="runs", help="directory holding the experiments (default: %(default)s)")
    g.add_argument("--exp", default="sandbox", help="experiment name: runs go to <root>/<exp>/ (default: %(default)s)")
    g.add_argument("--id", default="", help="run id, the name of the run directory <root>/<exp>/<id>; "
                   "default: derived from the flags (readable, deterministic)")
    g.add_argument("--seed", default=0, type=_integer, help="random seed of the run (default: %(default)s)")
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms: a resumed run ends exactly as an uninterrupted one")
    g.add_argument("--silent", action="store_true",
                   help="no progress bar (the final summary line and errors are still printed)")
    g.add_argument("--debug", action="store_true",
                   help="on a configuration error, show the traceback instead of the one-line message")
    g.add_argument("--workers", default=0, type=_non_negative_int,
                   help="data-loader worker processes (0: load in the main process; default: %(default)s)")
    g.add_argument("--threads", default=0, type=_non_negative_int,
                   help="torch CPU threads (0: torch's default); use 1 when several runs share the cores")
    g.add_argument("--device", default="auto", help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:1', ...")

    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default="digits",
                   help="digits (embedded 8x8, the default) | binmnist | mnist | fashion | omniglot | gmm-toy "
                        "| gaussian-toy ('gmm' is read as gmm-toy)")
    g.add_argument("--data_root", default="data", help="directory of the data files (default: %(default)s)")
    g.add_argument("--download", action="store_true",
                   help="fetch missing data files (binmnist, mnist, fashion, omniglot) from their public source "
                        "into --data_root, checksums verified where published; OVIS_DATA_MIRROR=<url> "
                        "fetches <url>/<folder>/<file> instead")
    g.add_argument("--test_only_split", action="store_true",
                   help="mnist, fashion: build train/valid/test (80/10/10%%, shuffled with --data_seed) from the "
                        "10,000 test images alone, for machines that hold only t10k-images-idx3-ubyte.gz (say so "
                        "when reporting numbers)")
    g.add_argument("--data_seed", default=0, type=_integer,
                   help="seed of the data (splits, static binarization, toy ground truth); independent of "
                        "--seed so that runs of different seeds see the same data (default: %(default)s)")

    g = parser.add_argument_group("model")
    g.add_argument("--model", default=None,
                   help="sbn | vae | gmm-toy | gaussian-toy (aliases: sbm -> sbn, gaussian-vae -> vae with a "
                        "normal prior, gmm -> gmm-toy); default: sbn, or the toy model of a toy data set")
    g.add_argument("--prior", default=None, choices=("normal", "bernoulli", "categorical"),
                   help="latent distribution: the VAE's 'latent' (normal | bernoulli | categorical); the SBN "
                        "only has bernoulli latents (default: the model's)")
    g.add_argument("--N", default=None, type=_positive_int,
                   help="latent size: units per stochastic layer (vae, sbn; sbn default 200), number of "
                        "mixture components C (gmm-toy), dimension D (gaussian-toy)")
    g.add_argument("--K", default=None, type=_positive_int, help="classes per categorical latent (vae)")
    g.add_argument("--depth", default=None, type=_positive_int,
                   help="number of stochastic layers (sbn: layers = (N,) * depth; default 1)")
    g.add_argument("--nlayers", default=None, type=_non_negative_int,
                   help="hidden layers of each MLP (vae); sbn: 0 = linear connections, 1 = MLP connections")
    g.add_argument("--hdim", default=None, type=_positive_int, help="hidden units of each MLP layer")
    g.add_argument("--likelihood", default=None, help="observation model of the VAE (the model's choices)")
    g.add_argument("--learn_prior", action="store_true", help="learn the prior parameters (vae)")
    g.add_argument("--posterior", default=None, choices=("gaussian", "maf", "nsf", "ffjord"),
                   help="q(z|x) of the vae with --prior normal (ovis.models.posteriors; default: gaussian)")

    g = parser.add_argument_group("estimator")
    g.add_argument("--estimator", default="ovis-gamma1",
                   help="estimator id, e.g. ovis-gamma1, ovis-S10-exclusive, vimco-arithmetic, reinforce, "
                        "reinforce-baseline, pathwise-iwae, dreg, tvo-part5-config2, wake-wake "
                        "(see ovis.estimators.config; default: %(default)s)")
    g.add_argument("--iw", default=16, type=_positive_int, help="importance-weighted particles K (default: %(default)s)")
    g.add_argument("--mc", default=1, type=_positive_int, help="Monte-Carlo samples of the bound (default: %(default)s)")
    g.add_argument("--beta", default=1.0, type=float, help="weight of the KL term in the log-weights")
    g.add_argument("--freebits", default=None, type=float, help="free bits per layer in nats (default: off)")
    g.add_argument("--alpha", default=0.0, type=float,
                   help="Renyi alpha of the training bound after the warm-up (alpha < 1; 0: IW bound)")
    g.add_argument("--alpha_init", default=0.9, type=float,
                   help="Renyi alpha at step 0 of the warm-up (used when --warmup > 0; default: %(default)s)")
    g.add_argument("--warmup", default=0, type=_non_negative_int,
                   help="steps of the Renyi warm-up: alpha goes from --alpha_init to --alpha (0: off)")
    g.add_argument("--warmup_mode", default="log", choices=("linear", "log"),
                   help="warm-up interpolation: linear in alpha, or log: linear in log(1 - alpha)")
    g.add_argument("--warmup_offset", default=0, type=_non_negative_int,
                   help="steps at --alpha_init before the warm-up starts")

    g = parser.add_argument_group("optimization")
    g.add_argument("--optimizer", default="adam", choices=("adam", "adamax", "sgd", "rmsprop"),
                   help="optimizer of the model and estimator parameters (default: %(default)s)")
    g.add_argument("--lr", default=1e-3, type=float, help="learning rate (default: %(default)s)")
    g.add_argument("--bs", default=32, type=_positive_int, help="training batch size (default: %(default)s)")
    g.add_argument("--nsteps", default=10000, type=_non_negative_int,
                   help="optimization steps (default: %(default)s)")
    g.add_argument("--epochs", default=-1, type=_integer,
                   help="if > 0: train for this many epochs instead of --nsteps steps")
    g.add_argument("--lr_reduce_steps", default=0, type=_non_negative_int,
                   help="halve the learning rate this many times, at evenly spaced steps (default: never)")

    g = parser.add_argument_group("evaluation")
    g.add_argument("--eval_freq", default=10, type=_non_negative_int,
                   help="evaluate (and write a checkpoint) every this many epochs, and at the end (0: only at "
                        "the end; default: %(default)s)")
    g.add_argument("--eval_every", default=0, type=_non_negative_int,
                   help="also evaluate (and write a checkpoint) every this many steps, so short runs have curves "
                        "(0: off; default: %(default)s)")
    g.add_argument("--max_eval", default=1000, type=_integer,
                   help="data points evaluated per split (the train split uses a fixed random subset; "
                        "<= 0: all; default: %(default)s)")
    g.add_argument("--iw_valid", default=100, type=_positive_int,
                   help="particles K of the bound L_K on the train and valid splits (default: %(default)s)")
    g.add_argument("--iw_test", default=1000, type=_positive_int,
                   help="particles K of the bound L_K on the test split (default: %(default)s)")
    g.add_argument("--valid_bs", default=50, type=_positive_int, help="batch size on the train and valid splits")
    g.add_argument("--test_bs", default=50, type=_positive_int, help="batch size on the test split")
    g.add_argument("--eval_rows", default=1 << 15, type=_positive_int,
                   help="largest number of particle rows (data points x particles) given to the model at once "
                        "at evaluation: bounds memory for large --iw_test (default: %(default)s)")

    g = parser.add_argument_group("gradient analysis (at each evaluation, on the train split)")
    g.add_argument("--grad_samples", default=100, type=_non_negative_int,
                   help="gradient samples for the variance / SNR / DSNR statistics (0: off; default: %(default)s)")
    g.add_argument("--grad_bs", default=10, type=_positive_int,
                   help="data points averaged in each gradient sample (default: %(default)s)")
    g.add_argument("--grad_key", default="inference_network",
                   help="comma-separated substrings of the names of the analysed parameters (default: %(default)s)")
    g.add_argument("--grad_epsilon", default=1e-15, type=float,
                   help="parameters whose gradient variance is below this are left out of the averages")

    g = parser.add_argument_group("active units (at each evaluation, on the train split)")
    g.add_argument("--mc_au_analysis", default=0, type=_non_negative_int,
                   help="samples of z ~ q(z|x) per data point to count the active units (0: off)")
    g.add_argument("--npoints_au_analysis", default=1000, type=_positive_int,
                   help="data points used to count the active units (default: %(default)s)")


def build_parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser of ``run.py`` (unknown flags are errors)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


#: the default value of every flag
DEFAULTS: Dict[str, Any] = vars(build_parser().parse_args([]))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``run.py`` flags (``argv`` defaults to ``sys.argv[1:]``)."""
    return build_parser().parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """All flags as a JSON-serialisable dict (what ``config.json`` holds)."""
    return {k: v for k, v in sorted(vars(args).items()) if not callable(v) and not k.startswith("_")}


_ID_SAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def run_id(config: Dict[str, Any]) -> str:
    """The run's directory name: ``--id`` when given, else readable and derived from the flags.

    Derived ids read ``<dataset>-<model>-<estimator>-K<iw>-seed<seed>-<hash>``, where ``hash`` covers
    every flag except :data:`NON_IDENTITY_FLAGS`, so the same flags always give the same id.
    """
    given = str(config.get("id") or "").strip()
    if given:
        if given in (".", "..") or "/" in given or "\\" in given:
            raise ValueError(f"--id {given!r} is invalid; expected a directory name (no path separators)")
        return given
    identity = {k: v for k, v in config.items()
                if k not in NON_IDENTITY_FLAGS and not (k in LATER_FLAGS and v == LATER_FLAGS[k])}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    readable = f"{config['dataset']}-{config['model'] or 'auto'}-{config['estimator']}-K{config['iw']}-" \
               f"seed{config['seed']}"
    return f"{_ID_SAFE.sub('_', readable)}-{digest}"


def identity_differences(previous: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """Flags (outside :data:`NON_IDENTITY_FLAGS`) whose values differ, as ``'--flag: old -> new'``."""
    keys = sorted((set(previous) | set(current)) - set(NON_IDENTITY_FLAGS))
    # a flag added after the run was started reads as its default in the old config
    old = {k: previous.get(k, DEFAULTS.get(k)) for k in keys}
    new = {k: current.get(k, DEFAULTS.get(k)) for k in keys}
    return [f"--{k}: {old[k]!r} -> {new[k]!r}" for k in keys if old[k] != new[k]]
