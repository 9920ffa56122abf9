import textwrap

import pytest

from ovis.gmmvi.choices import CHOICES
from ovis.gmmvi.configs import (LETTERS, all_codewords, check_config, default_algorithm_config, default_config,
                                default_experiment_config, load_yaml, merge, parse_codeword)


def test_432_distinct_codewords_and_every_letter_is_registered():
    words = all_codewords()
    assert len(words) == len(set(words)) == 2 * 2 * 2 * 3 * 3 * 2 * 3 == 432
    for choice, letters in LETTERS.items():
        for letter, (type_, options) in letters.items():
            registry = CHOICES[choice]
            assert registry.get(letter) is registry.get(type_)
            registry.check_options(type_, options)          # every default option is a real option


def test_samtron_defaults():
    cfg = default_algorithm_config("samtron")
    assert [cfg[f"{c}_type"] for c in CHOICES] == ["Stein", "adaptive", "component-based", "trust-region",
                                                  "improvement-based", "trust-region", "improvement-based"]
    assert cfg["num_component_adapter_config"]["add_iters"] == 30
    assert cfg["sample_selector_config"] == {"desired_samples_per_component": 100,
                                             "ratio_reused_samples_to_desired": 2.0}


@pytest.mark.parametrize("word,match", [("SAMTRO", "7 letters"), ("QAMTRON", r"letter 1 \('Q'\)"),
                                        ("SAMTROZ", r"letter 7 \('Z'\).*\['G', 'N', 'X'\]")])
def test_bad_codewords(word, match):
    with pytest.raises(ValueError, match=match):
        parse_codeword(word)


def test_merge_is_deep_and_does_not_modify_inputs():
    a = {"x": {"y": 1, "z": 2}, "w": [1]}
    b = merge(a, {"x": {"y": 5}})
    assert b == {"x": {"y": 5, "z": 2}, "w": [1]} and a["x"]["y"] == 1


def test_framework_yaml_is_accepted(tmp_path):
    path = tmp_path / "cfg.yml"
    path.write_text(textwrap.dedent("""\
        start_seed: 10000
        use_sample_database: True
        max_database_size: 10000000
        temperature: 1.
        model_initialization:
            use_diagonal_covs: False
            num_initial_components: 1
            prior_mean: 0.
            prior_scale: 10.
            initial_cov: 100.
        ng_estimator_type: "Stein"
        ng_estimator_config:
          only_use_own_samples: False
          use_self_normalized_importance_weights: True
        num_component_adapter_type: "adaptive"
        num_component_adapter_config:
          del_iters: 100
          add_iters: 25
          max_components: 1000
          thresholds_for_add_heuristic: [ 5000., 1000.0, 500.0, 200.0, 100.0, 50.0 ]
          min_weight_for_del_heuristic: 1.0e-6
          num_database_samples: 100000
          num_prior_samples: 0
        sample_selector_type: "component-based"
        sample_selector_config:
          desired_samples_per_component: 250
          ratio_reused_samples_to_desired: 0.
        ng_based_updater_type: "trust-region"
        ng_based_updater_config: {}
        component_stepsize_adapter_type: "improvement-based"
        component_stepsize_adapter_config:
          initial_stepsize: 1.
          min_stepsize: 0.001
          max_stepsize: 1.
          stepsize_inc_factor: 1.15
          stepsize_dec_factor: 0.85
        weight_stepsize_adapter_type: "improvement_based"
        weight_stepsize_adapter_config:
          initial_stepsize: 1.
          min_stepsize: 0.0001
          max_stepsize: 1.
          stepsize_inc_factor: 1.15
          stepsize_dec_factor: 0.85
        weight_updater_type: "trust-region"
        weight_updater_config:
          use_self_normalized_importance_weights: True
        gmmvi_runner_config:
            log_metrics_interval: 50
        environment_name: "breastCancer"
        environment_config: {}
        """))
    cfg = load_yaml(path)
    check_config(cfg)
    from ovis.gmmvi import GMMVI
    from ovis.gmmvi.targets import make_target
    g = GMMVI.build_from_config(cfg, make_target(cfg["environment_name"], **cfg["environment_config"]))
    g.train_iter()
    assert g.num_target_evaluations == 250


def test_check_config_errors():
    cfg = default_config("ZAMTRUX", "gmm20")
    check_config(cfg)
    with pytest.raises(ValueError, match=r"unknown GMMVI configuration key\(s\) \['use_sample_db'\]"):
        check_config(dict(cfg, use_sample_db=True))
    with pytest.raises(ValueError, match="model_initialization key"):
        check_config(merge(cfg, {"model_initialization": {"num_components": 3}}))
    del cfg["weight_updater_type"]
    with pytest.raises(ValueError, match="'weight_updater_type'"):
        check_config(cfg)
    with pytest.raises(ValueError, match="unknown GMMVI experiment 'gmm2'"):
        default_experiment_config("gmm2")
