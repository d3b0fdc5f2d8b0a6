"""The roles' data-folder default, rendered by Ansible's own templating: onshi_cert_data_dir, else beside the
inventory file, else ~/.local/share (a host-list inventory such as ``-i pc01,`` has no folder: Ansible then sets
inventory_dir to the text "None", which must never become a relative folder named None)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template  # ansible-core 2.19 and later
except ImportError:  # earlier releases template any string

    def trust_as_template(value: str) -> str:
        return value


ROLES = Path(__file__).resolve().parents[3] / "roles"
DEFAULTS = sorted(ROLES.glob("*/defaults/main.yml"))


def data_dir(defaults: Path, variables: dict) -> str:
    role = defaults.parents[1].name
    expression = yaml.safe_load(defaults.read_text(encoding="utf-8"))[f"__{role}_data_dir"]
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.mark.parametrize("defaults", DEFAULTS, ids=[p.parents[1].name for p in DEFAULTS])
def test_the_data_folder_default_of_each_role(defaults: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", "/home/engineer")
    assert data_dir(defaults, {"onshi_cert_data_dir": "/srv/onshi", "inventory_dir": "/srv/inv"}) == "/srv/onshi"
    assert data_dir(defaults, {"onshi_cert_data_dir": "", "inventory_dir": "/srv/inv"}) == "/srv/inv/onshi-cert-data"
    assert data_dir(defaults, {"inventory_dir": "/srv/inv"}) == "/srv/inv/onshi-cert-data"
    home = "/home/engineer/.local/share/onshi-cert-data"
    assert data_dir(defaults, {"inventory_dir": "None"}) == home  # ansible-playbook -i pc01,
    assert data_dir(defaults, {"inventory_dir": None}) == home
    assert data_dir(defaults, {}) == home
