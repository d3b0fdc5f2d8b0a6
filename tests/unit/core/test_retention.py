"""Keeping backups: the newest N per PC and code, never the only verified backup of a valid certificate."""

from __future__ import annotations

import datetime as dt

from onshi_cert.core import backup as backups
from onshi_cert.core import retention
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12

CODE = "0110113719"
PASSWORD = "backup-pw"


def write(folder, host, issued, *, password=PASSWORD, encryption=Encryption.AES256, created=None):
    data = (
        issued.p12(password)
        if encryption is Encryption.AES256
        else load_pkcs12(issued.p12(password), password).to_bytes(password, encryption)
    )
    return backups.write(folder, host, CODE, data, load_pkcs12(data, password), encryption, now=created)


def names(decisions, remove: bool) -> set[str]:
    return {d.backup.path.name for d in decisions if d.remove is remove}


def test_the_newest_n_stay_and_older_ones_go_only_when_covered(factory, now, tmp_path) -> None:
    """keep=1: an older copy and a superseded certificate go (a newer verified one stays); expired backups and
    one that does not open stay unless asked; another PC's only backup stays."""
    new, old, dead = (
        factory.leaf(CODE, days_left=700),
        factory.leaf(CODE, days_left=100),
        factory.leaf(CODE, days_left=-5),
    )
    t0 = now - dt.timedelta(days=30)
    newest = write(tmp_path, "pc1", new, created=t0 + dt.timedelta(days=2))
    copy = write(tmp_path, "pc1", new, encryption=Encryption.TRIPLE_DES, created=t0 + dt.timedelta(days=1))
    older = write(tmp_path, "pc1", old, created=t0)
    expired = write(tmp_path, "pc1", dead, created=t0)
    foreign = write(tmp_path, "pc1", factory.leaf(CODE, days_left=800), password="another", created=t0)
    other_pc = write(tmp_path, "pc2", old, created=t0)
    index = backups.BackupIndex.scan(tmp_path)

    decisions = retention.plan(index, PASSWORD, keep=1, now=now)
    assert names(decisions, True) == {copy.path.name, older.path.name}
    assert names(decisions, False) == {newest.path.name, expired.path.name, foreign.path.name, other_pc.path.name}
    reasons = {d.backup.path.name: d.reason for d in decisions}
    assert "older copy" in reasons[copy.path.name] and newest.thumbprint in reasons[older.path.name]
    assert "does not open" in reasons[foreign.path.name] and "prune_expired" in reasons[expired.path.name]

    with_expired = retention.plan(index, PASSWORD, keep=1, prune_expired=True, now=now)
    assert names(with_expired, True) == {copy.path.name, older.path.name, expired.path.name}
    assert names(retention.plan(index, PASSWORD, keep=0, now=now), True) == set()  # keep 0: every backup stays

    removed = retention.apply(with_expired)
    assert sorted(removed) == sorted(str(b.path) for b in (copy, older, expired))
    for gone in (copy, older, expired):
        assert not gone.path.exists() and not gone.path.with_suffix(".json").exists()
    left = {b.path.name for b in backups.BackupIndex.scan(tmp_path).backups}
    assert left == {newest.path.name, foreign.path.name, other_pc.path.name}


def test_the_only_verified_backup_of_a_valid_certificate_is_never_removed(factory, now, tmp_path) -> None:
    """The newest backup does not open (another password): the older verified valid one stays with keep=1."""
    valid = write(tmp_path, "pc3", factory.leaf(CODE, days_left=300), created=now - dt.timedelta(days=9))
    write(tmp_path, "pc3", factory.leaf(CODE, days_left=900), password="lost", created=now)
    decisions = retention.plan(backups.BackupIndex.scan(tmp_path), PASSWORD, keep=1, now=now)
    assert not any(d.remove for d in decisions)
    (kept,) = [d for d in decisions if d.backup.path == valid.path]
    assert "never removed" in kept.reason


def test_holdings_say_which_pc_and_code_has_a_current_backup(factory, now, tmp_path) -> None:
    """current (verified, unexpired), expired_only, unverified: per PC and facility code."""
    write(tmp_path, "ok-pc", factory.leaf(CODE, days_left=300))
    write(tmp_path, "old-pc", factory.leaf(CODE, days_left=-3))
    write(tmp_path, "lost-pc", factory.leaf(CODE, days_left=300), password="lost")
    found = {h.host: h for h in retention.holdings(backups.BackupIndex.scan(tmp_path), PASSWORD, now=now)}
    assert {host: h.status for host, h in found.items()} == {
        "ok-pc": "current",
        "old-pc": "expired_only",
        "lost-pc": "unverified",
    }
    assert found["ok-pc"].current is not None and found["old-pc"].current is None


def test_the_command_lists_and_prunes(factory, now, tmp_path, capsys, monkeypatch) -> None:
    """onshi-cert backups list (exit 1 when a PC and code lacks a current backup) and prune --check/--keep."""
    from onshi_cert_tools.cli import main

    monkeypatch.setenv("ONSHI_CERT_BACKUP_PASSWORD", PASSWORD)
    new = write(tmp_path, "pc1", factory.leaf(CODE, days_left=700))
    old = write(tmp_path, "pc1", factory.leaf(CODE, days_left=100), created=now - dt.timedelta(days=60))
    write(tmp_path, "pc9", factory.leaf(CODE, days_left=-2))
    assert main(["backups", "list", str(tmp_path), "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert f"pc1  {CODE}  {new.path.name}" in out and "pc9" in out and "only expired backups" in out
    assert main(["backups", "prune", str(tmp_path), "--keep", "1", "--check", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert f"would remove  {old.path.name}" in out and "(check: nothing removed)" in out and old.path.exists()
    assert main(["backups", "prune", str(tmp_path), "--keep", "1", "--lang", "en"]) == 0
    assert not old.path.exists() and new.path.exists() and "removed: 1 backup(s)" in capsys.readouterr().out
