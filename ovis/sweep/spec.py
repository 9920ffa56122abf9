"""Sweep files (``experiments/<exp>.json``) -> the list of jobs they define.

A sweep file is a JSON object::

    {
      "description": "what the sweep is for",           (required, string)
      "script": "run.py",                               (optional, default run.py)
      "args": ["--estimator ovis-gamma1", "--estimator reinforce"],   (required)
      "global": "--dataset digits --nsteps 300",        (optional, default "")
      "parameters": {"iw": [5, 20], "--seed": [1, 2]},  (optional, default {})
      "pass_run_flags": true                            (optional, default true)
    }

The jobs are the product ``args x grid(parameters)``, each with ``global``
appended. Argument strings are split like a shell would split them
(:func:`shlex.split`), but nothing is ever run through a shell. A parameter
name without a leading dash gets ``--`` (``"seed"`` -> ``--seed``); each
value becomes one argument (``str(value)``). With ``pass_run_flags`` the
worker appends ``--exp --root --data_root --id`` to every job, so these flags
may not appear in the file.

Example:
    >>> from ovis.sweep.spec import expand_jobs, parse_spec
    >>> spec = parse_spec({"description": "two estimators, two K", "global": "--nsteps 300",
    ...                    "args": ["--estimator ovis-gamma1", "--estimator reinforce"], "parameters": {"iw": [5, 20]}})
    >>> jobs = expand_jobs(spec)
    >>> len(jobs), jobs[0].script, " ".join(jobs[0].args)
    (4, 'run.py', '--estimator ovis-gamma1 --iw 5 --nsteps 300')
"""
from __future__ import annotations

import itertools
import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from ..experiments import find_sweep, list_sweeps

__all__ = ["SweepSpec", "JobSpec", "SweepSpecError", "load_spec", "parse_spec", "expand_jobs",
           "resolve_spec_path", "RUN_FLAGS"]

#: flags the worker appends to run.py-like jobs (``pass_run_flags``).
RUN_FLAGS = ("--exp", "--root", "--data_root", "--id")

_KEYS = {"description": "a string", "script": "a path to a python script (string)",
         "args": "a non-empty list of argument strings", "global": "an argument string",
         "parameters": "an object mapping a flag name to a non-empty list of values",
         "pass_run_flags": "true or false"}
_REQUIRED = ("description", "args")


