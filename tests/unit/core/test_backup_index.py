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


def _age(*folders, seconds: int = 60) -> None:
    """Set the folders' modification time back, as for backups written on an earlier day."""
    for folder in folders:
        then = folder.stat().st_mtime_ns - seconds * 1_000_000_000
        backups.os.utime(folder, ns=(then, then))


def test_the_listing_is_kept_and_only_changed_folders_are_listed_again(factory, tmp_path, monkeypatch) -> None:
    _fleet_folder(tmp_path, 50)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "0000000001" / ".pc001_partial.json").write_text("{}")  # what a glob would not list either
    (tmp_path / ".onshi-cert").mkdir()
    _age(tmp_path, *(p for p in tmp_path.iterdir() if p.is_dir()))
    first = backups.BackupIndex.scan(tmp_path)
    assert len(first.listing) == 50
    assert (tmp_path / backups.LISTING_CACHE).is_file()
    # The next task (another PC): no folder changed since, so none is listed again.
    listed: list[str] = []
    real = backups.os.scandir
    monkeypatch.setattr(backups.os, "scandir", lambda path: listed.append(str(path)) or real(path))
    assert [item.path for item in backups.BackupIndex.scan(tmp_path).listing] == [item.path for item in first.listing]
    assert listed == []
    # A backup written since (into an existing folder and into a new one) is found, listing only those folders.
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    new = backups.write(tmp_path, "pc-new", "0110113719", data, load_pkcs12(data, "pw"), Encryption.AES256)
    again = backups.write(tmp_path, "pc-new", "0000000007", data, load_pkcs12(data, "pw"), Encryption.AES256)
    index = backups.BackupIndex.scan(tmp_path)
    assert {b.path for b in index.of(new.thumbprint)} == {new.path, again.path}
    assert sorted(listed) == sorted([str(tmp_path), str(tmp_path / "0110113719"), str(tmp_path / "0000000007")])


def test_folders_written_just_before_a_listing_are_listed_again_only_until_they_are_sure(tmp_path, monkeypatch) -> None:
    """Backups written moments before a task (the same second: coarse time stamps could hide one more) are listed
    again by the next task; once that task's listing is well after them, the tasks after it list nothing again."""
    _fleet_folder(tmp_path, 30)  # written now: within the unsure window of the first listing
    assert len(backups.BackupIndex.scan(tmp_path).listing) == 30
    later = backups.time.time_ns() + 10 * 1_000_000_000
    monkeypatch.setattr(backups.time, "time_ns", lambda: later)  # the next PC's task, ten seconds on
    listed: list[str] = []
    real = backups.os.scandir
    monkeypatch.setattr(backups.os, "scandir", lambda path: listed.append(str(path)) or real(path))
    assert len(backups.BackupIndex.scan(tmp_path).listing) == 30
    assert len(listed) == 31  # the root and every folder: they were too close to the first listing
    listed.clear()
    assert len(backups.BackupIndex.scan(tmp_path).listing) == 30
    assert listed == []  # sure now: the second listing was written well after them


def test_a_stale_cache_never_makes_a_backup_up(factory, tmp_path) -> None:
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    kept = backups.write(tmp_path, "pc1", "0110113719", data, load_pkcs12(data, "pw"), Encryption.AES256)
    backups.BackupIndex.scan(tmp_path)
    kept.path.with_suffix(".json").unlink()  # removed by hand behind the cache's back, the folder's time kept
    folder = kept.path.parent
    os_stat = folder.stat()
    backups.os.utime(folder, ns=(os_stat.st_atime_ns, os_stat.st_mtime_ns))
    assert backups.BackupIndex.scan(tmp_path).of(kept.thumbprint) == []


def test_a_broken_or_unwritable_cache_is_only_listed_again(tmp_path) -> None:
    _fleet_folder(tmp_path, 3)
    (tmp_path / ".onshi-cert").mkdir()
    (tmp_path / backups.LISTING_CACHE).write_text("{not json")
    assert len(backups.BackupIndex.scan(tmp_path).listing) == 3
    assert json.loads((tmp_path / backups.LISTING_CACHE).read_text())["folders"]
    (tmp_path / backups.LISTING_CACHE).unlink()
    (tmp_path / ".onshi-cert").chmod(0o500)  # a read-only share: the audit still reads every backup
    try:
        assert len(backups.BackupIndex.scan(tmp_path).listing) == 3
    finally:
        (tmp_path / ".onshi-cert").chmod(0o700)


