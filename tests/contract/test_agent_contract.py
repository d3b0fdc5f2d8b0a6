"""The agent contract, checked the same way against the lab and (when given) a real Windows PC."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert.agent.contract import HR_INVALID_PASSWORD, b64, unseal
from onshi_cert.core.certinfo import thumbprint
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12
from onshi_cert_tools.factory import CertificateFactory

pytestmark = pytest.mark.integration
MY = "CurrentUser\\My"
CODE = "4760177776"  # a facility code no test PC expects


@pytest.fixture(scope="module")
def issued():
    """A throw-away certificate from a test CA (removed again by the tests)."""
    return CertificateFactory().leaf(CODE, days_left=30)


def test_host_info_shape(target) -> None:
    """host_info answers every field of the contract; become gives the operator with DPAPI."""
    answer = target.run([{"op": "host_info", "args": {"read_files": ["C:\\onshi-cert-no-such-file.txt"]}}])
    result = answer["steps"][0]["result"]
    assert answer["contract"] == 1 and answer["failed"] is False
    assert set(result) >= {
        "computer_name",
        "os_build",
        "os_version",
        "ps_version",
        "user",
        "is_admin",
        "logon_type",
        "dpapi",
        "files",
    }
    assert isinstance(result["os_build"], int) and result["ps_version"].startswith("5.1")
    assert result["user"].split("\\")[-1].lower() == target.operator.lower()
    assert result["dpapi"] is True
    assert result["files"] == {"C:\\onshi-cert-no-such-file.txt": None}


def test_import_verify_export_remove_cycle(target, issued) -> None:
    """A PFX imports with an exportable, usable key; it exports, verifies and is removed with its key."""
    thumb = thumbprint(issued.cert)
    pfx = issued.p12("One-Time-1", Encryption.TRIPLE_DES, include_chain=False)
    try:
        answer = target.run(
            [
                {"op": "import_pfx", "args": {"store": MY, "pfx": b64(pfx), "password": "One-Time-1"}},
                {
                    "op": "assert_cert",
                    "args": {
                        "store": MY,
                        "thumbprint": thumb,
                        "expect": {"has_private_key": True, "key_usable": True, "key_exportable": True},
                    },
                },
                {"op": "export_pfx", "args": {"store": MY, "thumbprint": thumb, "password": "Back-2"}},
                {
                    "op": "list_certs",
                    "args": {
                        "store": MY,
                        "export_password": "Back-3",
                    },
                },
            ]
        )
        assert answer["failed"] is False, answer.get("msg")
        assert answer["steps"][0]["result"]["thumbprint"] == thumb and answer["changed"] is True
        exported = load_pkcs12(unseal(answer["steps"][2]["result"]["pfx"], "Back-2"), "Back-2")
        assert thumbprint(exported.leaf) == thumb
        rows = answer["steps"][3]["result"]["certificates"]
        mine = [r for r in rows if r["der"] == base64.b64encode(issued.cert.public_bytes(Encoding.DER)).decode()]
        assert mine and mine[0]["has_private_key"] and "pfx" in mine[0]
        again = target.run([{"op": "import_pfx", "args": {"store": MY, "pfx": b64(pfx), "password": "One-Time-1"}}])
        assert again["steps"][0]["result"]["already_present"] is True and again["changed"] is False
    finally:
        removed = target.run([{"op": "remove_cert", "args": {"store": MY, "thumbprint": thumb}}])
    assert removed["steps"][0]["result"] == {"thumbprint": thumb, "removed": True, "key_deleted": True}
    listing = target.run([{"op": "list_certs", "args": {"store": MY}}])
    assert all(
        r["der"] != base64.b64encode(issued.cert.public_bytes(Encoding.DER)).decode()
        for r in listing["steps"][0]["result"]["certificates"]
    )


def test_wrong_pfx_password_is_windows_message(target, issued) -> None:
    """A wrong PFX password fails with Windows' own message in the agreed shape, and stops later steps."""
    pfx = issued.p12("right", Encryption.TRIPLE_DES, include_chain=False)
    answer = target.run(
        [
            {"op": "import_pfx", "args": {"store": MY, "pfx": b64(pfx), "password": "wrong"}},
            {"op": "host_info", "args": {}},
        ]
    )
    assert answer["failed"] is True and len(answer["steps"]) == 1
    assert answer["msg"].startswith(f"Failed to import '{MY}': ")  # the rest is Windows' (localized) text
    assert answer["steps"][0]["hresult"] == HR_INVALID_PASSWORD


def test_check_mode_refuses_changes(target) -> None:
    """In check mode a changing operation is refused; reading still works."""
    answer = target.run(
        [{"op": "host_info", "args": {}}, {"op": "remove_cert", "args": {"store": MY, "thumbprint": "00" * 20}}],
        check=True,
    )
    assert answer["steps"][0]["ok"] is True
    assert answer["msg"] == f"Failed to remove '{'00' * 20}': refusing a change in check mode"


def test_unknown_operation_shape(target) -> None:
    """An operation outside the contract is refused by name."""
    answer = target.run([{"op": "format_disk", "args": {}}])
    assert answer["msg"] == "Failed to run 'format_disk': unknown operation (contract version 1)"
