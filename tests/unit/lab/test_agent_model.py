"""The lab's Windows model answers the agent contract as Windows would, behaviour by behaviour."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert.agent.contract import (
    WIN_ACCESS_DENIED,
    WIN_BAD_PASSWORD,
    WIN_CANCELED,
    WIN_KEY_NOT_EXPORTABLE,
    ContractError,
    b64,
    unseal,
)
from onshi_cert.core.errors import Pkcs12Error
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12
from onshi_cert_tools.lab.agent_model import Interrupted, run_agent
from onshi_cert_tools.lab.fleet import LabCA, build_hosts
from onshi_cert_tools.lab.windows import Session, WindowsHost

OPERATOR = Session("OQSComApp", admin=False, logon_type="interactive", dpapi=True, become=True)
ADMIN_NETWORK = Session("Administrator", admin=True, logon_type="network", dpapi=False)
S4U = Session("OQSComApp", admin=False, logon_type="interactive", dpapi=False, become=True)


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LabCA:
    """Return a lab CA made for this module."""
    return LabCA.load_or_create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def host(ca: LabCA) -> WindowsHost:
    """Return a fresh PC holding one valid, one non-exportable and one key-less certificate."""
    fleet = {
        "hosts": [
            {
                "name": "pc01",
                "facility_codes": ["3410712362"],
                "certs": [
                    {"code": "3410712362", "days_left": 400},
                    {"code": "3410712362", "days_left": 300, "exportable": False},
                    {"code": "3410712362", "days_left": 200, "key": False},
                ],
            }
        ]
    }
    return build_hosts(fleet, ca)[0]


def thumb_of(row: dict) -> str:
    """Return the thumbprint of a listed certificate."""
    return hashlib.sha1(base64.b64decode(row["der"])).hexdigest().upper()


def listing(host) -> list[dict]:
    """Return the operator's My store as list_certs answers it (no key opened)."""
    return step(run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\My"})))["result"]["certificates"]


def run(host, session, *steps, check=False):
    return run_agent(
        host, session, {"steps": [{"op": op, "args": args} for op, args in steps], "_ansible_check_mode": check}
    )


def step(answer, index=0):
    return answer["steps"][index]


def test_current_user_is_whoever_runs_the_agent(host) -> None:
    """The operator (become) sees its three certificates; the connecting administrator sees an empty store."""
    mine = run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\My"}))
    theirs = run(host, ADMIN_NETWORK, ("list_certs", {"store": "CurrentUser\\My"}))
    assert len(step(mine)["result"]["certificates"]) == 3
    assert step(theirs)["result"]["certificates"] == []


def test_host_info_reports_logon_and_dpapi(host) -> None:
    """host_info tells the network logon (no DPAPI) from the become logon with a password."""
    network = step(run(host, ADMIN_NETWORK, ("host_info", {})))["result"]
    become = step(run(host, OPERATOR, ("host_info", {"read_files": ["C:\\nowhere.txt"]})))["result"]
    assert (network["logon_type"], network["dpapi"], network["is_admin"]) == ("network", False, True)
    assert (become["logon_type"], become["dpapi"], become["is_admin"]) == ("interactive", True, False)
    assert become["files"] == {"C:\\nowhere.txt": None}


@pytest.mark.parametrize("session", [ADMIN_NETWORK, S4U], ids=["network-logon", "become-without-password"])
def test_persisting_a_user_key_without_dpapi_fails_like_windows(host, ca, session) -> None:
    """Without DPAPI the import fails with Windows' misleading 'network password' message."""
    pfx = ca.factory.leaf("3410712362").p12("otp", Encryption.TRIPLE_DES)
    answer = run(host, session, ("import_pfx", {"store": "CurrentUser\\My", "pfx": b64(pfx), "password": "otp"}))
    assert answer["failed"] is True
    assert answer["msg"] == f"Failed to import 'CurrentUser\\My': {WIN_BAD_PASSWORD}"


def test_wrong_pfx_password_fails_like_windows(host, ca) -> None:
    """A wrong PFX password gets Windows' message."""
    pfx = ca.factory.leaf("3410712362").p12("right")
    answer = run(host, OPERATOR, ("import_pfx", {"store": "CurrentUser\\My", "pfx": b64(pfx), "password": "wrong"}))
    assert step(answer)["error"].endswith(WIN_BAD_PASSWORD)


def test_aes_pfx_is_refused_below_build_16299(host, ca) -> None:
    """Windows 10 1703 cannot read PBES2/AES; the same file in 3DES imports."""
    host.os_build = 15063
    issued = ca.factory.leaf("3410712362")
    aes = run(
        host, OPERATOR, ("import_pfx", {"store": "CurrentUser\\My", "pfx": b64(issued.p12("p")), "password": "p"})
    )
    assert step(aes)["error"].endswith(WIN_BAD_PASSWORD)
    des = run(
        host,
        OPERATOR,
        (
            "import_pfx",
            {"store": "CurrentUser\\My", "pfx": b64(issued.p12("p", Encryption.TRIPLE_DES)), "password": "p"},
        ),
    )
    assert step(des)["ok"] is True and des["changed"] is True


def test_current_user_root_needs_a_prompt_a_remote_session_cannot_show(host, ca) -> None:
    """Adding a root the machine does not trust to CurrentUser\\Root fails as if the security warning were cancelled."""
    der = b64(ca.lookalike.root.public_bytes(Encoding.DER))
    answer = run(host, OPERATOR, ("add_cert", {"store": "CurrentUser\\Root", "der": der}))
    assert step(answer)["error"] == f"Failed to add 'CurrentUser\\Root': {WIN_CANCELED}"


def test_machine_stores_need_an_administrator(host, ca) -> None:
    """LocalMachine stores refuse the operator and accept the administrator."""
    der = b64(ca.lookalike.root.public_bytes(Encoding.DER))
    denied = run(host, OPERATOR, ("add_cert", {"store": "LocalMachine\\Root", "der": der}))
    assert step(denied)["error"].endswith(WIN_ACCESS_DENIED)
    allowed = run(host, ADMIN_NETWORK, ("add_cert", {"store": "LocalMachine\\Root", "der": der}))
    assert step(allowed)["ok"] is True and allowed["changed"] is True


def test_non_exportable_key_cannot_be_exported(host) -> None:
    """Exporting a non-exportable key fails with Windows' message; list_certs reports it per certificate."""
    every = [thumb_of(r) for r in listing(host)]
    rows = step(run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\My", "probe": every})))["result"][
        "certificates"
    ]
    locked = next(r for r in rows if r["has_private_key"] and not r["key_exportable"])
    thumb = thumb_of(locked)
    answer = run(host, OPERATOR, ("export_pfx", {"store": "CurrentUser\\My", "thumbprint": thumb, "password": "x"}))
    assert answer["msg"] == f"Failed to export '{thumb}': {WIN_KEY_NOT_EXPORTABLE}"
    listed = run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\My", "export_password": "x", "export": every}))
    rows = step(listed)["result"]["certificates"]
    assert sum("pfx" in r for r in rows) == 1
    assert [r.get("export_error") for r in rows if "export_error" in r] == [WIN_KEY_NOT_EXPORTABLE]


def test_export_is_3des_and_opens_with_its_password(host) -> None:
    """An exported PFX is 3DES (as .NET exports it) and holds the certificate with its key."""
    rows = step(
        run(
            host,
            OPERATOR,
            (
                "list_certs",
                {
                    "store": "CurrentUser\\My",
                    "export_password": "otp",
                    "export": [thumb_of(r) for r in listing(host)],
                },
            ),
        )
    )
    pfx = next(r["pfx"] for r in rows["result"]["certificates"] if "pfx" in r)
    with pytest.raises(Pkcs12Error):  # sealed: the answer holds no readable PKCS#12 (random bytes: any refusal)
        load_pkcs12(base64.b64decode(pfx), "otp")
    bundle = load_pkcs12(unseal(pfx, "otp"), "otp")
    assert bundle.protection.label == "3des"
    # as .NET Framework exports: RC2-40 for the certificate bag, 3DES for the key (the controller reads both)
    assert (bundle.protection.certificate_algorithm, bundle.protection.key_algorithm) == ("RC2-40", "3DES")
    # Another password: the seal (AES-CBC, no MAC of its own) refuses it by its padding, except about 1 in 256
    # times, when the bytes it gives are no PKCS#12 the PFX's own MAC lets open (the controller always opens it).
    try:
        opened = unseal(pfx, "another password")
    except ContractError:
        opened = None
    if opened is not None:
        with pytest.raises(Pkcs12Error):
            load_pkcs12(opened, "another password")


def test_removed_certificate_takes_its_key_with_it(host) -> None:
    """remove_cert deletes the private key with the certificate."""
    store = host.user_store("OQSComApp")
    thumb = store[0].thumbprint
    answer = run(host, OPERATOR, ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": thumb}))
    assert step(answer)["result"] == {"thumbprint": thumb, "removed": True, "key_deleted": True}
    assert all(c.thumbprint != thumb for c in host.user_store("OQSComApp"))
    again = run(host, OPERATOR, ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": thumb}))
    assert again["changed"] is False and step(again)["result"]["removed"] is False


def test_failed_assert_stops_the_removals_after_it(host) -> None:
    """Steps stop at the first failure: an assert_cert on a key-less certificate protects what follows."""
    keyless = next(c for c in host.user_store("OQSComApp") if c.key_pem is None).thumbprint
    other = host.user_store("OQSComApp")[0].thumbprint
    answer = run(
        host,
        OPERATOR,
        ("assert_cert", {"store": "CurrentUser\\My", "thumbprint": keyless, "expect": {"has_private_key": True}}),
        ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": other}),
    )
    assert answer["failed"] is True and len(answer["steps"]) == 1
    assert answer["msg"] == f"Failed to verify '{keyless}': has_private_key is False, expected True"
    assert any(c.thumbprint == other for c in host.user_store("OQSComApp"))


def test_check_mode_refuses_changing_steps(host) -> None:
    """In check mode the agent refuses every changing operation."""
    thumb = host.user_store("OQSComApp")[0].thumbprint
    answer = run(host, OPERATOR, ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": thumb}), check=True)
    assert answer["msg"].endswith("refusing a change in check mode")
    assert len(host.user_store("OQSComApp")) == 3


def test_unknown_operation_is_refused_by_name(host) -> None:
    """An operation outside the contract fails naming it."""
    answer = run(host, OPERATOR, ("format_disk", {}))
    assert answer["msg"] == "Failed to run 'format_disk': unknown operation (contract version 1)"


@pytest.mark.parametrize(("cut", "removed"), [(0, 0), (1, 1), (2, 2)])
def test_interruption_keeps_the_steps_before_it(host, cut, removed) -> None:
    """A cut at a step boundary keeps what ran before and nothing after."""
    thumbs = [c.thumbprint for c in host.user_store("OQSComApp")][:2]
    steps = [{"op": "remove_cert", "args": {"store": "CurrentUser\\My", "thumbprint": t}} for t in thumbs]
    with pytest.raises(Interrupted):
        run_agent(host, OPERATOR, {"steps": steps}, cut_before_step=cut)
    assert len(host.user_store("OQSComApp")) == 3 - removed


def test_write_file_needs_an_existing_folder_and_rights(host) -> None:
    """write_file fails for a missing folder and, for the operator, in a read-only folder."""
    host.readonly_dirs = ["E:\\backup"]
    missing = run(host, OPERATOR, ("write_file", {"path": "Z:\\none\\x.pfx", "content": b64(b"x")}))
    assert "does not exist" in missing["msg"]
    denied = run(host, OPERATOR, ("write_file", {"path": "E:\\backup\\x.pfx", "content": b64(b"x")}))
    assert denied["msg"].endswith(WIN_ACCESS_DENIED)
    ok = run(host, ADMIN_NETWORK, ("write_file", {"path": "E:\\backup\\x.pfx", "content": b64(b"x")}))
    assert ok["changed"] is True and base64.b64decode(host.files["E:\\backup\\x.pfx"]) == b"x"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("Version=2.1.3\r\n顔認証ライブラリ".encode("cp932"), "Version=2.1.3\r\n顔認証ライブラリ"),
        ("\ufeffVersion=2.1.3".encode(), "Version=2.1.3"),
        ("Version=2.1.3 顔認証".encode("utf-16"), "Version=2.1.3 顔認証"),
        ("Version=2.1.3 顔認証".encode(), "Version=2.1.3 顔認証"),
        (b"", ""),
    ],
    ids=["cp932", "utf8-bom", "utf16", "utf8", "empty"],
)
def test_read_files_decodes_as_the_agent_does(host, data: bytes, text: str) -> None:
    """A version file from a Japanese tool (CP932), with a BOM, or empty reads as its text (empty is not missing)."""
    host.files["C:\\v.txt"] = base64.b64encode(data).decode()
    answer = run(host, OPERATOR, ("host_info", {"read_files": ["C:\\v.txt"]}))
    assert step(answer)["result"]["files"]["C:\\v.txt"] == text


def test_the_agent_reads_files_the_same_way() -> None:
    """The PowerShell agent decodes read_files with a BOM, then strict UTF-8, then CP932 (code page 932)."""
    from onshi_cert.agent.contract import agent_script

    text = agent_script().decode()
    assert "Read-Text ([System.IO.File]::ReadAllBytes($path))" in text
    assert "UTF8Encoding($false, $true)" in text and "GetEncoding(932)" in text


def test_current_user_root_shows_the_machine_roots(host, ca) -> None:
    """CurrentUser\\Root (and \\CA) also show LocalMachine's physical store, as on Windows; My does not."""
    root = b64(ca.factory.root.public_bytes(Encoding.DER))  # the fleet's machines trust the lab root
    listed = step(run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\Root"})))["result"]["certificates"]
    assert [r["der"] for r in listed] == [root]
    added = run(host, OPERATOR, ("add_cert", {"store": "CurrentUser\\Root", "der": root}))
    assert step(added)["ok"] and step(added)["result"]["already_present"] is True  # no security prompt
    assert host.user_store("OQSComApp", "Root") == []
    machine_my = step(run(host, ADMIN_NETWORK, ("list_certs", {"store": "CurrentUser\\My"})))["result"]
    assert machine_my["certificates"] == []


def test_japanese_windows_answers_in_japanese_with_the_same_hresult(host) -> None:
    """On Japanese Windows the message is Japanese; the HRESULT beside it is what callers compare."""
    from onshi_cert.agent.contract import HR_INVALID_PASSWORD

    broken = ("import_pfx", {"store": "CurrentUser\\My", "pfx": b64(b"not a pfx"), "password": "x"})
    host.language = "ja-JP"
    answer = run(host, OPERATOR, broken)
    assert step(answer)["error"].endswith("指定されたネットワーク パスワードが間違っています。")
    assert step(answer)["hresult"] == HR_INVALID_PASSWORD
    host.language = "en-US"
    answer = run(host, OPERATOR, broken)
    assert step(answer)["error"].endswith(WIN_BAD_PASSWORD) and step(answer)["hresult"] == HR_INVALID_PASSWORD


def test_the_agent_reports_the_hresult_beside_the_message() -> None:
    """The PowerShell agent adds the exception's HResult to a failed step (contract: compare codes, not text)."""
    from onshi_cert.agent.contract import agent_script

    text = agent_script().decode()
    assert "$report.hresult = '0x{0:X8}' -f $code" in text


# Issue "Windows, round 3": keys are opened only when named, never when they need UI or hardware; lost keys are
# repaired by a re-import; a key is deleted only when that is verified and safe; one bad file or store is its own.


def mine(host) -> list:
    """Return the operator's stored certificates, newest first as the fixture made them."""
    return host.user_store("OQSComApp")


def test_only_named_keys_are_opened(host) -> None:
    """An unnamed key is not touched (no facts but has_private_key); a named one gets its test signature."""
    first = mine(host)[0]
    rows = step(run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\My", "probe": [first.thumbprint.lower()]})))
    by = {thumb_of(r): r for r in rows["result"]["certificates"]}
    assert by[first.thumbprint]["key_probed"] is True and by[first.thumbprint]["key_usable"] is True
    others = [r for t, r in by.items() if t != first.thumbprint]
    assert all(r["key_probed"] is False and r["key_usable"] is None and r["provider"] is None for r in others)


@pytest.mark.parametrize(
    ("change", "protection", "reason"),
    [
        ({"provider": "Microsoft Smart Card Key Storage Provider"}, "hardware", "not a software provider"),
        ({"protection": "ui"}, "ui", "protected with a prompt"),
        ({"hangs": True}, "ui", "gave no answer within 15 s"),
    ],
    ids=["smart-card", "strong-protection", "prompt-hangs"],
)
def test_keys_that_need_ui_are_reported_never_used(host, change, protection, reason) -> None:
    """A hardware key, a strongly protected one or one that waits for a prompt: reported, not signed, not exported."""
    first = mine(host)[0]
    for name, value in change.items():
        setattr(first, name, value)
    args = {
        "store": "CurrentUser\\My",
        "probe": [first.thumbprint],
        "export": [first.thumbprint],
        "export_password": "x",
    }
    row = next(
        r
        for r in step(run(host, OPERATOR, ("list_certs", args)))["result"]["certificates"]
        if thumb_of(r) == first.thumbprint
    )
    assert (row["key_usable"], row["key_protection"]) == (False, protection)
    assert reason in row["key_error"] and "pfx" not in row and row["export_error"] == row["key_error"]


def test_a_lost_key_is_repaired_by_importing_the_pfx_again(host, ca) -> None:
    """The certificate is present but its key is gone: the import replaces the entry and checks the new key."""
    issued = ca.factory.leaf("3410712362", days_left=500)
    thumb = hashlib.sha1(issued.cert.public_bytes(Encoding.DER)).hexdigest().upper()
    pfx = b64(issued.p12("one", Encryption.TRIPLE_DES, include_chain=False))
    args = {"store": "CurrentUser\\My", "pfx": pfx, "password": "one", "thumbprint": thumb}
    assert step(run(host, OPERATOR, ("import_pfx", args)))["result"]["replaced"] is False
    next(c for c in mine(host) if c.thumbprint == thumb).usable = False  # the key container is gone
    answer = run(
        host,
        OPERATOR,
        ("import_pfx", args),
        ("assert_cert", {"store": "CurrentUser\\My", "thumbprint": thumb, "expect": {"key_usable": True}}),
    )
    assert answer["failed"] is False and answer["changed"] is True
    assert step(answer)["result"] == {"thumbprint": thumb, "already_present": False, "replaced": True}
    assert [c.usable for c in mine(host) if c.thumbprint == thumb] == [True]


def same_key(stored):
    """Return a second certificate (self-signed) over the same key pair as ``stored``, with that key."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from onshi_cert_tools.lab.windows import StoredCert

    key = serialization.load_pem_private_key(stored.key_pem.encode(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "same key")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=9))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return StoredCert(der=base64.b64encode(cert.public_bytes(Encoding.DER)).decode(), key_pem=stored.key_pem)


def test_removal_deletes_a_key_only_when_that_is_verified_and_safe(host) -> None:
    """A lost key is not claimed deleted; a key another certificate shares, or a hardware key, is kept."""
    lost, shared = mine(host)[0], mine(host)[1]
    lost.usable = False
    answer = step(run(host, OPERATOR, ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": lost.thumbprint})))
    assert answer["result"]["removed"] is True and answer["result"]["key_deleted"] is False
    assert answer["result"]["key_error"] == "the key could not be opened (already gone)"
    twin = same_key(shared)
    mine(host).append(twin)
    answer = step(run(host, OPERATOR, ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": shared.thumbprint})))
    assert answer["result"]["key_deleted"] is False and twin.thumbprint in answer["result"]["key_error"]
    twin.provider = "Microsoft Platform Crypto Provider"  # a TPM key: never deleted by the tool
    answer = step(run(host, OPERATOR, ("remove_cert", {"store": "CurrentUser\\My", "thumbprint": twin.thumbprint})))
    assert answer["result"]["key_deleted"] is False and "not a software provider" in answer["result"]["key_error"]
    assert [c.key_pem is None for c in mine(host)] == [True]  # only the key-less one of the fixture is left


def test_one_unreadable_file_store_or_group_is_its_own_answer(host) -> None:
    """A locked file is that file's error, a store that cannot be opened fails with its HRESULT (never reads as
    empty), and an Administrators group that cannot be listed is unknown (null), not 'not a member'."""
    host.unreadable_files.append("C:\\Windows\\win.ini")
    host.admin_membership_unknown = True
    facts = step(run(host, OPERATOR, ("host_info", {"read_files": ["C:\\Windows\\win.ini", "C:\\none.txt"]})))["result"]
    assert facts["files"] == {"C:\\Windows\\win.ini": None, "C:\\none.txt": None}
    assert list(facts["file_errors"]) == ["C:\\Windows\\win.ini"] and facts["admin_member"] is None
    host.unopenable_stores.append("CurrentUser\\CA")
    answer = run(host, OPERATOR, ("list_certs", {"store": "CurrentUser\\CA"}))
    assert answer["failed"] is True and step(answer)["hresult"] == "0x80070005"
