#!/usr/bin/env python3
"""What the fleet record costs, measured side by side in one run.

``audit``: one lab of N PCs; the audit of this checkout (which adds the play's observations to the record and
draws the report from it) and the audit of an older commit without a record (a git worktree) run in turn on that
lab, pair by pair; each run's controller CPU (user + system of ansible-playbook and its forks, the lab apart) is
printed with the ratio of each pair and their median.

``slices``: one lab of N PCs and a private PostgreSQL server; the audit in K concurrent slices (``--limit`` parts, as
AWX job slicing runs them), then what the record holds and what the last report says.

``report``: a simulated store of N PCs with W weekly observations each (one year: 52), then the whole-fleet report
drawn from it (the record's latest per PC, the entries, every report file), in a fresh process: wall seconds and
peak memory.

    .venv/bin/python bench/store.py audit --size 1000 --latency 1.5 --pairs 3 --before 662d502
    .venv/bin/python bench/store.py audit --size 1000 --latency 1.5 --pairs 3 --before f2491ec --floor   # speed guard
    .venv/bin/python bench/store.py slices --size 1000 --slices 4 --latency 1.5
    .venv/bin/python bench/store.py report --size 10000 --weeks 52
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

BIN = Path(sys.executable).parent
#: Ansible's floor for one execution per PC: the audit as one ansible.windows.win_powershell task (the lab counts
#: it and answers with an error, as it refuses foreign code; the controller's work is the same).
FLOOR = ROOT / "bench" / "baseline" / "audit_powershell.yml"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _audit(checkout: Path, inventory: Path, forks: int, playbook: Path | None = None) -> tuple[float, float, int]:
    """Run checkout's audit.yml (or ``playbook``) on the lab; return (controller CPU s, wall s, exit code)."""
    env = os.environ | {
        "ANSIBLE_CONFIG": str(checkout / "ansible.cfg"),
        "ANSIBLE_FORKS": str(forks),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    before, started = _children_cpu(), time.monotonic()
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook or checkout / "playbooks" / "audit.yml")],
        cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return _children_cpu() - before, time.monotonic() - started, proc.returncode


def audit(args: argparse.Namespace) -> int:
    """Audit with the record (this checkout) and without it (--before), in turn on one lab."""
    from fleet import fleet  # bench/fleet.py

    from onshi_cert_tools.lab.runtime import raise_open_files, up

    raise_open_files()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before], check=True,
                       capture_output=True)  # fmt: skip
        try:
            link = before / ".collections" / "ansible_collections" / "onshi"
            link.mkdir(parents=True, exist_ok=True)
            (link / "cert").symlink_to("../../..")
            client = up(Path(tmp) / "lab", fleet(Path(tmp), args.size, "127.1.0.1"), fresh=True,
                        latency=args.latency, timeout=600)  # fmt: skip
            try:
                floor_head = f" {'floor CPU s':>12} {'this/floor':>10} {'before/floor':>12}" if args.floor else ""
                print(f"{'pair':>4} {'this CPU s':>12} {'before CPU s':>12} {'ratio':>6} {'wall s':>7} {'wall s':>7}"
                      + floor_head)  # fmt: skip
                ratios, this_floor, before_floor = [], [], []
                for pair in range(args.pairs + 1):  # the first pair warms the lab and the page cache
                    a = _audit(ROOT, client.inventory, args.forks)
                    b = _audit(before, client.inventory, args.forks)
                    c = _audit(ROOT, client.inventory, args.forks, FLOOR) if args.floor else None
                    if pair == 0:
                        continue
                    ratios.append(a[0] / b[0])
                    line = f"{pair:>4} {a[0]:>12.1f} {b[0]:>12.1f} {a[0] / b[0]:>6.3f} {a[1]:>7.1f} {b[1]:>7.1f}"
                    if c is not None:
                        this_floor.append(a[0] / c[0])
                        before_floor.append(b[0] / c[0])
                        line += f" {c[0]:>12.1f} {a[0] / c[0]:>10.3f} {b[0] / c[0]:>12.3f}"
                    print(line + ("" if a[2] == b[2] else f"  (exit {a[2]} vs {b[2]})"))
                median = statistics.median(ratios)
                print(f"median ratio (CPU of this checkout / of --before): {median:.3f} ({args.size} PCs, "
                      f"latency {args.latency} s, {args.forks} forks, before = {args.before})")  # fmt: skip
                if args.floor:
                    print(
                        f"median ratio to the floor (one win_powershell task per PC): this checkout "
                        f"{statistics.median(this_floor):.3f}, before {statistics.median(before_floor):.3f}"
                    )
            finally:
                client.shutdown()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    return 0


