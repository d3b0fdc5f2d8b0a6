"""The safety rules (docs/safety.md) from bad PC states, run in-process over the lab's model of the PC.

Each test starts from a state the field produces, runs the same workflow the modules run, then reads
the PC's stores and the backup folder back: what must stay stays, nothing is lost, nothing forged is
trusted. The same cases over real WinRM and ansible-playbook are in tests/integration/test_safety_wire.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from onshi_cert import options, workflow
from onshi_cert.core import backup as backups
from onshi_cert.core.certinfo import thumbprint
from onshi_cert.core.errors import OnshiCertError
from onshi_cert.core.messages import REFUSED
from onshi_cert.core.policy import Expectations, Scope
from onshi_cert.core.trust import TrustAnchors, fingerprint
from onshi_cert_tools.factory import CertificateFactory
from onshi_cert_tools.lab.fleet import LabCA, build_hosts
from onshi_cert_tools.lab.inprocess import LabRunner
from onshi_cert_tools.lab.windows import WindowsHost

CODE = "3410712362"
OTHER = "0110113719"
DENTAL = "3430712368"
PASSWORD = "Backup-Secret-9"


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LabCA:
    """Return a lab CA for this module (keys generated now)."""
    return LabCA.load_or_create(tmp_path_factory.mktemp("ca"))


def make_host(ca: LabCA, certs: list[dict], codes: tuple[str, ...] = (CODE,), **spec) -> WindowsHost:
    """Return a lab PC holding ``certs`` in the operator's My, its root trusted by the machine."""
    return build_hosts({"hosts": [{"name": "pc01", "facility_codes": list(codes), "certs": certs, **spec}]}, ca)[0]


def settings(
    ca: LabCA, tmp_path: Path, codes: tuple[str, ...] = (CODE,), *, check: bool = False, **kw
) -> workflow.Settings:
    """Return task settings pinning the lab root, with backups in ``tmp_path/backups``."""
    anchors = TrustAnchors(frozenset({fingerprint(ca.factory.root)}))
    expect = Expectations(codes, anchors, retire_codes=kw.pop("retire_codes", ()))
    counter = iter(range(10**6))
    return workflow.Settings(
        expect=expect,
        check_mode=check,
        backup_dir=tmp_path / "backups",
        backup_password=kw.pop("password", PASSWORD),
        new_password=lambda: f"one-time-{next(counter)}",
        **kw,
    )


def my(host: WindowsHost) -> dict[str, dict]:
    """Return the operator's My as thumbprint -> facts."""
    return {
        s.thumbprint: {"key": s.key_pem is not None, "exportable": s.exportable} for s in host.user_store("OQSComApp")
    }


def roots(host: WindowsHost) -> set[str]:
    """Return the thumbprints in LocalMachine\\Root."""
    return {s.thumbprint for s in host.stores.get("LocalMachine\\Root", [])}


def backed_up(tmp_path: Path) -> dict[str, list[str]]:
    """Return the complete backups on disk: thumbprint -> PFX file names."""
    index = backups.BackupIndex.scan(tmp_path / "backups")
    found: dict[str, list[str]] = {}
    for item in index.backups:
        found.setdefault(item.thumbprint, []).append(item.path.name)
    return found


def p12_file(tmp_path: Path, issued, name: str = "cert.p12", password: str = "1234", **kwargs) -> Path:
    """Write ``issued`` as a .p12 and return its path."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(issued.p12(password, **kwargs))
    return path


def offers(s: workflow.Settings, *paths: Path, password: str = "1234"):
    """Return the files judged as the action plugin judges them."""
    return workflow.p12_offers([(p, password) for p in paths], s.expect)


def thumbs_of(host: WindowsHost) -> list[tuple[str, int]]:
    """Return (thumbprint, days left) of My, longest first."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for stored in host.user_store("OQSComApp"):
        cert = stored.certificate()
        rows.append((stored.thumbprint, (cert.not_valid_after_utc - now).days))
    return sorted(rows, key=lambda r: -r[1])


