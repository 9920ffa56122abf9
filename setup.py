"""A shim for tools that look for setup.py; the configuration is in pyproject.toml."""
from setuptools import setup

setup()
