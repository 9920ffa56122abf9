"""Fit a Gaussian mixture with GMMVI: ``python run_gmmvi.py --target breast-cancer --codeword SAMTRON``
(the same as ``ovis gmmvi ...``)."""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["gmmvi", *sys.argv[1:]], prog="run_gmmvi.py"))
