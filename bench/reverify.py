#!/usr/bin/env python3
"""Re-check N toolkit backups as an audit does, on the fast path (core/reopen.py) or with the full load.

    .venv/bin/python bench/reverify.py prepare /tmp/backups 100   # write 100 AES backups (2048-bit RSA keys)
    .venv/bin/python bench/reverify.py fast /tmp/backups           # backup.reverify: MAC, decryption, RSA consistency
    .venv/bin/python bench/reverify.py full /tmp/backups           # backup.verify: cryptography's full load

Run the last two side by side (A B A B ...) and divide the difference by N: the CPU each audited PC with one
backup saves, to set against the audit's controller CPU per PC (bench/fleet.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from onshi_cert.core import backup  # noqa: E402
from onshi_cert.core.pkcs12 import Encryption, load_pkcs12  # noqa: E402

PASSWORD = "Bench-Backup-1"


def main(argv: list[str]) -> int:
    action, folder = argv[0], Path(argv[1])
    if action == "prepare":
        from onshi_cert_tools.factory import CertificateFactory

        factory = CertificateFactory()
        for index in range(int(argv[2])):
            data = factory.leaf("3410712362").p12(PASSWORD, Encryption.AES256)
            backup.write(folder, f"pc{index:04d}", "3410712362", data, load_pkcs12(data, PASSWORD), Encryption.AES256)
        return 0
    check = backup.reverify if action == "fast" else backup.verify
    for item in backup.BackupIndex.scan(folder).backups:
        check(item.path.read_bytes(), PASSWORD, item.thumbprint)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