def slices(args: argparse.Namespace) -> int:
    """Audit N PCs in K concurrent slices writing one PostgreSQL record; print what the record and report hold."""
    import json

    from fleet import fleet  # bench/fleet.py

    from onshi_cert.store import Store
    from onshi_cert_tools.lab.runtime import raise_open_files, up

    sys.path.insert(0, str(ROOT))
    from tests.postgres import server

    raise_open_files()
    with tempfile.TemporaryDirectory() as tmp, server() as pg:
        client = up(Path(tmp) / "lab", fleet(Path(tmp), args.size, "127.1.0.1"), fresh=True, latency=args.latency,
                    timeout=600)  # fmt: skip
        try:
            hosts = sorted(client.status()["hosts"])
            env = os.environ | {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORKS": str(args.forks),
                                "PATH": f"{BIN}:{os.environ['PATH']}", "PGPASSWORD": pg.password}  # fmt: skip
            procs = []
            started = time.monotonic()
            for n in range(args.slices):
                part = Path(tmp) / f"slice{n}.txt"
                part.write_text("\n".join(hosts[n :: args.slices]) + "\n")
                playbook = str(ROOT / "playbooks" / "audit.yml")
                command = [str(BIN / "ansible-playbook"), "-i", str(client.inventory), playbook,
                           "--limit", f"@{part}", "-e", f"onshi_cert_store={pg.url}"]  # fmt: skip
                procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))  # fmt: skip
            codes = [p.wait() for p in procs]
            wall = time.monotonic() - started
            with Store.open(pg.url, None, pg.password) as store:
                counts = store.counts()
            data = json.loads((client.state_dir / "reports" / "latest" / "report.json").read_text())
            print(f"{args.slices} slices of {args.size} PCs (latency {args.latency} s, {args.forks} forks each): "
                  f"{wall:.0f} s, exit codes {codes}; record: {counts['pcs']} PCs, {counts['observations']} "
                  f"observations; last report: {data['summary']['hosts']} PCs, {data['summary']['unseen']} never "
                  f"audited")  # fmt: skip
        finally:
            client.shutdown()
    return 0


def _fact(index: int, week: int, now: dt.datetime) -> dict:
    """A PC's onshi_cert fact as an audit leaves it, W weeks ago (two certificates: the kept one, a stale one)."""
    code = f"{13_100_000_00 + index:010d}"
    seen = now - dt.timedelta(weeks=week)
    expiry = now + dt.timedelta(days=(index * 7) % 900 - 30)
    certs = []
    for n, (thumb, not_after) in enumerate(((f"{index:08X}{'A' * 32}", expiry),
                                            (f"{index:08X}{'B' * 32}", expiry - dt.timedelta(days=1095)))):  # fmt: skip
        certs.append({
            "thumbprint": thumb, "subject": f"CN={code}-01,O=Online Eligibility Confirmation,C=JP",
            "subject_cn": f"{code}-01", "issuer": "CN=Online Billing NW Common Root CA,C=JP",
            "issuer_cn": "Online Billing NW Common Root CA", "serial": f"{index:032X}",
            "not_before": (not_after - dt.timedelta(days=1095)).isoformat(), "not_after": not_after.isoformat(),
            "facility_code": code, "facility_codes": [code], "days_remaining": (not_after - seen).days,
            "stage": "ok", "verdict": "ok" if n == 0 else "expired", "ours": True, "has_key": True,
            "key_usable": True, "key_exportable": True, "eku": ["1.3.6.1.5.5.7.3.2"], "key_size": 2048,
        })  # fmt: skip
    return {
        "host": {"computer_name": f"PC{index:05d}", "os_build": 19045, "os_version": "10.0.19045.0",
                 "ps_version": "5.1.19045.1", "user": f"PC{index:05d}\\OQSComApp", "is_admin": False,
                 "logon_type": "interactive", "dpapi": True},
        "certificates": certs,
        "problems": [{"code": "stale", "count": 1, "message": "1 stale certificate(s)"}],
        "plan": {"keep": {code: certs[0]["thumbprint"]}, "stale": [{"thumbprint": certs[1]["thumbprint"],
                 "reason": "expired"}], "missing": [], "foreign": []},
        "face_auth": {"version": "2.1.3", "ok": True, "path": "C:\\Program Files\\OQS\\FaceAuth\\face.dll"},
        "attention": False,
        "backups": [{"facility_code": code, "thumbprint": certs[0]["thumbprint"], "verified": True}],
    }  # fmt: skip


