"""The collection's third-party Python packages (its requirements.txt) and which of them this controller lacks.

Every module of plugin_utils guards its import of them, so that Ansible (and ansible-test) can load the
plugins anywhere; an action plugin then stops before any work and says what to install, here.
"""

from __future__ import annotations

import importlib.util

#: import name -> what to install (as in requirements.txt)
PACKAGES = {"cryptography": "cryptography>=42,<49", "openpyxl": "openpyxl>=3.1,<4"}


_found: list[str] | None = None


def missing() -> list[str]:
    """Return the requirement lines of the packages that cannot be imported here.

    Once all are found, that answer is kept for the process (the ansible-playbook parent finds them once, in
    ``warmup``, for every worker it forks); a package found missing is looked for again at the next call.
    """
    global _found
    if _found is not None:
        return []
    absent = [requirement for module, requirement in PACKAGES.items() if importlib.util.find_spec(module) is None]
    if not absent:
        _found = list(PACKAGES)
    return absent
