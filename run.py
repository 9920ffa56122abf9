"""Train a model with a gradient estimator (``ovis run``); see ``python run.py --help``.

Example::

    python run.py --dataset digits --model sbn --estimator ovis-gamma1 --iw 16 --nsteps 2000
"""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]], prog="run.py"))
