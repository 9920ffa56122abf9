"""ovis.gmmvi.choices: the seven registries, their letters and the state of stateful choices."""
import pytest
import torch

import ovis.gmmvi  # noqa: F401  (registers every entry)
from ovis.gmmvi.choices import CHOICES, CODEWORD_ORDER, Stateful
from ovis.registry import RegistryError

LETTERS = {"ng_estimator": "SZ", "num_component_adapter": "AE", "sample_selector": "MP", "ng_based_updater": "IYT",
           "component_stepsize_adapter": "FDR", "weight_updater": "UO", "weight_stepsize_adapter": "XGN"}


def test_codeword_order_and_letters():
    assert CODEWORD_ORDER == tuple(LETTERS)
    total = 1
    for prefix, letters in LETTERS.items():
        registry = CHOICES[prefix]
        for letter in letters:
            assert letter in registry, (prefix, letter)
        assert len(registry) == len(letters)  # one type string per letter
        total *= len(letters)
    assert total == 432


def test_a_letter_and_its_type_string_choose_the_same_entry():
    for prefix, letters in LETTERS.items():
        registry = CHOICES[prefix]
        for name in registry.names():
            entry = registry.get(name)
            assert any(registry.get(letter) is entry for letter in letters), (prefix, name)


def test_unknown_type_is_an_error_listing_the_valid_ones():
    with pytest.raises(RegistryError, match="unknown sample selector 'component-wise'.*valid"):
        CHOICES["sample_selector"].get("component-wise")


def test_stateful_round_trip():
    class Counter(Stateful):
        _state = ("count", "values")

        def __init__(self):
            self.count, self.values = 0, torch.zeros(2)

    a = Counter()
    a.count, a.values = 3, torch.tensor([1.0, 2.0])
    state = a.state_dict()
    a.values += 1  # the saved state is a copy
    b = Counter()
    b.load_state_dict(state)
    assert b.count == 3 and torch.equal(b.values, torch.tensor([1.0, 2.0]))