def report(args: argparse.Namespace) -> int:
    """Fill a store (once per size and weeks; kept in --cache), then time the whole-fleet report from it."""
    from onshi_cert.store import Pc, Run, Store

    folder = args.cache / f"store-{args.size}x{args.weeks}"
    if not (folder / "onshi-cert.db").exists():
        started = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        with Store.open(None, folder / "filling") as store:
            for week in range(args.weeks - 1, -1, -1):
                seen = [(Pc(f"pc{i:05d}", f"site{i // 25:03d}", f"clinic {i // 2}", (f"{13_100_000_00 + i:010d}",)),
                         _fact(i, week, now) if (i + week) % 50 else None, "" if (i + week) % 50 else "no answer")
                        for i in range(args.size)]  # fmt: skip
                store.observe(Run(f"week-{week}"), seen, now - dt.timedelta(weeks=week))
        (folder / "filling" / "onshi-cert.db").rename(folder / "onshi-cert.db")
        size_mb = (folder / "onshi-cert.db").stat().st_size / 1e6
        print(f"filled {args.size} PCs x {args.weeks} weeks in {time.monotonic() - started:.0f} s ({size_mb:.0f} MB)")
    code = f"""
import resource, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT / "src")!r})
started = time.monotonic()
from onshi_cert.core.certinfo import utcnow
from onshi_cert.report import build, fleet, writer
from onshi_cert.store import Pc, Store
now = utcnow()
members = [Pc(f"pc{{i:05d}}", f"site{{i // 25:03d}}", f"clinic {{i // 2}}", (f"{{13_100_000_00 + i:010d}}",))
           for i in range({args.size})]
with Store.open(None, {str(folder)!r}) as store:
    record = store.latest()
read = time.monotonic() - started
data = build(fleet.entries(members, record, now), now=now, stale_days=14)
data["departed"] = fleet.departed(members, record)
data["changes"] = fleet.changes(members, record)
writer.write(data, Path({str(folder)!r}) / "report")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{{read:.1f}} {{time.monotonic() - started:.1f}} {{peak:.0f}}")
"""
    for run in range(args.runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        print(f"run {run + 1}: read the record {out[0]} s, whole report {out[1]} s, peak {out[2]} MB "
              f"({args.size} PCs, {args.weeks} weekly observations each)")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("audit", help="audit CPU with the record vs an older commit without it, pair by pair")
    a.add_argument("--size", type=int, default=1000)
    a.add_argument("--latency", type=float, default=1.5)
    a.add_argument("--forks", type=int, default=50)
    a.add_argument("--pairs", type=int, default=3)
    a.add_argument("--before", default="662d502", help="a commit without the fleet record")
    a.add_argument("--floor", action="store_true", help="also the one-task win_powershell audit (pip install ansible)")
    c = sub.add_parser("slices", help="the audit in concurrent slices on one PostgreSQL record")
    c.add_argument("--size", type=int, default=1000)
    c.add_argument("--slices", type=int, default=4)
    c.add_argument("--latency", type=float, default=1.5)
    c.add_argument("--forks", type=int, default=25)
    r = sub.add_parser("report", help="the whole-fleet report from a simulated year of observations")
    r.add_argument("--size", type=int, default=10000)
    r.add_argument("--weeks", type=int, default=52)
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "onshi-cert-bench")
    args = parser.parse_args()
    return {"audit": audit, "slices": slices, "report": report}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