def test_an_older_p12_never_replaces_a_newer_certificate(ca, tmp_path) -> None:
    """Rule 1: the PC holds a newer valid certificate; the older .p12 is reported outdated; nothing changes."""
    host = make_host(ca, [{"code": CODE, "days_left": 1000}])
    before = my(host)
    s = settings(ca, tmp_path)
    older = p12_file(tmp_path, ca.factory.leaf(CODE, days_left=700))
    result = workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, older), backup_new=True)
    assert result["changed"] is False and result["installed"] == [] and result["removed"] == []
    assert my(host) == before
    assert any("older than" in w for w in result["warnings"])
    assert result["codes"][CODE]["outdated"][0]["file"] == str(older)


def test_in_place_renewal_with_an_unexportable_key_finishes(ca, tmp_path) -> None:
    """Rules 1 and 11: renewed in place (key not exportable), the original .p12 still in certs/: the renewed one stays.

    The old certificate is backed up and removed; the PC is finished, flagged for the missing backup.
    """
    host = make_host(
        ca, [{"code": CODE, "days_left": 1180, "exportable": False}, {"code": CODE, "days_left": 20, "terminal": "02"}]
    )
    (renewed, _), (old, _) = thumbs_of(host)
    s = settings(ca, tmp_path)
    original = p12_file(tmp_path, ca.factory.leaf(CODE, days_left=19))
    for _ in range(2):  # converges, then stays converged
        result = workflow.converge(
            LabRunner(host), s, "pc01", offers=offers(s, original), backup_new=True, min_days_left=90
        )
    assert set(my(host)) == {renewed}
    assert old in backed_up(tmp_path)
    assert result["changed"] is False and result["attention_needed"] is True
    assert [a["code"] for a in result["attention"]] == ["not_exportable"]


def test_a_forged_ca_copying_the_name_is_refused_before_any_change(ca, tmp_path) -> None:
    """Rule 3: a .p12 from a CA with the genuine name but another key: refused, no root added, PC untouched."""
    host = make_host(ca, [])
    before, before_roots = my(host), roots(host)
    s = settings(ca, tmp_path)
    for issued, kwargs in ((ca.forged.leaf(CODE), {}), (ca.forged.leaf(CODE), {"include_chain": False})):
        path = p12_file(tmp_path, issued, name=f"forged-{len(kwargs)}.p12", **kwargs)
        runner = LabRunner(host)
        with pytest.raises(OnshiCertError) as raised:
            workflow.converge(runner, s, "pc01", offers=offers(s, path))
        assert raised.value.code == REFUSED["wrong_issuer"].code == "ONSHI-E040" and raised.value.file == str(path)
        assert all(step.op in ("host_info", "list_certs") for request in runner.requests for step in request)
    assert my(host) == before and roots(host) == before_roots


def test_an_extra_root_in_a_genuine_file_is_never_trusted(ca, tmp_path) -> None:
    """Rule 3: only the pinned root goes to a store; a self-signed extra root shipped in the file does not."""
    host = make_host(ca, [], root_trusted=False)
    s = settings(ca, tmp_path)
    issued = ca.factory.leaf(CODE)
    extra = CertificateFactory(issuer_cn="Evil Root").root
    issued.chain.append(extra)
    result = workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, issued)))
    assert result["changed"] is True
    assert roots(host) == {thumbprint(ca.factory.root)}
    assert thumbprint(extra) not in {c.thumbprint for store in host.stores.values() for c in store}


def test_a_leaf_without_chain_installs_when_the_pc_trusts_the_pinned_root(ca, tmp_path) -> None:
    """Rule 3: a genuine leaf shipped alone verifies through the pinned root already on the PC."""
    host = make_host(ca, [])
    s = settings(ca, tmp_path)
    issued = ca.factory.leaf(CODE)
    result = workflow.converge(
        LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, issued, include_chain=False))
    )
    assert set(my(host)) == {thumbprint(issued.cert)} and result["ca_added"] == []


