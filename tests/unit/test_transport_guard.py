"""The guard that keeps certificates and passwords off a readable wire, for winrm and psrp connections alike."""

from __future__ import annotations

import pytest

from onshi_cert.agent_session import insecure_transport


class Connection:
    """A stand-in for a connection plugin: its transport name and its resolved options."""

    def __init__(self, kind: str, **options) -> None:
        self.transport = kind
        self.options = options

    def get_option(self, name: str):
        return self.options.get(name)


@pytest.mark.parametrize(
    ("connection", "unsafe"),
    [
        (Connection("psrp", protocol="http", auth="basic"), "Basic authentication over plain HTTP (psrp)"),
        (Connection("psrp", port=5985, auth="basic"), "Basic authentication over plain HTTP (psrp)"),
        (Connection("psrp", protocol="http", auth="certificate"), "Certificate authentication over plain HTTP (psrp)"),
        (Connection("psrp", protocol="http", auth="ntlm", message_encryption="never"), "message encryption turned off"),
        (Connection("psrp", protocol="http", auth="ntlm"), None),
        (Connection("psrp", protocol="https", auth="basic"), None),
        (Connection("psrp", port=5986, auth="basic"), None),
        (Connection("winrm", scheme="http", transport=["basic"]), "Basic authentication over plain HTTP"),
        (Connection("winrm", scheme="https", transport=["basic"]), None),
        (Connection("ssh"), None),
    ],
)
def test_plain_http_is_refused_unless_messages_are_encrypted(connection, unsafe) -> None:
    """psrp over plain HTTP with Basic (or certificate auth, or encryption off) is refused, as winrm is."""
    reason = insecure_transport(connection, {})
    assert (reason is None) if unsafe is None else (reason is not None and unsafe in reason)


@pytest.mark.parametrize("name", ["backup_dir", "p12_dir", "dest"])
def test_data_inside_an_installed_collection_is_refused(tmp_path, name) -> None:
    """Backups, .p12 files and reports never live where 'ansible-galaxy collection install --force' deletes."""
    from onshi_cert.action_frame import refuse_collection_paths
    from onshi_cert.core.errors import OnshiCertError

    inside = tmp_path / "collections" / "ansible_collections" / "onshi" / "cert" / "backups"
    with pytest.raises(OnshiCertError, match="ansible-galaxy collection install --force"):
        refuse_collection_paths({name: str(inside)})
    refuse_collection_paths({name: str(tmp_path / "onshi-cert-data" / "backups")})  # a folder of one's own


@pytest.mark.parametrize(
    ("connection", "endpoint"),
    [
        (Connection("winrm", remote_addr="pc01", port=443), ("pc01", 443, True)),  # no scheme: https but on 5985
        (Connection("winrm", remote_addr="pc01", port=5985), ("pc01", 5985, False)),
        (Connection("psrp", remote_addr="pc01"), ("pc01", 5986, True)),  # psrp's own default
        (Connection("psrp", remote_addr="pc01", protocol="http"), ("pc01", 5985, False)),
    ],
)
def test_the_listener_check_and_the_guard_see_the_plugins_endpoint(connection, endpoint) -> None:
    """The listener pin and the transport guard read the endpoint as the winrm and psrp plugins choose it."""
    from onshi_cert.agent_session import connection_endpoint

    assert connection_endpoint(connection, "pc01") == endpoint
