"""Tests for eqn_core.io.names: one safe-name rule for data sets, run ids and profiles, in the library and the CLI."""
import pytest

from eqn_core.io.names import MAX_NAME_LENGTH, check_safe_name, is_safe_name, safe_name_from


@pytest.mark.parametrize("name", ["goemotions", "goemotions-eqn", "run-1.model1", "my_emotions_v2", "A.b-c_d",
                                  "x" * MAX_NAME_LENGTH])
def test_safe_names_pass(name):
    assert check_safe_name(name, "run id") == name


@pytest.mark.parametrize("name, message", [
    ("../../outside/appds", "contains '..'"), ("..", "contains '..'"), (".", "may not contain"),
    (".hidden", "may not contain"), ("/abs/path", "may not contain '/'"), ("a/b", "may not contain '/'"),
    ("a\\b", "may not contain '\\\\\\\\'"), ("", "is empty"), ("   ", "is empty"), ("a b", "may not contain ' '"),
    ("x" * (MAX_NAME_LENGTH + 1), "characters long"), ("nul\x00byte", "may not contain"), ("[link](http://e)", "'\\['"),
    (None, "is empty"), (5, "is empty"),
])
def test_unsafe_names_refused_with_the_rule(name, message):
    with pytest.raises(ValueError, match=message) as error:
        check_safe_name(name, "data set name")
    assert "data set name" in str(error.value) and "letters, digits" in str(error.value)


def test_profile_names_may_hold_a_colon_only_when_asked():
    assert check_safe_name("goemotions-eqn:tuned-on-dev", "profile name", profile=True)
    assert not is_safe_name("goemotions-eqn:tuned-on-dev")


def test_safe_name_from_any_text():
    assert safe_name_from("../../outside/appds") == "outside-appds"
    assert safe_name_from("my data (v2)") == "my-data-v2"
    assert safe_name_from("...") == "name"
    assert is_safe_name(safe_name_from("a/../b c"))