@pytest.mark.parametrize(
    ("subject", "code"),
    [({"cn": f"{OTHER}-01", "ou": CODE}, "wrong_facility"), ({"cn": "3410712363-01"}, "bad_code")],
    ids=["other-clinic-in-cn", "bad-check-digit"],
)
def test_another_clinics_certificate_is_refused(ca, tmp_path, subject, code) -> None:
    """Rule 4: the code comes from the CN alone; another clinic's code or a wrong check digit is refused."""
    host = make_host(ca, [])
    s = settings(ca, tmp_path)
    path = p12_file(tmp_path, ca.factory.leaf(CODE, **subject))
    with pytest.raises(OnshiCertError) as raised:
        workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, path))
    assert raised.value.code in (REFUSED[code].code, REFUSED["bad_code"].code)
    assert my(host) == {}


@pytest.mark.parametrize("check", [True, False], ids=["check", "apply"])
def test_swapped_codes_never_delete_the_pcs_only_certificate(ca, tmp_path, check) -> None:
    """Rule 2: inventory says CODE, the PC's only (unexportable) certificate is for OTHER: it stays, loudly."""
    host = make_host(ca, [{"code": OTHER, "days_left": 500, "exportable": False}])
    before = my(host)
    s = settings(ca, tmp_path, check=check)
    result = workflow.converge(LabRunner(host), s, "pc01", scope=Scope())
    assert my(host) == before and result["removed"] == []
    assert result["disagreement"] is True and "disagree" in result["warnings"][0]


def test_a_retired_code_goes_only_after_the_new_one_is_held_and_backed_up(ca, tmp_path) -> None:
    """The manual's 'old facility code' certificate: removed after backup once the new code has its certificate."""
    host = make_host(ca, [{"code": OTHER, "days_left": 500}])
    ((old, _),) = thumbs_of(host)
    s = settings(ca, tmp_path, retire_codes=(OTHER,))
    workflow.converge(LabRunner(host), s, "pc01", scope=Scope())
    assert set(my(host)) == {old}
    new = ca.factory.leaf(CODE)
    workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, new)))
    assert set(my(host)) == {thumbprint(new.cert)} and old in backed_up(tmp_path)


def test_every_code_of_a_two_code_pc_is_provisioned_backed_up_and_restored(ca, tmp_path) -> None:
    """Rule 5: medical + dental: one certificate per code from certs/<host>/, both backed up, both restored."""
    host = make_host(ca, [], codes=(CODE, DENTAL))
    s = settings(ca, tmp_path, codes=(CODE, DENTAL))
    files = [p12_file(tmp_path, ca.factory.leaf(c), name=f"certs/pc01/{c}.p12") for c in (CODE, DENTAL)]
    result = workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, *files), backup_new=True)
    assert {i["facility_code"] for i in result["installed"]} == {CODE, DENTAL}
    assert len(my(host)) == 2 and len(backed_up(tmp_path)) == 2
    replacement = make_host(ca, [], codes=(CODE, DENTAL))
    restored, notes, _record = workflow.restore_offers(s, s.index(), "pc01")
    result = workflow.converge(LabRunner(replacement), s, "pc02", offers=restored, notes=notes, backup_new=True)
    assert set(my(replacement)) == set(my(host))
    assert sum("restoring" in w for w in result["warnings"]) == 2


def test_restore_by_code_is_refused_when_two_pcs_have_backups(ca, tmp_path) -> None:
    """Rule 6: restoring by facility code where two PCs' certificates are backed up lists them and stops."""
    s = settings(ca, tmp_path)
    for name in ("pc-a", "pc-b"):
        host = make_host(ca, [])
        workflow.converge(
            LabRunner(host),
            s,
            name,
            offers=offers(s, p12_file(tmp_path, ca.factory.leaf(CODE), name=f"{name}.p12")),
            backup_new=True,
        )
    with pytest.raises(OnshiCertError) as raised:
        workflow.restore_offers(s, s.index(), CODE)
    assert "pc-a" in str(raised.value) and "pc-b" in str(raised.value)


