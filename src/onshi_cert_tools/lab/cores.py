"""What each ansible-core release sends to run a PowerShell module, learnt from that release itself.

The lab accepts a WinRM command only when it is exactly what a real ansible-core sends: its bootstrap
script on the command line, its exec wrapper and every script its wrappers load in the input. Releases
differ (2.16-2.18 send the exec wrapper and a JSON manifest split by four NULs; 2.19 and later a
bootstrap input and a manifest of actions; 2.21 strips the bootstrap's comments and sends the whole
command line as one string), so the lab asks each installed release, with its own code, what it sends.

:func:`describe_core` imports nothing but ansible-core and the standard library, so that it can run
inside another release's interpreter (``python -c``) without onshi-cert installed there. The lab's
own release is always known; more are named by ``ONSHI_LAB_ANSIBLE_CORES`` (interpreter paths,
separated by ``os.pathsep``), as the version matrix of ``scripts/matrix.sh`` does.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

ENVIRONMENT = "ONSHI_LAB_ANSIBLE_CORES"


def describe_core() -> dict[str, Any]:
    """Describe the running ansible-core's PowerShell payload (run inside that release's interpreter)."""
    import pkgutil

    from ansible.executor.powershell import module_manifest as manifest
    from ansible.release import __version__

    try:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()
    except ImportError:  # pragma: no cover - releases before 2.15 initialise on import
        pass

    def raw(name: str) -> str:
        data = pkgutil.get_data("ansible.executor.powershell", name)
        return data.decode("utf-8") if data else ""

    bootstrap = raw("bootstrap_wrapper.ps1")
    bootstraps = {"\n".join(line.strip() for line in bootstrap.splitlines() if line.strip())}  # <= 2.20
    exec_wrappers = {raw("exec_wrapper.ps1")}
    legacy = hasattr(manifest.PSModuleDepFinder(), "exec_scripts")
    if hasattr(manifest, "_get_powershell_script"):
        for name, found in (("bootstrap_wrapper.ps1", bootstraps), ("exec_wrapper.ps1", exec_wrappers)):
            found.add(manifest._get_powershell_script(name).decode("utf-8"))  # 2.21 strips the bootstrap

    def needed(*wrappers: str) -> list[str]:
        finder = manifest.PSModuleDepFinder()
        for wrapper in wrappers:
            finder.scan_exec_script(wrapper)
        if legacy:
            return sorted([*finder.ps_modules, *finder.cs_utils_wrapper])
        return sorted(finder.scripts)

    if legacy:
        finder = manifest.PSModuleDepFinder()
        finder.scan_exec_script("exec_wrapper")
        exec_wrappers = {(finder.exec_scripts["exec_wrapper"] + b"\n\n").decode("utf-8")}
        module, become = needed("module_powershell_wrapper"), needed("exec_wrapper", "become_wrapper")
    else:
        module, become = needed("module_wrapper.ps1"), needed("exec_wrapper.ps1", "become_wrapper.ps1")
    return {
        "version": __version__,
        "style": "legacy" if legacy else "actions",
        "bootstraps": sorted(bootstraps),
        "exec_wrappers": sorted(exec_wrappers),
        "needed_module": module,
        "needed_become": become,
    }


@dataclass(frozen=True)
class Core:
    """One ansible-core release as the lab recognises it."""

    version: str
    style: str  # "legacy" (2.16-2.18) or "actions" (2.19 and later)
    bootstraps: frozenset[str]
    exec_wrappers: frozenset[str]
    needed_module: frozenset[str]
    needed_become: frozenset[str]

    @classmethod
    def from_description(cls, data: dict[str, Any]) -> Core:
        return cls(
            version=data["version"],
            style=data["style"],
            bootstraps=frozenset(data["bootstraps"]),
            exec_wrappers=frozenset(data["exec_wrappers"]),
            needed_module=frozenset(data["needed_module"]),
            needed_become=frozenset(data["needed_become"]),
        )


def _ask(python: str) -> Core:
    """Describe the ansible-core installed for ``python`` by running describe_core() in it."""
    source = inspect.getsource(describe_core)
    code = f"from __future__ import annotations\nimport json\nfrom typing import Any\n{source}\n"
    code += "print(json.dumps(describe_core()))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{python} could not describe its ansible-core: {proc.stderr.strip()[-500:]}")
    return Core.from_description(json.loads(proc.stdout.strip().splitlines()[-1]))


@functools.cache
def known_cores() -> tuple[Core, ...]:
    """Return the lab's own ansible-core and those named by ONSHI_LAB_ANSIBLE_CORES."""
    cores = [Core.from_description(describe_core())]
    for python in filter(None, os.environ.get(ENVIRONMENT, "").split(os.pathsep)):
        cores.append(_ask(python))
    return tuple(cores)
