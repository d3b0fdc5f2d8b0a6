"""The parent's warm-up: each step works on this controller (warm() hides a step's failure, which would only
cost speed: these tests are where such a failure shows)."""

from __future__ import annotations

import pytest

from onshi_cert import requirements, warmup


@pytest.mark.parametrize("step", ["_crypto", "_requirements", "_imports", "_role_specs"])
def test_each_warm_up_step_runs_here(step: str) -> None:
    getattr(warmup, step)()


def test_the_requirements_found_once_are_not_looked_for_again(monkeypatch) -> None:
    warmup._requirements()
    assert set(requirements.PACKAGES) <= requirements._found
    looked_for = []
    monkeypatch.setattr(requirements.importlib.util, "find_spec", lambda name: looked_for.append(name))
    assert requirements.missing() == []
    assert looked_for == []


def test_warm_up_runs_only_in_the_ansible_playbook_parent(monkeypatch) -> None:
    """Outside ansible-playbook (onshi-cert itself, a test) nothing is warmed."""
    ran = []
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "_crypto", lambda: ran.append("crypto"))
    monkeypatch.setattr(warmup, "in_ansible_parent", lambda: False)
    warmup.warm()
    assert ran == []
    monkeypatch.setattr(warmup, "in_ansible_parent", lambda: True)
    for step in ("_templating", "_powershell", "_imports", "_role_specs", "_requirements"):
        monkeypatch.setattr(warmup, step, lambda: None)
    warmup.warm()
    warmup.warm()  # once per process
    assert ran == ["crypto"]


def test_a_warm_up_step_that_fails_is_said_at_vvvv(monkeypatch) -> None:
    """A failing step leaves its cache empty and says so at -vvvv; the other steps still run."""
    said, ran = [], []
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "in_ansible_parent", lambda: True)
    monkeypatch.setattr(warmup, "_debug", said.append)

    def broken() -> None:
        raise OSError("no such folder")

    for step in ("_templating", "_powershell", "_imports", "_role_specs", "_requirements"):
        monkeypatch.setattr(warmup, step, lambda: ran.append("step"))
    monkeypatch.setattr(warmup, "_crypto", broken)
    warmup.warm()
    assert said == ["onshi-cert: warm-up step broken skipped: OSError: no such folder"]
    assert ran == ["step"] * 5