def two_backups_of_old_pc(ca: LabCA, tmp_path: Path, s: workflow.Settings):
    """Back up an older and a newer certificate of CODE from 'old-pc'; return the older one and the newer backup."""
    old = ca.factory.leaf(CODE, days_left=400)
    new = ca.factory.leaf(CODE, days_left=1100)
    for issued in (old, new):
        workflow.converge(
            LabRunner(make_host(ca, [])), s, "old-pc", offers=offers(s, p12_file(tmp_path, issued)), backup_new=True
        )
    return old, next(b for b in s.index().backups if b.thumbprint == thumbprint(new.cert))


def test_restore_skips_a_damaged_newest_backup_and_says_so(ca, tmp_path) -> None:
    """Rule 6: a damaged newest backup is passed over with its reason; the next good one is used."""
    s = settings(ca, tmp_path)
    old, newest = two_backups_of_old_pc(ca, tmp_path, s)
    damaged = bytearray(newest.path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    newest.path.write_bytes(bytes(damaged))
    json_path = newest.path.with_suffix(".json")
    meta = json.loads(json_path.read_text())
    meta["sha256"] = __import__("hashlib").sha256(bytes(damaged)).hexdigest()
    json_path.write_text(json.dumps(meta))
    restored, notes, _record = workflow.restore_offers(s, s.index(), "old-pc")
    assert [o.thumbprint for o in restored] == [thumbprint(old.cert)]
    assert newest.path.name in notes[0] and "does not open" in notes[0]


def test_a_new_backup_password_backs_up_again_before_removal(ca, tmp_path) -> None:
    """Rule 7: after a password change, a stale certificate is exported again with the new password, then removed."""
    host = make_host(ca, [{"code": CODE, "days_left": 60}])
    ((old, _),) = thumbs_of(host)
    first = settings(ca, tmp_path, password="First-Password-1")
    workflow.backup(LabRunner(host), first, "pc01", pc_copy_dir=None)
    second = settings(ca, tmp_path, password="Second-Password-2")
    new = ca.factory.leaf(CODE)
    result = workflow.converge(LabRunner(host), second, "pc01", offers=offers(second, p12_file(tmp_path, new)))
    assert [r["backup"] for r in result["removed"]] == ["export"]
    assert second.index().verified(old, "Second-Password-2") is not None
    assert first.index().verified(old, "First-Password-1") is not None  # the old backup is kept too


def test_a_backup_appears_whole_or_not_at_all(ca, tmp_path, monkeypatch) -> None:
    """Rule 7: a cut after the PFX is written and before its manifest leaves no backup that counts."""
    issued = ca.factory.leaf(CODE)
    bundle = __import__("onshi_cert.core.pkcs12", fromlist=["load_pkcs12"]).load_pkcs12(issued.p12("1"), "1")
    real = backups._atomic_write

    def cut(path, data):
        if path.suffix == ".json":
            raise KeyboardInterrupt("cut")
        real(path, data)

    monkeypatch.setattr(backups, "_atomic_write", cut)
    with pytest.raises(KeyboardInterrupt):
        backups.write(tmp_path / "backups", "pc01", CODE, issued.p12(PASSWORD), bundle, backups.Encryption.AES256)
    assert list((tmp_path / "backups").rglob("*.pfx")) and backed_up(tmp_path) == {}


@pytest.mark.parametrize(
    ("raw", "fix"),
    [
        ({"password": 420}, "'0644'"),
        ({"facility_codes": [130120041]}, "quote it"),
        ({"passwords": {"pc01": 1234}}, "quote it"),
        ({"backup_password": 2026}, "quote it"),
    ],
)
def test_numbers_where_text_is_required_are_refused(raw, fix) -> None:
    """Rule 8: an unquoted YAML number (0644 read as octal 420) is refused with 'quote it'."""
    with pytest.raises(OnshiCertError) as raised:
        options.check_text_inputs(raw)
    assert fix in raised.value.describe()


def test_check_mode_tells_the_truth_and_changes_nothing(ca, tmp_path) -> None:
    """Rule 9: check mode plans 'would' with reasons and every store it would touch; the PC stays as it was."""
    host = make_host(ca, [{"code": CODE, "days_left": -3}], root_trusted=False)
    before, before_roots = my(host), roots(host)
    s = settings(ca, tmp_path, check=True, operator="OQSComApp")
    path = p12_file(tmp_path, ca.factory.leaf(CODE))
    result = workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, path), backup_new=True)
    assert result["planned"] is True and result["changed"] is True
    assert result["removed"][0]["reason"] == "expired" and result["installed"]
    headers = [block["before_header"] for block in result["diff"]]
    assert headers == ["CurrentUser(OQSComApp)\\My", "LocalMachine\\Root"]
    assert "[remove: expired" in result["diff"][0]["before"]
    assert my(host) == before and roots(host) == before_roots and backed_up(tmp_path) == {}


