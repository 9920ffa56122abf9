"""ovis.registry: registration, building with checked options, look-up errors, listings."""
import dataclasses

import pytest

from ovis.registry import Entry, Registry, RegistryError


def make():
    reg = Registry("shape")

    @reg.register("square", aliases=("sq",))
    class Square:
        """A square."""

        def __init__(self, side: float = 1.0, *, filled: bool = False):
            self.side, self.filled = side, filled

    @reg.register("rect", reserved=("unit",), help="a rectangle")
    def rect(unit, width: float = 1.0, height: float = 2.0):
        return (unit, width * height)

    @reg.register("free")
    def free(**options):
        """Takes anything."""
        return options

    return reg, Square


def test_build_passes_reserved_arguments_and_options():
    reg, Square = make()
    square = reg.build("square", side=3.0, filled=True)
    assert isinstance(square, Square) and (square.side, square.filled) == (3.0, True)
    assert reg.build("rect", "cm", width=2.0) == ("cm", 4.0)
    assert reg.build("sq").side == 1.0  # alias
    assert reg.build("free", anything=1) == {"anything": 1}


@pytest.mark.parametrize("name,options,bad,hint", [("square", {"sid": 2}, "sid", "side"),
                                                   ("rect", {"hieght": 1}, "hieght", "height"),
                                                   ("rect", {"depth": 1}, "depth", None)])
def test_unknown_option_is_an_error_naming_it_and_the_valid_ones(name, options, bad, hint):
    reg, _ = make()
    with pytest.raises(RegistryError) as info:
        reg.build(name, **options)
    msg = str(info.value)
    assert repr(bad) in msg and f"shape {name!r}" in msg and "valid options are" in msg
    assert (f"did you mean {hint!r}" in msg) == (hint is not None)
    assert isinstance(info.value, ValueError)


def test_unknown_name_lists_the_valid_names_and_close_matches():
    reg, _ = make()
    with pytest.raises(RegistryError, match=r"unknown shape 'squre' \(did you mean 'square'.*\); "
                                            r"valid shapes are \['free', 'rect', 'square'\]"):
        reg.get("squre")
    with pytest.raises(RegistryError, match="must be a string"):
        reg.get(3)


def test_names_are_unique_including_aliases():
    reg, _ = make()
    for name in ("square", "sq"):
        with pytest.raises(RegistryError, match="already registered"):
            reg.add(name, dict)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("new", dict, aliases=("rect",))


def test_entries_options_defaults_and_listing():
    reg, Square = make()
    assert reg.names() == ["free", "rect", "square"] and list(reg) == reg.names() and len(reg) == 3
    assert "sq" in reg and "circle" not in reg
    entry = reg.get("square")
    assert isinstance(entry, Entry) and entry.builder is Square and entry.help == "A square."
    assert list(entry.options()) == ["side", "filled"] and entry.defaults() == {"side": 1.0, "filled": False}
    assert list(reg.get("rect").options()) == ["width", "height"]  # the reserved argument is not an option
    assert reg.get("free").accepts_any() and not entry.accepts_any()
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "other"
    lines = reg.describe().splitlines()
    assert lines == ["free    Takes anything.", "rect    a rectangle  [width, height]",
                     "square  A square.  [side, filled]"]
    assert Registry("posterior").describe() == "(no posteriors registered)"
    assert repr(reg) == "Registry('shape', ['free', 'rect', 'square'])"


def test_check_options_returns_the_entry_before_anything_is_built():
    reg, _ = make()
    built = []
    reg.add("counted", lambda n=1: built.append(n))
    assert reg.check_options("counted", {"n": 2}).name == "counted"
    with pytest.raises(RegistryError):
        reg.build("counted", m=2)
    assert built == []
