"""The tests' fork server (forkserver.py) runs ansible-playbook as a fresh process would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.integration import helpers

pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: Show what a run sees
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: {python}
  tasks:
    - name: List the local temporary folders
      ansible.builtin.command: bash -c 'ls -d "$HOME"/.ansible/tmp/ansible-local-*'
      register: seen
      changed_when: false
    - name: Fail when asked
      ansible.builtin.fail:
        msg: asked to fail
      when: fail | default(false) | bool
"""


def test_a_served_run_is_a_process_of_its_own(tmp_path, monkeypatch) -> None:
    """Each run has its own local temporary folder, removed when it ends (the server's own is gone before any
    run), and its own exit status; no folder named after an unrendered setting is left in the checkout."""
    playbook = tmp_path / "seen.yml"
    playbook.write_text(PLAYBOOK.format(python=sys.executable))
    monkeypatch.setattr(helpers, "FORK_SERVER", True)
    for fail, rc in ((False, 0), (True, 2), (False, 0)):
        run = helpers.run_playbook(playbook, Path("localhost,"), extra_vars={"fail": fail})
        assert run.rc == rc, run.stdout[-2000:]
        server = helpers.last_server
        assert server is not None and server.last_pid, "the run was not served"
        folders = run.last("localhost", "List the local temporary folders")["result"]["stdout_lines"]
        mine = [folder for folder in folders if f"/ansible-local-{server.last_pid}" in folder]
        assert len(mine) == 1, (server.last_pid, folders)
        assert not Path(mine[0]).exists(), f"{mine[0]} was left behind"
        assert not any(f"/ansible-local-{server.process.pid}" in folder for folder in folders), folders
    # ansible-core's setting unrendered once made a folder '{{ ANSIBLE_HOME ~ "/tmp" }}' in the checkout
    assert not [name for name in os.listdir(helpers.ROOT) if "{" in name]