def test_a_renewal_that_did_not_happen_fails_and_changes_nothing(ca, tmp_path) -> None:
    """Rule 12: no renewed .p12, no in-place renewal, 19 days left: the renewal job fails, naming the fix."""
    host = make_host(ca, [{"code": CODE, "days_left": 19}])
    before = my(host)
    s = settings(ca, tmp_path)
    with pytest.raises(OnshiCertError) as raised:
        workflow.converge(LabRunner(host), s, "pc01", offers=[], backup_new=True, min_days_left=90)
    assert "not renewed" in str(raised.value) and my(host) == before


def test_a_p12_expiring_soon_is_installed_with_a_warning(ca, tmp_path) -> None:
    """Rule 12: a .p12 valid for one more day is installed (better than nothing) and says renew soon."""
    host = make_host(ca, [])
    s = settings(ca, tmp_path)
    path = p12_file(tmp_path, ca.factory.leaf(CODE, days_left=1))
    result = workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, path))
    assert result["installed"] and any("renew soon" in w for w in result["warnings"])
    assert [a["code"] for a in result["attention"]] == ["expiring"]


def test_a_certificate_whose_key_is_gone_is_removed_only_when_superseded(ca, tmp_path) -> None:
    """A key-less certificate stays while it is the only one; once a new one is verified it goes (no backup)."""
    host = make_host(ca, [{"code": CODE, "days_left": 500, "key": False}])
    ((broken, _),) = thumbs_of(host)
    s = settings(ca, tmp_path)
    result = workflow.converge(LabRunner(host), s, "pc01", scope=Scope())
    assert broken in my(host) and [a["code"] for a in result["attention"]] == ["no_key"]
    new = ca.factory.leaf(CODE)
    result = workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, new)))
    assert set(my(host)) == {thumbprint(new.cert)}
    assert result["removed"][0]["backup"] == "impossible" and "missing" in result["removed"][0]["backup_note"]


def test_the_lab_ca_file_pins_like_a_fingerprint(ca, tmp_path) -> None:
    """A PEM pin and a fingerprint pin trust the same root."""
    pem = ca.factory.root.public_bytes(Encoding.PEM).decode()
    assert TrustAnchors.from_config([pem]).pins == TrustAnchors.from_config([fingerprint(ca.factory.root)]).pins


def test_constrained_language_mode_is_a_clear_error_that_changes_nothing(ca, tmp_path) -> None:
    """Under AppLocker/WDAC (ConstrainedLanguage) the agent runs no step; the task says why and what to do."""
    host = make_host(ca, [{"code": CODE, "days_left": -3}], language_mode="ConstrainedLanguage")
    before = my(host)
    s = settings(ca, tmp_path)
    with pytest.raises(OnshiCertError) as raised:
        workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, ca.factory.leaf(CODE))))
    assert "ConstrainedLanguage" in str(raised.value) and "AppLocker/WDAC policy" in raised.value.fix
    assert my(host) == before


# --- safety, round 3 ------------------------------------------------------------------------------------------


HOSTILE_HOSTS = ["受付/2F", "../../beside-the-lab", "..", "a\\..\\b", "CON", "nul\x00x", "x" * 300, "\udcffnot-utf8"]