class SweepSpecError(ValueError):
    """A sweep file is missing, not JSON, or does not follow the schema."""


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (see the module docstring for the schema)."""
    description: str
    args: Tuple[str, ...]
    script: str = "run.py"
    global_args: str = ""
    parameters: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    pass_run_flags: bool = True
    source: str = "<memory>"


@dataclass(frozen=True)
class JobSpec:
    """One job: ``python <script> <args...>`` (before run flags are appended)."""
    script: str
    args: Tuple[str, ...]

    @property
    def key(self) -> str:
        """Identity of the job inside a queue, used to add only new jobs on ``--resume``."""
        return json.dumps([self.script, list(self.args)])


def resolve_spec_path(exp: str, experiments_dir: str = "experiments") -> str:
    """``"mini"`` -> ``experiments/mini.json`` if it exists, else the sweep shipped with ovis
    (:mod:`ovis.experiments`); a path to a ``.json`` file is kept.

    An unknown name gives ``<experiments_dir>/<exp>.json``, which :func:`load_spec` reports
    as not found, listing the known sweeps.
    """
    if exp.endswith(".json") or os.sep in exp:
        return exp
    return find_sweep(exp, local=experiments_dir) or os.path.join(experiments_dir, exp + ".json")


def load_spec(path: str) -> SweepSpec:
    """Read and validate a sweep file; errors name the file, the key and what was expected."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        folder = os.path.dirname(path) or "."
        known = sorted(list_sweeps(local=folder))
        raise SweepSpecError(f"{path}: sweep file not found (known sweeps in {folder} and shipped with ovis: "
                             f"{known or 'none'}; list them with: ovis sweeps)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SweepSpecError(f"{path}: not valid JSON ({err})") from None
    return parse_spec(data, source=path)


def _split(source: str, key: str, text: Any) -> List[str]:
    if not isinstance(text, str):
        raise SweepSpecError(f"{source}: '{key}' must be {_KEYS[key.split('[')[0]]}, got {text!r}")
    try:
        return shlex.split(text)
    except ValueError as err:
        raise SweepSpecError(f"{source}: '{key}' is not a valid argument string ({err}): {text!r}") from None


def _flags(tokens: List[str]) -> set:
    return {t.split("=", 1)[0] for t in tokens if t.startswith("-")}


def parse_spec(data: Any, source: str = "<memory>") -> SweepSpec:
    """Validate a decoded sweep object; see :func:`load_spec`."""
    if not isinstance(data, dict):
        raise SweepSpecError(f"{source}: expected a JSON object with keys {sorted(_KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise SweepSpecError(f"{source}: unknown key(s) {unknown}; valid keys are {sorted(_KEYS)}")
    for key in _REQUIRED:
        if key not in data:
            raise SweepSpecError(f"{source}: missing key '{key}' (expected {_KEYS[key]})")
    if not isinstance(data["description"], str):
        raise SweepSpecError(f"{source}: 'description' must be a string, got {data['description']!r}")
    script = data.get("script", "run.py")
    if not isinstance(script, str) or not script.endswith(".py"):
        raise SweepSpecError(f"{source}: 'script' must be {_KEYS['script']} ending in .py, got {script!r}")
    pass_run_flags = data.get("pass_run_flags", True)
    if not isinstance(pass_run_flags, bool):
        raise SweepSpecError(f"{source}: 'pass_run_flags' must be true or false, got {pass_run_flags!r}")

    args = data["args"]
    if not isinstance(args, list) or not args:
        raise SweepSpecError(f"{source}: 'args' must be {_KEYS['args']} (use [\"\"] for a single job "
                             f"without extra arguments), got {args!r}")
    split_args = [_split(source, f"args[{i}]", a) for i, a in enumerate(args)]
    global_tokens = _split(source, "global", data.get("global", ""))

    params = data.get("parameters", {})
    if not isinstance(params, dict):
        raise SweepSpecError(f"{source}: 'parameters' must be {_KEYS['parameters']}, got {params!r}")
    parameters: Dict[str, Tuple[str, ...]] = {}
    for name, values in params.items():
        flag = name if name.startswith("-") else "--" + name
        if not name.strip("-") or any(c.isspace() for c in name):
            raise SweepSpecError(f"{source}: 'parameters' has an invalid flag name {name!r}")
        if flag in parameters:
            raise SweepSpecError(f"{source}: 'parameters' names {flag} twice ({name!r})")
        if not isinstance(values, list) or not values:
            raise SweepSpecError(f"{source}: 'parameters.{name}' must be a non-empty list of values, got {values!r}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise SweepSpecError(f"{source}: 'parameters.{name}' values must be strings or numbers "
                                     f"(write a switch flag into 'args' instead), got {v!r}")
        parameters[flag] = tuple(str(v) for v in values)

    fixed = [("global", _flags(global_tokens))] + [(f"args[{i}]", _flags(t)) for i, t in enumerate(split_args)]
    for where, flags in fixed:
        for flag in parameters:
            if flag in flags:
                raise SweepSpecError(f"{source}: parameter {flag} also appears in '{where}'; "
                                     f"set it in one place only")
    if pass_run_flags:
        for where, flags in fixed + [("parameters", set(parameters))]:
            clash = sorted(flags & set(RUN_FLAGS))
            if clash:
                raise SweepSpecError(f"{source}: '{where}' sets {clash}, which the manager appends to every job "
                                     f"(set \"pass_run_flags\": false to manage them yourself)")
    return SweepSpec(description=data["description"], args=tuple(args), script=script,
                     global_args=data.get("global", ""), parameters=parameters,
                     pass_run_flags=pass_run_flags, source=source)


def expand_jobs(spec: SweepSpec) -> List[JobSpec]:
    """``args x grid(parameters)`` with ``global`` appended, in file order, duplicates dropped."""
    global_tokens = shlex.split(spec.global_args)
    flags = list(spec.parameters)
    jobs: Dict[str, JobSpec] = {}
    for arg in spec.args:
        base = shlex.split(arg)
        for values in itertools.product(*(spec.parameters[f] for f in flags)):
            grid = [tok for pair in zip(flags, values) for tok in pair]
            job = JobSpec(script=spec.script, args=tuple(base + grid + global_tokens))
            jobs.setdefault(job.key, job)
    return list(jobs.values())
