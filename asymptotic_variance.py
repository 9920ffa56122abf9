"""The OVIS paper's asymptotic-variance study (figure 1): ``ovis asymptotic-variance``; see ``--help``.

Usage (shell)::

    python asymptotic_variance.py --Ks 3,10,30,100,300,1000 --samples 200 --out reports/asymptotic-variance
"""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["asymptotic-variance", *sys.argv[1:]], prog="asymptotic_variance.py"))