@pytest.mark.parametrize("name", HOSTILE_HOSTS, ids=repr)
def test_a_hostile_host_name_keeps_its_backups_where_the_index_finds_them(ca, tmp_path, name) -> None:
    """Names used in paths: a host named like a ledger entry with a slash, or with ../, backs up into its code's
    folder under a safe name; the removal's backup is listed again, and restores from that host."""
    host = make_host(ca, [{"code": CODE, "days_left": 60}])
    ((old, _),) = thumbs_of(host)
    s = settings(ca, tmp_path)
    new = ca.factory.leaf(CODE)
    result = workflow.converge(LabRunner(host), s, name, offers=offers(s, p12_file(tmp_path, new)), backup_new=True)
    assert set(my(host)) == {thumbprint(new.cert)} and [r["backup"] for r in result["removed"]] == ["export"]
    written = [p for p in tmp_path.rglob("*") if p.suffix in (".pfx", ".json")]
    assert len(written) == 4 and {p.parent for p in written} == {tmp_path / "backups" / CODE}
    index = s.index()
    assert index.thumbprints_of(name) == sorted({old, thumbprint(new.cert)})
    assert backed_up(tmp_path).keys() == {old, thumbprint(new.cert)}
    restored, _notes, _record = workflow.restore_offers(s, index, name)
    assert [o.thumbprint for o in restored] == [thumbprint(new.cert)]


def test_a_backup_the_index_cannot_find_again_removes_nothing(ca, tmp_path) -> None:
    """A facility-code folder that links out of the backup folder: the backup is written there, found by no
    listing of the backup folder, so the old certificate stays (ONSHI-E088)."""
    host = make_host(ca, [{"code": CODE, "days_left": 60}])
    ((old, _),) = thumbs_of(host)
    (tmp_path / "backups").mkdir(mode=0o700)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "backups" / CODE).symlink_to(tmp_path / "elsewhere")
    s = settings(ca, tmp_path)
    with pytest.raises(OnshiCertError) as raised:
        workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, ca.factory.leaf(CODE))))
    assert raised.value.code == "ONSHI-E088"
    assert old in my(host)


def test_backups_are_private_to_the_controller_user(ca, tmp_path) -> None:
    """The backup folder, its code folders and every backup file are 0700/0600, whatever the umask."""
    host = make_host(ca, [{"code": CODE, "days_left": 60}])
    s = settings(ca, tmp_path)
    umask = os.umask(0o022)
    try:
        workflow.converge(LabRunner(host), s, "pc01", offers=offers(s, p12_file(tmp_path, ca.factory.leaf(CODE))))
    finally:
        os.umask(umask)
    found = [tmp_path / "backups", *(tmp_path / "backups").rglob("*")]
    modes = {p.name: (p.is_dir(), p.stat().st_mode & 0o777) for p in found}
    assert len(modes) > 3 and all(mode == (0o700 if folder else 0o600) for folder, mode in modes.values()), modes


def unreadable(s: workflow.Settings, path: Path, password: str) -> OnshiCertError:
    """Return the error of a file that cannot be opened, as the action plugin passes it on."""
    with pytest.raises(OnshiCertError) as raised:
        workflow.p12_offers([(path, password)], s.expect)
    return workflow.PreflightError.wrap(raised.value, str(path))


def test_a_two_code_pc_renews_the_code_whose_file_is_ready(ca, tmp_path) -> None:
    """Per-code independence: medical's renewed .p12 is in certs/, dental's is not downloaded yet. Medical is
    renewed (the old one backed up, then removed); dental stays as it was; the task fails naming dental only."""
    host = make_host(ca, [{"code": CODE, "days_left": 20}, {"code": DENTAL, "days_left": 25}], codes=(CODE, DENTAL))
    old = {code: t for t, _days in thumbs_of(host) for code in (CODE, DENTAL) if host_code(host, t) == code}
    s = settings(ca, tmp_path, codes=(CODE, DENTAL))
    renewed = ca.factory.leaf(CODE)
    files = offers(s, p12_file(tmp_path, renewed, name=f"certs/pc01/{CODE}.p12"))
    result = workflow.converge(LabRunner(host), s, "pc01", offers=files, backup_new=True, min_days_left=90)
    assert result["failed"] is True and result["error_code"] == "ONSHI-E055" and DENTAL in result["msg"]
    assert CODE not in result["msg"].split("not renewed")[1] and "what could be done was done" in result["msg"]
    assert result["codes"][CODE]["outcome"] == "changed" and result["codes"][DENTAL]["outcome"] == "not_renewed"
    assert result["outcome"] == "not_renewed"
    assert set(my(host)) == {thumbprint(renewed.cert), old[DENTAL]}
    assert {old[CODE], thumbprint(renewed.cert)} <= backed_up(tmp_path).keys()
    with pytest.raises(OnshiCertError) as raised:  # the re-run has nothing left to do: it says dental, as it is
        workflow.converge(LabRunner(host), s, "pc01", offers=files, backup_new=True, min_days_left=90)
    assert raised.value.code == "ONSHI-E055" and "nothing was changed" in str(raised.value)
    assert set(my(host)) == {thumbprint(renewed.cert), old[DENTAL]}


