"""What an engineer types is checked before anything else: facility codes with their check digit, text typed as
text, a pinned root, the third-party packages present."""

from __future__ import annotations

import pytest
from ansible_collections.onshi.cert.plugins.plugin_utils import options, requirements
from ansible_collections.onshi.cert.plugins.plugin_utils.core.errors import OnshiCertError
from ansible_collections.onshi.cert.plugins.plugin_utils.core.facility import (
    is_valid_facility_code,
    luhn_check_digit,
    parse_facility_code,
)


def test_a_facility_code_needs_its_check_digit() -> None:
    assert luhn_check_digit("011011371") == 9
    assert is_valid_facility_code("0110113719")
    assert not is_valid_facility_code("0110113718")
    assert parse_facility_code("0110113719").code == "0110113719"


@pytest.mark.parametrize("value", [110113719, 1.5, True])
def test_numbers_where_text_is_required_are_refused_with_the_fix(value) -> None:
    with pytest.raises(OnshiCertError) as error:
        options.check_text_inputs({"facility_codes": [value]})
    assert "not text" in str(error.value) and "quote it" in error.value.fix


def test_a_bad_code_in_the_inventory_names_the_option() -> None:
    with pytest.raises(OnshiCertError, match="facility_codes"):
        options.expectations({"facility_codes": ["0110113718"], "trust_anchors": []})


def test_nothing_is_judged_without_a_pinned_root() -> None:
    expect = options.expectations({"facility_codes": ["0110113719"], "trust_anchors": []})
    with pytest.raises(OnshiCertError, match="no trust anchor"):
        options.require_anchors(expect)


def test_the_requirements_are_present() -> None:
    assert requirements.missing() == []


def test_a_shared_vault_is_checked_entry_by_entry() -> None:
    """One clinic's unquoted password in the fleet's vault stops only the PC that uses it (named), not every PC."""
    vault = {"pc01": "1234", "pc02": 420}
    options.check_text_inputs({"passwords": vault}, skip=options.SHARED_OPTIONS)
    assert options.text_entry("passwords", "pc01", vault["pc01"]) == "1234"
    with pytest.raises(OnshiCertError) as error:
        options.text_entry("passwords", "pc02", vault["pc02"])
    assert "passwords['pc02']" in str(error.value) and "'0644'" in error.value.fix
