"""Tests of ovis.models.build_model and the package exports."""
import pytest

import ovis.models as models
from ovis.models import (SBN, VAE, GaussianMixtureToy, GaussianToy, TemplateModel,
                         build_model)


@pytest.mark.parametrize("name,shape,hparams,cls", [
    ("vae", (1, 8, 8), {"latent": "bernoulli", "N": 4}, VAE),
    ("sbn", (64,), {"layers": (6, 5)}, SBN),
    ("gmm-toy", (1,), {"C": 4}, GaussianMixtureToy),
    ("gaussian-toy", (7,), {}, GaussianToy),
])
def test_build_known_models(name, shape, hparams, cls):
    model = build_model(name, shape, **hparams)
    assert isinstance(model, cls) and isinstance(model, TemplateModel)


def test_gaussian_toy_takes_D_from_the_input_shape():
    assert build_model("gaussian-toy", (7,)).D == 7
    with pytest.raises(ValueError, match="D=5 disagrees"):
        build_model("gaussian-toy", (7,), D=5)


def test_gmm_toy_needs_scalar_observations():
    with pytest.raises(ValueError, match=r"expected \(1,\)"):
        build_model("gmm-toy", (2,))


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'iwae'.*'gaussian-toy', 'gmm-toy', 'sbn', 'vae'"):
        build_model("iwae", (4,))


@pytest.mark.parametrize("name,bad", [("vae", "latent_dim"), ("sbn", "N"), ("gmm-toy", "D"),
                                      ("gaussian-toy", "C")])
def test_unknown_hparam_lists_the_valid_ones(name, bad):
    with pytest.raises(ValueError, match=f"unknown option.*'{bad}'.*for model '{name}'.*valid options are"):
        build_model(name, (1,), **{bad: 3})


def test_exports():
    for name in ["TemplateModel", "ModelContractError", "flat_log_prob", "validate_model_output",
                 "VAE", "SBN", "GaussianMixtureToy", "GaussianToy", "build_model"]:
        assert name in models.__all__ and hasattr(models, name)
    assert not hasattr(models, "NeuralBaseline")  # a network the estimator trains: ovis.estimators


def test_the_registry_lists_the_models_with_their_options():
    assert models.MODELS.names() == ["gaussian-toy", "gmm-toy", "sbn", "vae"]
    assert list(models.MODELS.get("gmm-toy").options()) == ["C", "scale", "hdim", "normalize_input"]
    assert "input_shape" not in models.MODELS.get("vae").options()
    listing = models.MODELS.describe()
    assert "latent, N, K" in listing and listing.count("\n") == 3


def test_a_decorated_class_is_a_model_by_name():
    @models.MODELS.register("test-tiny", reserved=("input_shape",))
    class Tiny(TemplateModel):
        def __init__(self, input_shape, width: int = 2):
            super().__init__()
            self.input_shape, self.width = input_shape, width

    try:
        model = build_model("test-tiny", 5, width=3)
        assert isinstance(model, Tiny) and model.input_shape == (5,) and model.width == 3
        with pytest.raises(ValueError, match="'widht'.*did you mean 'width'"):
            build_model("test-tiny", 5, widht=3)
    finally:
        models.MODELS._entries.pop("test-tiny")