@pytest.mark.parametrize("problem", ["forged", "wrong-password", "numeric-password", "other-clinic"])
def test_a_blocked_code_never_stops_the_other_code(ca, tmp_path, problem) -> None:
    """Per-code independence: one file of a two-code PC is forged, unreadable or another clinic's; the other code
    is provisioned and backed up, nothing of the blocked code changes, and the task fails naming that file."""
    host = make_host(ca, [{"code": DENTAL, "days_left": -3}], codes=(CODE, DENTAL), root_trusted=False)
    ((expired, _),) = thumbs_of(host)
    s = settings(ca, tmp_path, codes=(CODE, DENTAL))
    good = ca.factory.leaf(CODE)
    files = offers(s, p12_file(tmp_path, good, name=f"certs/pc01/{CODE}.p12"))
    errors = []
    bad_name = f"certs/pc01/{problem}.p12"
    if problem == "forged":
        files += offers(s, p12_file(tmp_path, ca.forged.leaf(DENTAL), name=bad_name))
    elif problem == "other-clinic":
        files += offers(s, p12_file(tmp_path, ca.factory.leaf(OTHER), name=bad_name))
    elif problem == "wrong-password":
        errors.append(unreadable(s, p12_file(tmp_path, ca.factory.leaf(DENTAL), name=bad_name), "9999"))
    else:
        with pytest.raises(OnshiCertError) as raised:
            options.text_entry("passwords", bad_name, 42)
        errors.append(workflow.PreflightError.wrap(raised.value, str(tmp_path / bad_name)))
    result = workflow.converge(LabRunner(host), s, "pc01", offers=files, unreadable=errors, backup_new=True)
    assert set(my(host)) == {thumbprint(good.cert), expired}  # dental's expired one waits with its code
    assert thumbprint(good.cert) in backed_up(tmp_path) and roots(host) == {thumbprint(ca.factory.root)}
    assert result["failed"] is True and bad_name.split("/")[-1] in result["msg"]
    assert result["codes"][CODE]["outcome"] == "changed" and result["codes"][DENTAL]["outcome"] == "blocked"
    assert result["outcome"] == "blocked" and result["attention_needed"] is True
    blocked = [a for a in result["attention"] if a["code"] == "blocked"]
    assert [a["facility_code"] for a in blocked] == [DENTAL] and blocked[0]["fix"]


def test_a_file_that_blocks_every_code_stops_before_the_pc_is_touched(ca, tmp_path) -> None:
    """A single-code PC whose only file cannot be opened: the task stops, naming the file, without a request."""
    host = make_host(ca, [{"code": CODE, "days_left": -3}])
    before = my(host)
    s = settings(ca, tmp_path)
    error = unreadable(s, p12_file(tmp_path, ca.factory.leaf(CODE)), "9999")
    runner = LabRunner(host)
    with pytest.raises(OnshiCertError) as raised:
        workflow.converge(runner, s, "pc01", offers=[], unreadable=[error])
    assert raised.value.code == "ONSHI-E012" and runner.executions == 0 and my(host) == before


