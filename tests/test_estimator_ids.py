"""ovis.estimator_ids: the grammar of the estimator ids, on its own (no torch, no classes)."""
import math

import pytest

from ovis.estimator_ids import (FIXED_IDS, VALID_FORMS, EstimatorIdError, ParsedId, parametric_family,
                                parse_id)


@pytest.mark.parametrize("eid", FIXED_IDS)
def test_fixed_ids_are_their_own_family(eid):
    assert parse_id(eid) == ParsedId(eid, {}) and parse_id(f"  {eid}\n") == ParsedId(eid, {})


@pytest.mark.parametrize("text,value", [("10", 10.0), ("0.5", 0.5), (".5", 0.5), ("1e-2", 0.01), ("2.", 2.0),
                                        ("1E3", 1000.0), ("1e308", 1e308)])
def test_numbers_are_decimal_literals(text, value):
    assert parse_id(f"ovis-S{text}").options == {"auxiliary": value, "exclusive": False}
    assert parse_id(f"ovis-gamma{text}-geometric").options == {"gamma": value, "base": "geometric"}
    if "-" not in text:  # the TVO modifiers are split at '-': no negative exponent there
        assert parse_id(f"tvo-beta{text}").options == {"log_beta_min": -value}


@pytest.mark.parametrize("eid", ["ovis-gamma1e400", "ovis-S1e400-exclusive", "ovis-S9" + "9" * 400,
                                 "tvo-beta1e309", "tvo-part" + "1" * 20])
def test_numbers_must_be_finite_and_fit(eid):
    with pytest.raises(EstimatorIdError) as info:
        parse_id(eid)
    assert repr(eid) in str(info.value) and ("not finite" in str(info.value) or "too large" in str(info.value))


def test_options_are_finite_for_every_accepted_number():
    for eid in ["ovis-S1e308", "ovis-gamma0", "tvo-beta0-part1"]:
        assert all(math.isfinite(v) for v in parse_id(eid).options.values() if isinstance(v, float))


def test_tvo_modifiers_in_any_order_keep_the_order_of_the_id():
    parsed = parse_id("tvo-trapz-config2-part5-beta3")
    assert parsed.family == "tvo"
    assert list(parsed.options.items()) == [("integration", "trapz"), ("partition_name", "config2"),
                                            ("num_partition", 5), ("log_beta_min", -3.0)]


@pytest.mark.parametrize("eid,why", [("tvo-part0", "n >= 1"), ("tvo-part2-part3", "given twice"),
                                     ("tvo-left-right", "two integration rules"), ("tvo-foo", "'foo'"),
                                     ("ovis-S0", "y > 0"), ("ovis-gamma", ""), ("ovis-S-1", ""), ("nope", "")])
def test_errors_say_why_and_list_the_valid_forms(eid, why):
    with pytest.raises(EstimatorIdError) as info:
        parse_id(eid)
    msg = str(info.value)
    assert repr(eid) in msg and why in msg and all(form in msg for form in VALID_FORMS)


def test_extra_fixed_ids_are_accepted_and_listed():
    assert parse_id("my-estimator", extra_fixed=["my-estimator"]) == ParsedId("my-estimator", {})
    with pytest.raises(EstimatorIdError, match="my-estimator"):
        parse_id("my-estimatr", extra_fixed=["my-estimator"])


def test_non_strings_are_a_type_error():
    with pytest.raises(TypeError, match="int"):
        parse_id(3)


@pytest.mark.parametrize("eid,family", [("ovis-S3", "ovis-S"), ("ovis-gammax", "ovis-gamma"), ("tvo", "tvo"),
                                        ("tvo-x", "tvo"), ("tvox", None), ("vimco-x", None)])
def test_parametric_family_by_prefix(eid, family):
    assert parametric_family(eid) == family
