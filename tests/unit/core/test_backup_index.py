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