def host_code(host: WindowsHost, thumb: str) -> str:
    """Return the facility code in the CN of a certificate in the operator's My."""
    stored = next(s for s in host.user_store("OQSComApp") if s.thumbprint == thumb)
    return stored.certificate().subject.rfc4514_string().split("CN=")[1][:10]


@pytest.mark.parametrize("damage", ["bit-flip", "truncated", "pfx-gone", "manifest-garbled"])
def test_a_restore_names_every_newer_backup_it_passed_over(ca, tmp_path, damage) -> None:
    """Restores: the old PC's newest backup is damaged as a disk or a copy damages it (its manifest untouched): the
    older good backup is restored, and the result names the damaged one with its reason; the PC holds the older."""
    s = settings(ca, tmp_path)
    old, newest = two_backups_of_old_pc(ca, tmp_path, s)
    data = newest.path.read_bytes()
    if damage == "bit-flip":
        newest.path.write_bytes(data[:100] + bytes([data[100] ^ 0x01]) + data[101:])
    elif damage == "truncated":
        newest.path.write_bytes(data[: len(data) // 2])
    elif damage == "pfx-gone":
        newest.path.unlink()
    else:
        newest.path.with_suffix(".json").write_text("{not json")
    restored, notes, record = workflow.restore_offers(s, s.index(), "old-pc")
    assert [o.thumbprint for o in restored] == [thumbprint(old.cert)]
    ((passed,),) = [r["passed_over"] for r in record]
    assert passed["file"] == newest.path.name and passed["reason"]
    assert newest.path.name in notes[0] and ("damaged" in notes[0] or "missing" in notes[0])
    replacement = make_host(ca, [])
    result = workflow.converge(LabRunner(replacement), s, "new-pc", offers=restored, notes=notes, restored=record)
    assert set(my(replacement)) == {thumbprint(old.cert)}
    assert result["restored"] == record and any(newest.path.name in w for w in result["warnings"])


def test_a_restore_with_only_a_damaged_backup_names_it_and_changes_nothing(ca, tmp_path) -> None:
    """No usable backup: the error names the damaged one; the replacement PC is untouched."""
    s = settings(ca, tmp_path)
    workflow.converge(
        LabRunner(make_host(ca, [])),
        s,
        "old-pc",
        offers=offers(s, p12_file(tmp_path, ca.factory.leaf(CODE))),
        backup_new=True,
    )
    (only,) = s.index().backups
    only.path.write_bytes(only.path.read_bytes()[:-7])
    with pytest.raises(OnshiCertError) as raised:
        workflow.restore_offers(s, s.index(), "old-pc")
    assert raised.value.code == "ONSHI-E085" and only.path.name in str(raised.value)


@pytest.mark.parametrize("broken", [{"key": False}, {"client_auth": False}], ids=["key-gone", "not-client-auth"])
def test_a_newer_certificate_that_cannot_be_used_needs_a_person(ca, tmp_path, broken) -> None:
    """Audit: a newer certificate of the PC's code whose key is gone sits beside the working older one: the kept one
    is the older, nothing is removed, and the PC is 要対応 with the reason and the fix (Windows picks one)."""
    host = make_host(
        ca, [{"code": CODE, "days_left": 500}, {"code": CODE, "days_left": 1100, "terminal": "02", **broken}]
    )
    (newer, _), (older, _) = thumbs_of(host)
    s = settings(ca, tmp_path)
    report = workflow.audit(LabRunner(host), s.expect, face_auth_path="C:\\x", face_auth_minimum="0")
    assert report["plan"]["keep"] == {CODE: older} and report["attention"] is True
    (problem,) = [p for p in report["problems"] if p["code"] == "newer_unusable"]
    assert (
        problem["thumbprint"] == newer
        and "install its .p12 again" in problem["fix"]
        and "Windows" in problem["message"]
    )
    assert report["status"] == "newer_unusable"
    before = my(host)
    result = workflow.converge(LabRunner(host), s, "pc01", scope=Scope())
    assert my(host) == before and result["attention_needed"] is True
    assert "newer_unusable" in [a["code"] for a in result["attention"]]
