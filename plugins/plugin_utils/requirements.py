"""The collection's third-party Python packages (its requirements.txt) and which of them this controller lacks.

Every module of plugin_utils guards its import of them, so that Ansible (and ansible-test) can load the
plugins anywhere; an action plugin then stops before any work and says what to install, here.
"""

from __future__ import annotations

import importlib.util

#: import name -> what to install (as in requirements.txt)
PACKAGES = {
    "cryptography": "cryptography>=42,<49",
    "openpyxl": "openpyxl>=3.1,<4",
    "sqlalchemy": "SQLAlchemy>=2.0,<2.2",
}


#: The packages found importable in this process (the ansible-playbook parent looks once, in ``warmup``, for
#: every worker it forks); one not found is looked for again at the next call.
_found: set[str] = set()


def missing() -> list[str]:
    """Return the requirement lines of the packages that cannot be imported here."""
    absent = []
    for module, requirement in PACKAGES.items():
        if module in _found:
            continue
        if importlib.util.find_spec(module) is None:
            absent.append(requirement)
        else:
            _found.add(module)
    return absent
