"""The estimator id parser: every documented form, and clear errors."""
import pytest

from ovis.estimators import (DoublyReparameterized, OvisAsymptotic, OvisMonteCarlo, Pathwise, PathwiseIWAE,
                             PathwiseVAE, Reinforce, StickingTheLanding, ThermoVariationalObjective, Vimco,
                             WakeSleep, WakeWake)
from ovis.estimators.config import parse_estimator_id


@pytest.mark.parametrize("eid,cls,config", [
    ("pathwise", Pathwise, {}),
    ("pathwise-vae", PathwiseVAE, {}),
    ("pathwise-iwae", PathwiseIWAE, {}),
    ("stl", StickingTheLanding, {}),
    ("dreg", DoublyReparameterized, {}),
    ("reinforce", Reinforce, {}),
    ("reinforce-baseline", Reinforce, {"baseline": True}),
    ("vimco-arithmetic", Vimco, {"arithmetic": True}),
    ("vimco-geometric", Vimco, {"arithmetic": False}),
    ("ovis-S1", OvisMonteCarlo, {"auxiliary": 1.0, "exclusive": False}),
    ("ovis-S10-exclusive", OvisMonteCarlo, {"auxiliary": 10.0, "exclusive": True}),
    ("ovis-S0.5", OvisMonteCarlo, {"auxiliary": 0.5, "exclusive": False}),
    ("ovis-gamma1", OvisAsymptotic, {"gamma": 1.0, "base": "default"}),
    ("ovis-gamma0", OvisAsymptotic, {"gamma": 0.0, "base": "default"}),
    ("ovis-gamma0.5-arithmetic", OvisAsymptotic, {"gamma": 0.5, "base": "arithmetic"}),
    ("ovis-gamma1-geometric", OvisAsymptotic, {"gamma": 1.0, "base": "geometric"}),
    ("wake-wake", WakeWake, {}),
    ("wake-sleep", WakeSleep, {}),
    ("tvo", ThermoVariationalObjective, {}),
    ("tvo-part2-config1", ThermoVariationalObjective, {"num_partition": 2, "partition_name": "config1"}),
    ("tvo-config2-part5-trapz", ThermoVariationalObjective,
     {"num_partition": 5, "partition_name": "config2", "integration": "trapz"}),
    ("tvo-part3-beta2-right", ThermoVariationalObjective,
     {"num_partition": 3, "log_beta_min": -2.0, "integration": "right"}),
    ("tvo-beta1.5-left", ThermoVariationalObjective, {"log_beta_min": -1.5, "integration": "left"}),
])
def test_valid_ids(eid, cls, config):
    Estimator, cfg = parse_estimator_id(eid)
    assert Estimator is cls
    assert cfg == config
    if eid == "ovis-S1":  # valid id, but S = K leaves no particle for the bound (tested below)
        return
    est = Estimator(mc=1, iw=16, **cfg)  # the public construction pattern
    assert est.config["iw"] == 16


@pytest.mark.parametrize("eid", ["", "ovis", "ovis-S", "ovis-Sx", "ovis-S1-exclusiv", "ovis-gamma", "vimco",
                                 "vimco-harmonic", "tvo-part", "tvo-left-right", "tvo-part2-part3", "tvo-foo",
                                 "pathwise-foo", "ovis-S0", "__import__('os')", "reinforce-"])
def test_invalid_ids_list_valid_forms(eid):
    with pytest.raises(ValueError) as info:
        parse_estimator_id(eid)
    msg = str(info.value)
    assert repr(eid) in msg and "ovis-gamma{g}" in msg and "vimco-arithmetic" in msg


def test_non_string_id():
    with pytest.raises(TypeError):
        parse_estimator_id(3)


def test_nonexclusive_ovis_needs_particles_left():
    Estimator, cfg = parse_estimator_id("ovis-S1")
    with pytest.raises(ValueError, match="exclusive"):
        Estimator(iw=8, **cfg)
    Estimator, cfg = parse_estimator_id("ovis-S0.5")
    assert Estimator(iw=8, **cfg).particles(Estimator(iw=8, **cfg).config) == (4, 4)


def test_tvo_config_partition_depends_on_k():
    Estimator, cfg = parse_estimator_id("tvo-part2-config1")
    for K, beta1 in [(5, 5e-2), (20, 2e-1), (50, 3e-1)]:
        est = Estimator(iw=K, **cfg)
        assert est.partition(est.config)[1].item() == pytest.approx(beta1)
