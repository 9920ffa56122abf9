"""ovis.models.template: the model contract and its validation."""
import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from ovis.models.template import ModelContractError, TemplateModel, flat_log_prob, validate_model_output


def output(n=6, layers=1):
    z = [torch.zeros(n, 2) for _ in range(layers)]
    q = [Independent(Normal(torch.zeros(n, 2), 1.0), 1) for _ in range(layers)]
    return {"px": Independent(Bernoulli(logits=torch.zeros(n, 4)), 1), "z": z, "qz": q, "pz": list(q)}


def test_a_valid_output_passes():
    validate_model_output(output(6, 2), 6)
    prior = output(6)
    del prior["qz"]
    validate_model_output(prior, 6, prior=True)


@pytest.mark.parametrize("change,message", [
    (lambda o: o.pop("qz"), "missing key 'qz'"),
    (lambda o: o.update(px=torch.zeros(6)), "'px' is a Tensor; expected a torch.distributions.Distribution"),
    (lambda o: o.update(px=Independent(Bernoulli(logits=torch.zeros(5, 4)), 1)), r"batch shape \(5,\)"),
    (lambda o: o.update(z=torch.zeros(6, 2)), "'z' is a Tensor; expected a list"),
    (lambda o: o.update(z=[]), "'z' is empty"),
    (lambda o: o.update(z=o["z"] * 2), "unequal lengths"),
    (lambda o: o.update(z=[[0.0]]), r"'z'\[0\] is a list; expected a Tensor"),
])
def test_contract_errors_name_the_key(change, message):
    out = output()
    change(out)
    with pytest.raises(ModelContractError, match=message):
        validate_model_output(out, 6)


def test_not_a_mapping():
    with pytest.raises(ModelContractError, match="expected a dict"):
        validate_model_output([1], 6)


def test_flat_log_prob_sums_all_but_the_first_dimension():
    dist = Normal(torch.zeros(3, 2, 4), torch.ones(3, 2, 4))
    value = torch.randn(3, 2, 4)
    expected = torch.stack([Normal(0.0, 1.0).log_prob(value[i]).sum() for i in range(3)])
    assert torch.allclose(flat_log_prob(dist, value, 3), expected)
    with pytest.raises(ModelContractError, match="leading batch dimension of 5"):
        flat_log_prob(dist, value, 5)


def test_template_is_a_module_whose_methods_must_be_written():
    model = TemplateModel()
    assert isinstance(model, torch.nn.Module)
    with pytest.raises(NotImplementedError, match="forward"):
        model(torch.zeros(1, 1))
    with pytest.raises(NotImplementedError, match="sample_from_prior"):
        model.sample_from_prior(1)
