"""ovis.training.factory: from run.py's flags to data sets, a model and an estimator."""
import pytest
import torch

from ovis.models import MODELS, TemplateModel
from ovis.training.arguments import config_from_args, parse_args
from ovis.training.factory import build_datasets, build_estimator, build_model, model_hparams, resolve_names


@pytest.mark.parametrize("argv,name,hparams", [
    ([], "sbn", {"layers": (200,)}),
    (["--model", "sbm", "--N", "50", "--depth", "3", "--nlayers", "0"], "sbn",
     {"layers": (50, 50, 50), "connection": "linear"}),
    (["--model", "sbn", "--nlayers", "1", "--hdim", "64"], "sbn", {"layers": (200,), "connection": "mlp", "hdim": 64}),
    (["--model", "vae", "--prior", "categorical", "--N", "8", "--K", "4", "--nlayers", "2", "--hdim", "32",
      "--learn_prior"], "vae", {"latent": "categorical", "N": 8, "K": 4, "nlayers": 2, "hdim": 32, "learn_prior": True}),
    (["--model", "gaussian-vae", "--N", "20"], "vae", {"latent": "normal", "N": 20}),
    (["--dataset", "gmm", "--N", "10", "--hdim", "16"], "gmm-toy", {"C": 10, "hdim": 16}),
    (["--dataset", "gaussian-toy", "--data_seed", "3"], "gaussian-toy", {"true_seed": 3}),
])
def test_model_hyperparameters(argv, name, hparams):
    config = config_from_args(parse_args(argv))
    assert resolve_names(config)[1] == name
    assert model_hparams(config) == hparams


@pytest.mark.parametrize("argv", [["--model", "sbn", "--prior", "normal"], ["--model", "vae", "--depth", "2"],
                                  ["--model", "sbn", "--K", "3"], ["--model", "sbn", "--nlayers", "2"],
                                  ["--dataset", "gmm-toy", "--prior", "normal"]])
def test_invalid_model_flags_name_the_flag(argv):
    config = config_from_args(parse_args(argv))
    flag = next(a for a in argv if a.startswith("--") and a not in ("--model", "--dataset"))
    with pytest.raises(ValueError, match=flag):
        model_hparams(config)


def test_resolve_names_aliases_and_defaults():
    config = lambda *argv: config_from_args(parse_args(list(argv)))  # noqa: E731
    assert resolve_names(config()) == ("digits", "sbn", {})
    assert resolve_names(config("--dataset", "gmm")) == ("gmm-toy", "gmm-toy", {})
    assert resolve_names(config("--model", "gaussian-vae")) == ("digits", "vae", {"latent": "normal"})


def test_build_datasets_passes_the_toy_sizes():
    train, valid, test = build_datasets(config_from_args(parse_args(["--dataset", "gaussian-toy", "--N", "3"])))
    assert train[0].shape == (3,)
    train, _, _ = build_datasets(config_from_args(parse_args(["--dataset", "digits"])))
    assert train[0].shape == (1, 8, 8)


def test_build_estimator_uses_the_run_flags():
    config = config_from_args(parse_args(["--estimator", "vimco-geometric", "--iw", "7", "--mc", "2",
                                          "--beta", "0.5", "--alpha", "0.25"]))
    estimator = build_estimator(config)
    assert type(estimator).__name__ == "Vimco"
    assert {k: estimator.config[k] for k in ("iw", "mc", "beta", "alpha", "arithmetic")} == \
        {"iw": 7, "mc": 2, "beta": 0.5, "alpha": 0.25, "arithmetic": False}


class Flagged(TemplateModel):
    """A model registered by a user, with options named like run.py's flags."""

    def __init__(self, input_shape, N: int = 2, hdim: int = 3, latent: str = "normal"):
        super().__init__()
        self.input_shape, self.N, self.hdim, self.latent = input_shape, N, hdim, latent
        self.inference_network = torch.nn.Linear(1, 1)


@pytest.fixture
def flagged():
    MODELS.add("test-flagged", Flagged, reserved=("input_shape",))
    yield
    MODELS._entries.pop("test-flagged")


def test_a_registered_model_gets_the_flags_named_like_its_options(flagged):
    config = config_from_args(parse_args(["--model", "test-flagged", "--N", "5", "--prior", "bernoulli"]))
    assert model_hparams(config) == {"N": 5, "latent": "bernoulli"}
    model = build_model(config, (1, 8, 8))
    assert isinstance(model, Flagged) and (model.input_shape, model.N, model.hdim, model.latent) == \
        ((1, 8, 8), 5, 3, "bernoulli")
    with pytest.raises(ValueError, match=r"--K 4 is invalid for --model test-flagged: .*'K'.*\['N', 'hdim', 'latent'\]"):
        model_hparams(config_from_args(parse_args(["--model", "test-flagged", "--K", "4"])))
    with pytest.raises(ValueError, match="--learn_prior"):
        model_hparams(config_from_args(parse_args(["--model", "test-flagged", "--learn_prior"])))


def test_an_unknown_model_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown model 'vea'.*did you mean 'vae'.*valid models are"):
        model_hparams(config_from_args(parse_args(["--model", "vea"])))


def test_test_only_split_builds_the_splits_from_the_test_file_and_preflight_checks_only_it(tmp_path):
    from tests.datasets.formats import random_images, write_idx

    from ovis.training.preflight import ConfigError, check_run

    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte", random_images(30, 0), compress=False)
    config = config_from_args(parse_args(["--dataset", "mnist", "--data_root", str(tmp_path), "--test_only_split"]))
    check_run(config, check_model=False)  # the training file is not needed
    train, valid, test = build_datasets(config)
    assert (len(train), len(valid), len(test)) == (24, 3, 3)
    without = config_from_args(parse_args(["--dataset", "mnist", "--data_root", str(tmp_path)]))
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte.gz"):
        check_run(without, check_model=False)
    digits = config_from_args(parse_args(["--dataset", "digits", "--test_only_split"]))
    with pytest.raises(ValueError, match="--test_only_split is invalid with --dataset 'digits'"):
        build_datasets(digits)


def test_test_only_split_off_leaves_run_ids_as_they_were():
    from ovis.training.arguments import run_id

    config = config_from_args(parse_args(["--dataset", "digits"]))
    old = {k: v for k, v in config.items() if k != "test_only_split"}
    assert run_id(config) == run_id(old)
    assert run_id(config_from_args(parse_args(["--dataset", "mnist", "--test_only_split"]))) != \
        run_id(config_from_args(parse_args(["--dataset", "mnist"])))
