# Documentation of the onshi-cert host agent (onshi_cert_agent.ps1). Not for playbooks: the onshi_cert
# modules call it. Its operations are written down in plugins/plugin_utils/agent/CONTRACT.md.
from __future__ import annotations

DOCUMENTATION = r"""
module: onshi_cert_agent
short_description: The onshi-cert host agent (internal; called by the onshi_cert modules)
description:
  - A small Windows PowerShell 5.1 module using the .NET X509Store API and no C# utilities, that runs
    a list of primitive certificate operations in order, stopping at the first failure.
  - Operations - C(host_info), C(list_certs), C(import_pfx), C(add_cert), C(remove_cert),
    C(export_pfx), C(assert_cert), C(write_file). The contract is C(plugins/plugin_utils/agent/CONTRACT.md).
  - Use M(onshi.cert.onshi_cert_info), M(onshi.cert.onshi_cert) and M(onshi.cert.onshi_cert_backup) instead; they decide on the
    controller and call this agent.
version_added: "0.1.0"
options:
  contract:
    description: The contract version of the request.
    type: int
    default: 1
  steps:
    description: The operations to run, each C({op, args}).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
    description: Refuses every changing operation in check mode.
requirements:
  - "On the controller: the Python package cryptography >= 42 (the collection's requirements.txt)."
  - "On the PC: Windows PowerShell 5.1 (Windows 10/11, Server 2016 or later), reached with the winrm or psrp connection."
seealso:
  - module: onshi.cert.onshi_cert
  - module: onshi.cert.onshi_cert_info
author:
  - onshi-cert developers (@onshi-cert)
"""

EXAMPLES = r"""
- name: Read host facts (for contract tests)
  onshi.cert.onshi_cert_agent:
    contract: 1
    steps:
      - op: host_info
        args: {}
"""

RETURN = r"""
steps:
  description: One report per step that ran, with C(ok) and C(result) or C(error).
  returned: always
  type: list
  elements: dict
  sample: [{"op": "host_info", "ok": true, "result": {"os_build": 19045}}]
contract:
  description: The contract version the agent speaks.
  returned: always
  type: int
  sample: 1
"""
