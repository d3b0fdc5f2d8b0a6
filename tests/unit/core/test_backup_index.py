"""The backup index reads only what a lookup needs: a PC's task costs its own backups, not the whole fleet's."""

from __future__ import annotations

import json

from onshi_cert.core import backup as backups
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12


def test_a_lookup_reads_only_its_own_manifests(factory, tmp_path, monkeypatch) -> None:
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    mine = backups.write(tmp_path, "sapporo_naika-pc01", "0110113719", data, load_pkcs12(data, "pw"), Encryption.AES256)
    for index in range(200):  # the rest of the fleet: manifests that must not be opened for this PC
        folder = tmp_path / f"{index:010d}"
        folder.mkdir()
        (folder / f"pc{index:03d}_{index:040X}_{index:08x}.json").write_text(json.dumps({"thumbprint": "x"}))
    reads: list[str] = []
    real = backups._load
    monkeypatch.setattr(backups, "_load", lambda path: reads.append(path.name) or real(path))
    index = backups.BackupIndex.scan(tmp_path)
    assert index.thumbprints_of("sapporo_naika-pc01") == [mine.thumbprint]  # a host name with "_" still parses
    assert [b.path for b in index.of(mine.thumbprint)] == [mine.path]
    assert reads == [mine.path.with_suffix(".json").name]  # one manifest read, once (cached)
    assert index.of_code("0110113719")[0].host == "sapporo_naika-pc01"


def _fleet_folder(root, count: int) -> None:
    for index in range(count):
        folder = root / f"{index:010d}"
        folder.mkdir()
        (folder / f"pc{index:03d}_{index:040X}_{index:08x}.json").write_text("{}")
        (folder / f"pc{index:03d}_{index:040X}_{index:08x}.pfx").write_bytes(b"")


def test_a_task_lists_only_its_own_codes_folders(factory, tmp_path, monkeypatch) -> None:
    """A PC's task lists the folders of its expected and retired codes, not the fleet's thousand, and keeps
    nothing in the backup folder between tasks (what is on disk now is what it finds)."""
    _fleet_folder(tmp_path, 300)
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    mine = backups.write(tmp_path, "pc1", "0110113719", data, load_pkcs12(data, "pw"), Encryption.AES256)
    listed: list[str] = []
    real = backups.os.scandir
    monkeypatch.setattr(backups.os, "scandir", lambda path: listed.append(str(path)) or real(path))
    index = backups.BackupIndex.scan(tmp_path, ("0110113719", "0130120041"))
    assert listed == [str(tmp_path / "0110113719"), str(tmp_path / "0130120041")]
    assert [b.path for b in index.of(mine.thumbprint)] == [mine.path]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert len(backups.BackupIndex.scan(tmp_path).listing) == 301  # onshi-cert backups list: every folder


def test_a_backup_removed_by_hand_is_not_found(factory, tmp_path) -> None:
    """A manifest removed between two tasks is not found by the next: the PC is backed up again."""
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    kept = backups.write(tmp_path, "pc1", "0110113719", data, load_pkcs12(data, "pw"), Encryption.AES256)
    assert backups.BackupIndex.scan(tmp_path, ("0110113719",)).of(kept.thumbprint)
    kept.path.with_suffix(".json").unlink()
    assert backups.BackupIndex.scan(tmp_path, ("0110113719",)).of(kept.thumbprint) == []
