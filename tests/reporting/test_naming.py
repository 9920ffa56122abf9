"""Estimator names as in the paper, deterministic colours, axis labels with units."""
import re
import subprocess
import sys

import pytest

from ovis.estimators.config import VALID_FORMS, parse_estimator_id
from ovis.reporting.naming import (estimator_color, estimator_label, estimator_sort_key, format_value,
                                   group_label, metric_label, slug)

PAPER_NAMES = {
    "ovis-S10-exclusive": "OVIS-MC (S=10K)",
    "ovis-S1-exclusive": "OVIS-MC (S=1K)",
    "ovis-S0.5": "OVIS-MC (S=0.5K, taken from K)",
    "ovis-gamma1": "OVIS-~ (γ=1)",
    "ovis-gamma0.5": "OVIS-~ (γ=0.5)",
    "ovis-gamma1-arithmetic": "OVIS-~ (γ=1, arithmetic)",
    "vimco-arithmetic": "VIMCO (arithmetic)",
    "vimco-geometric": "VIMCO (geometric)",
    "reinforce": "REINFORCE",
    "reinforce-baseline": "REINFORCE (baseline)",
    "pathwise-iwae": "IWAE (pathwise)",
    "pathwise-vae": "VAE (pathwise)",
    "stl": "STL",
    "dreg": "DReG",
    "wake-wake": "RWS (wake-wake)",
    "wake-sleep": "RWS (wake-sleep)",
    "tvo": "TVO",
    "tvo-part5-left": "TVO (5 partitions, left Riemann)",
}
# one id per family and variant the parser accepts
KNOWN_IDS = [i for i in PAPER_NAMES if i != "tvo-part5-left"] + ["pathwise", "tvo-part2-config1"]


@pytest.mark.parametrize("estimator_id, name", PAPER_NAMES.items())
def test_paper_names(estimator_id, name):
    assert estimator_label(estimator_id) == name


@pytest.mark.parametrize("estimator_id", KNOWN_IDS)
def test_every_valid_id_gets_a_name_and_a_colour(estimator_id):
    parse_estimator_id(estimator_id)  # the ids are ones the estimators accept
    assert estimator_label(estimator_id) != estimator_id or estimator_id in ("tvo",)
    assert re.fullmatch(r"#[0-9a-f]{6}", estimator_color(estimator_id))


def test_unknown_id_is_kept_and_coloured():
    assert estimator_label("my-estimator") == "my-estimator"
    assert re.fullmatch(r"#[0-9a-f]{6}", estimator_color("my-estimator"))


def test_colours_are_deterministic_across_processes():
    ids = ["ovis-gamma1", "vimco-arithmetic", "ovis-S10-exclusive", "unknown-thing"]
    code = ("from ovis.reporting.naming import estimator_color; "
            f"print(','.join(estimator_color(i) for i in {ids!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert out.split(",") == [estimator_color(i) for i in ids]


def test_colours_differ_within_a_typical_figure():
    ids = ["reinforce", "vimco-arithmetic", "vimco-geometric", "ovis-S1-exclusive", "ovis-S10-exclusive",
           "ovis-S100-exclusive", "ovis-gamma0", "ovis-gamma0.5", "ovis-gamma1", "pathwise-iwae",
           "wake-wake", "tvo"]
    colours = [estimator_color(i) for i in ids]
    assert len(set(colours)) == len(colours)


def test_sort_key_orders_families_then_parameters():
    ids = ["tvo", "ovis-gamma1", "reinforce", "ovis-S10-exclusive", "ovis-S1-exclusive", "vimco-arithmetic",
           "ovis-gamma0"]
    assert sorted(ids, key=estimator_sort_key) == [
        "reinforce", "vimco-arithmetic", "ovis-S1-exclusive", "ovis-S10-exclusive", "ovis-gamma0",
        "ovis-gamma1", "tvo"]


@pytest.mark.parametrize("metric, aggregation, label", [
    ("test:loss/L_k", None, "test L_K (nats)"),
    ("train:loss/elbo", None, "train ELBO (nats)"),
    ("train:loss/ess", None, "train ESS (particles)"),
    ("train:grads/snr", None, "train gradient SNR"),
    ("test:loss/L_k", "max", "test L_K (nats), max"),
    ("train:grads/snr", "mean", "train gradient SNR, mean over steps"),
    ("valid:custom/thing", None, "valid custom/thing"),
])
def test_metric_labels(metric, aggregation, label):
    assert metric_label(metric, aggregation) == label


def test_group_label_and_values():
    assert group_label({"estimator": "ovis-gamma1", "iw": 16}) == "OVIS-~ (γ=1), K=16"
    assert group_label({"iw": 16.0, "lr": 0.001}) == "K=16, lr=0.001"
    assert group_label({}) == "all runs"
    assert format_value(float("nan")) == "?"


@pytest.mark.parametrize("text, expected", [
    ("max:test:loss/L_k", "max-test-loss-L_k"), ("train:grads/snr", "train-grads-snr"), ("::", "metric")])
def test_slug_is_a_file_name(text, expected):
    assert slug(text) == expected


def test_valid_forms_cover_the_families_named():
    families = {f.split("-")[0].split("[")[0] for f in VALID_FORMS}
    for family in families:
        assert any(i.startswith(family) for i in KNOWN_IDS), family
