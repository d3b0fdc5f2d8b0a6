"""Build the exact exec payload Ansible (2.19+) sends to run the agent, for callers without Ansible's
task machinery: the lab's wire tests, the real-Windows kit and direct pywinrm checks (part of the kit, not of the
collection).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import importlib
import json
import pkgutil
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from onshi_cert.agent.contract import AGENT_FILE, agent_script
from onshi_cert.collection import collection_root

COMMON_ARGS = ["PowerShell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted"]


def _ansible_script(name: str) -> bytes:
    data = pkgutil.get_data("ansible.executor.powershell", name)
    if data is None:  # pragma: no cover
        raise RuntimeError(f"ansible-core lacks {name}")
    return data


def command_line() -> tuple[str, list[str]]:
    """Return the command and arguments that start ``bootstrap_wrapper.ps1``, as Ansible encodes it."""
    script = _ansible_script("bootstrap_wrapper.ps1").decode()
    script = "\n".join(line.strip() for line in script.splitlines() if line.strip())
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    return COMMON_ARGS[0], [*COMMON_ARGS[1:], "-EncodedCommand", encoded]


#: The agent as ansible-core names it when it builds the payload: its relative module util import
#: (``#AnsibleRequires -PowerShell ..module_utils.OnshiCertRequest``) is resolved from this name.
AGENT_FQN = f"ansible_collections.onshi.cert.plugins.modules.{AGENT_FILE.removesuffix('.ps1')}"


@functools.cache
def _plugin_loader() -> Any:
    """Initialise ansible-core's plugin loader once per process, with this collection importable as
    ``ansible_collections.onshi.cert`` (as an installed collection is), and return the become loader."""
    from ansible.plugins.loader import become_loader, init_plugin_loader
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    # Ansible's collection finder already set up in this process (a test, a plugin) finds this collection; else it is
    # set up here with it. Nothing is imported before: with the ansible package installed, importing
    # ansible_collections first would bind it to site-packages' copy, where this collection is not.
    if any(isinstance(finder, _AnsibleCollectionFinder) for finder in sys.meta_path):
        init_plugin_loader()
    else:
        init_plugin_loader(_collections_path())
    with contextlib.suppress(ImportError):
        importlib.import_module("ansible_collections.onshi.cert.plugins.module_utils")
    return become_loader


def _collections_path() -> list[str]:
    """A collections path that holds this collection: the one it is installed in, else a folder of this process's
    own with ``ansible_collections/onshi/cert`` linked to the checkout (removed when the process ends)."""
    root = collection_root()
    if root.parent.name == "onshi" and root.parent.parent.name == "ansible_collections":
        return [str(root.parent.parent.parent)]
    folder = Path(tempfile.mkdtemp(prefix="onshi-cert-collections-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    link = folder / "ansible_collections" / "onshi" / "cert"
    link.parent.mkdir(parents=True)
    link.symlink_to(root, target_is_directory=True)
    return [str(folder)]


def _runas(become_user: str, become_password: str | None) -> Any:
    """Return ansible-core's runas become plugin set up as a task with ``become`` would have it."""
    plugin = _plugin_loader().get("runas")
    options: dict[str, Any] = {"become_user": become_user}
    if become_password is not None:
        options["become_pass"] = become_password
    plugin.set_options(direct=options)
    return plugin


def stdin_for(
    complex_args: dict[str, Any],
    *,
    script: bytes | None = None,
    module_name: str = AGENT_FILE,
    become_user: str | None = None,
    become_password: str | None = None,
) -> bytes:
    """Return the bootstrap input that runs ``script`` (the agent by default) with ``complex_args``.

    Built by ansible-core's own ``module_manifest`` (the code ``_execute_module`` uses), so a become
    payload carries every script ``become_wrapper.ps1`` loads; nothing here is assembled by hand.
    """
    from ansible.executor.powershell import module_manifest

    _plugin_loader()  # the agent's module util is found through the collection loader
    return module_manifest._create_powershell_wrapper(
        name=AGENT_FQN if module_name == AGENT_FILE else module_name.removesuffix(".ps1"),
        module_data=script if script is not None else agent_script(),
        module_path=module_name,
        module_args=dict(complex_args),
        environment={},
        async_timeout=0,
        become_plugin=_runas(become_user, become_password) if become_user is not None else None,
        substyle="powershell",
        task_vars={},
        profile="legacy",
    )


def run(protocol: Any, complex_args: dict[str, Any], **options: Any) -> dict[str, Any]:
    """Run the agent through an open pywinrm ``Protocol`` and return its JSON answer."""
    shell = protocol.open_shell(codepage=65001)
    try:
        command, arguments = command_line()
        command_id = protocol.run_command(shell, command, arguments, console_mode_stdin=False)
        protocol.send_command_input(shell, command_id, stdin_for(complex_args, **options), end=True)
        stdout, stderr, rc = protocol.get_command_output(shell, command_id)
        protocol.cleanup_command(shell, command_id)
    finally:
        protocol.close_shell(shell)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise RuntimeError(f"the agent did not answer with JSON (rc {rc}): {stdout[:300]!r} {stderr[:300]!r}") from exc
