"""Each action plugin loads through the collection loader, checks mode support, and keeps passwords out of logs."""

from __future__ import annotations

import importlib

import pytest

PLUGINS = [
    "onshi_cert",
    "onshi_cert_info",
    "onshi_cert_backup",
    "onshi_cert_report",
    "onshi_cert_workdocs",
    "onshi_cert_store",
]


@pytest.mark.parametrize("name", PLUGINS)
def test_the_plugin_loads_and_supports_check_mode(name: str) -> None:
    plugin = importlib.import_module(f"ansible_collections.onshi.cert.plugins.action.{name}")
    assert plugin.ActionModule._supports_check_mode is True
    assert plugin.ActionModule._supports_async is False


@pytest.mark.parametrize("name", PLUGINS)
def test_every_password_option_is_no_log(name: str) -> None:
    plugin = importlib.import_module(f"ansible_collections.onshi.cert.plugins.action.{name}")
    spec = plugin.ActionModule.SPEC["argument_spec"]
    for option, settings in spec.items():
        if "password" in option:
            assert settings.get("no_log") is True, option