def _manifest_by_hand(folder, index: int) -> str:
    name = f"pc-hand_{index:040X}_{index:08x}.json"
    (folder / name).write_text("{}")
    return name


def test_a_run_looks_at_each_folder_once_and_sees_its_own_backups(factory, tmp_path) -> None:
    """Tasks of one ansible-playbook run take the listing an earlier task of the run made, without looking at each
    folder again; a backup written through write() (by any task) and a folder added are seen at once; a manifest
    copied into a folder by hand during the run is seen by the next run (or outside a run, at once)."""
    _fleet_folder(tmp_path, 20)
    (tmp_path / ".onshi-cert").mkdir()
    _age(tmp_path, *(p for p in tmp_path.iterdir() if p.is_dir()))
    assert len(backups.BackupIndex.scan(tmp_path, "run-1").listing) == 20
    assert json.loads((tmp_path / backups.LISTING_CACHE).read_text())["run"] == "run-1"
    hand = _manifest_by_hand(tmp_path / "0000000003", 777)
    names = lambda index: {item.name for item in index.listing}  # noqa: E731
    assert hand not in names(backups.BackupIndex.scan(tmp_path, "run-1"))  # this run: not looked at again
    assert hand in names(backups.BackupIndex.scan(tmp_path))  # outside a run: every folder looked at
    assert hand in names(backups.BackupIndex.scan(tmp_path, "run-2"))  # the next run
    _age(tmp_path, *(p for p in tmp_path.iterdir() if p.is_dir()))
    backups.BackupIndex.scan(tmp_path, "run-2")  # the run's listing, sure of every folder
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    for code in ("0110113719", "0000000005"):  # a new folder, and an existing one (its root time is not changed)
        new = backups.write(tmp_path, "pc-new", code, data, load_pkcs12(data, "pw"), Encryption.AES256)
        assert new.path in {b.path for b in backups.BackupIndex.scan(tmp_path, "run-2").of(new.thumbprint)}
        _age(tmp_path, *(p for p in tmp_path.iterdir() if p.is_dir()))
        backups.BackupIndex.scan(tmp_path, "run-2")
    (tmp_path / "0999999999").mkdir()  # a folder added by hand: the root's time changes
    _manifest_by_hand(tmp_path / "0999999999", 888)
    assert any(item.facility_code == "0999999999" for item in backups.BackupIndex.scan(tmp_path, "run-2").listing)


def test_a_backup_whose_root_time_cannot_be_changed_drops_the_listing(factory, tmp_path, monkeypatch) -> None:
    _fleet_folder(tmp_path, 3)
    (tmp_path / ".onshi-cert").mkdir()
    _age(tmp_path, *(p for p in tmp_path.iterdir() if p.is_dir()))
    backups.BackupIndex.scan(tmp_path, "run-1")
    real = backups.os.utime

    def refuse(path, *args, **kwargs):
        if not args and not kwargs:
            raise PermissionError("read-only root")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(backups.os, "utime", refuse)
    ours = factory.leaf("0110113719")
    data = ours.p12("pw", Encryption.AES256)
    new = backups.write(tmp_path, "pc-new", "0000000001", data, load_pkcs12(data, "pw"), Encryption.AES256)
    assert not (tmp_path / backups.LISTING_CACHE).exists()
    assert [b.path for b in backups.BackupIndex.scan(tmp_path, "run-1").of(new.thumbprint)] == [new.path]


def test_a_malformed_listing_of_the_run_is_listed_again(tmp_path) -> None:
    _fleet_folder(tmp_path, 3)
    (tmp_path / ".onshi-cert").mkdir()
    _age(tmp_path, *(p for p in tmp_path.iterdir() if p.is_dir()))
    backups.BackupIndex.scan(tmp_path, "run-1")
    cache = tmp_path / backups.LISTING_CACHE
    broken = json.loads(cache.read_text()) | {"folders": {"0000000001": 5}}
    cache.write_text(json.dumps(broken))
    _age(tmp_path)
    assert len(backups.BackupIndex.scan(tmp_path, "run-1").listing) == 3
