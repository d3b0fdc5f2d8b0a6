"""option_vars: the roles' options read from variables in the action (no template per option per PC)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.onshi.cert.plugins.action.onshi_cert_info import ActionModule as InfoAction
from ansible_collections.onshi.cert.plugins.action.onshi_cert_report import ActionModule as ReportAction

try:
    from ansible.template import trust_as_template  # ansible-core 2.19 and later
except ImportError:  # earlier releases template any string

    def trust_as_template(value: str) -> str:
        return value


def resolve(
    args: dict[str, Any],
    task_vars: dict[str, Any],
    action_class: type = InfoAction,
    known: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the task's arguments after ``options_from_variables`` (``known``: variables templated already)."""
    action = object.__new__(action_class)
    action._task = SimpleNamespace(args=dict(args))
    action._templar = Templar(loader=DataLoader(), variables=task_vars)
    action.options_from_variables(task_vars, "pc-01", known or {})
    return action._task.args


def test_each_option_comes_from_its_variable_and_templates_resolve() -> None:
    task_vars = {
        "data_dir": "/srv/onshi",
        "role_backup_dir": trust_as_template("{{ data_dir ~ '/backups' }}"),
        "codes": ["0110113719"],
        "expiry": False,
    }
    args = resolve(
        {"option_vars": {"backup_dir": "role_backup_dir", "facility_codes": "codes", "expiry_only": "expiry"}},
        task_vars,
    )
    assert args == {"backup_dir": "/srv/onshi/backups", "facility_codes": ["0110113719"], "expiry_only": False}


def test_undefined_null_and_omit_leave_the_option_unset() -> None:
    task_vars = {
        "nothing": None,
        "omit": "__omit_place_holder__x",
        "omitted": trust_as_template("{{ omit }}"),
        "other": trust_as_template("{{ not_defined | default(omit) }}"),
    }
    option_vars = {"backup_dir": "nothing", "backup_password": "omitted", "trust_anchors": "other", "retire_codes": "x"}
    assert resolve({"option_vars": option_vars}, task_vars) == {}


def test_an_option_the_task_sets_wins_over_its_variable() -> None:
    args = resolve({"backup_dir": "/explicit", "option_vars": {"backup_dir": "role_dir"}}, {"role_dir": "/role"})
    assert args == {"backup_dir": "/explicit"}


def test_an_undefined_variable_inside_a_template_is_an_error_as_in_the_task_arguments() -> None:
    with pytest.raises(Exception, match="not_there"):
        resolve({"option_vars": {"backup_dir": "role_dir"}}, {"role_dir": trust_as_template("{{ not_there }}")})


def test_a_list_of_variables_takes_the_first_that_is_set_and_templates_no_further() -> None:
    task_vars = {
        "omit": "__omit_place_holder__x",
        "nothing": None,
        "omitted": trust_as_template("{{ omit }}"),
        "shared_dir": "/srv/shared",
        "never_read": trust_as_template("{{ not_defined_anywhere }}"),  # an error if it were templated
    }
    names = ["role_dir_not_defined", "nothing", "omitted", "shared_dir", "never_read"]
    assert resolve({"option_vars": {"backup_dir": names}}, task_vars) == {"backup_dir": "/srv/shared"}
    assert resolve({"option_vars": {"backup_dir": ["nothing", "omitted"]}}, task_vars) == {}
    # an empty string is set: '' stays the explicit "no backup folder" it is for a single variable
    assert resolve({"option_vars": {"backup_dir": ["empty", "shared_dir"]}}, {**task_vars, "empty": ""}) == {
        "backup_dir": ""
    }


def test_a_template_reached_in_a_list_is_rendered() -> None:
    task_vars = {"data_dir": "/srv/onshi", "fallback": trust_as_template("{{ data_dir ~ '/backups' }}")}
    args = resolve({"option_vars": {"backup_dir": ["role_backup_dir", "fallback"]}}, task_vars)
    assert args == {"backup_dir": "/srv/onshi/backups"}


@pytest.mark.parametrize(
    "mapping",
    [["backup_dir"], {"backup_dir": []}, {"backup_dir": [1]}, {"backup_dir": ["a", ""]}, {"backup_dir": 1}],
)
def test_a_malformed_mapping_is_refused_with_the_fix(mapping: Any) -> None:
    with pytest.raises(AnsibleActionFail, match=r"pc-01: \[ONSHI-E037\] option_vars: ") as raised:
        resolve({"option_vars": mapping}, {"a": 1})
    assert "p12_dir: onshi_cert_install_p12_dir" in raised.value.result["fix"]


def test_a_module_without_the_option_leaves_it_to_its_argument_check() -> None:
    """onshi_cert_report does not document option_vars: its argument check refuses it as unsupported."""
    args = {"option_vars": {"dest": "d"}}
    assert resolve(args, {"d": "/tmp"}, ReportAction) == args


def test_a_variable_the_role_check_templated_already_is_not_templated_again() -> None:
    """validate_role_variables hands over what it templated: the value is used as it is."""
    task_vars = {"role_dir": trust_as_template("{{ not_defined_here }}")}
    args = resolve({"option_vars": {"backup_dir": "role_dir"}}, task_vars, known={"role_dir": "/checked"})
    assert args == {"backup_dir": "/checked"}
