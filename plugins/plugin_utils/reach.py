"""Why a PC could not be reached, in the reader's words, from what its connection said.

The markers are what requests, urllib3, pywinrm, pypsrp and the operating system say (English, whatever the
controller's locale); they choose the cause and are never shown. The recap says the cause with ONSHI-E093's fix;
Ansible's own output above the recap keeps the whole text.
"""

from __future__ import annotations

import re

from .i18n import N_
from .i18n import say as _

#: (markers, the cause): the first cause any of whose markers the connection's line holds.
CAUSES = (
    (("Connection refused",), N_("{where} refused the connection: nothing listens there (WinRM port or listener)")),
    (("timed out", "Timeout"), N_("{where} did not answer in time (powered off, asleep, or a firewall drops it)")),
    (
        ("Name or service not known", "name resolution", "nodename nor servname", "getaddrinfo failed"),
        N_("the name {host} is not known (DNS, or the inventory's ansible_host)"),
    ),
    (("No route to host", "Network is unreachable"), N_("no route to {where} (the network or the VPN is down)")),
    (
        ("credentials were rejected", "Failed to authenticate", "401 Unauthorized", "status code 401"),
        N_("the PC refused the user name or the password"),
    ),
    (("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"), N_("the PC's HTTPS certificate is not trusted")),
)
#: The address urllib3 names in its errors: HTTPConnectionPool(host='192.0.2.11', port=5985)
ADDRESS = re.compile(r"host='([^']+)', port=(\d+)")


def connection_cause(line: str) -> str:
    """Return the cause of an unreachable PC in the reader's words (with the address when known); else ``line``."""
    address = ADDRESS.search(line)
    where = f"{address.group(1)}:{address.group(2)}" if address else _("the PC")
    for markers, text in CAUSES:
        if any(marker in line for marker in markers):
            if "{host}" in text and not address:
                return _("the PC's name is not known (DNS, or the inventory's ansible_host)")
            return _(text, where=where, host=address.group(1) if address else "")
    return line
