#!/usr/bin/env python3
"""Fleet-scale benchmark: how fast, how cheap per PC, how it grows.

Runs the real playbooks (ansible-playbook -> winrm -> pywinrm) against lab fleets and prints, per
fleet size, latency and job: makespan, controller CPU seconds per PC, host executions per PC, WS-Man
operations and bytes per PC, peak controller process memory, and the forks used. With --baseline it
runs the same audit and provisioning written with ansible.windows modules (the lab refuses to run
foreign code but counts their executions and the payload bytes Ansible sends) and prints the ratios.

    .venv/bin/python bench/fleet.py                          # 10 and 100 PCs, latency 0 and 1.5 s
    .venv/bin/python bench/fleet.py --sizes 1000 --latencies 1.5 --jobs audit
    .venv/bin/python bench/fleet.py --sizes 10 --latencies 0 --baseline   # needs: pip install ansible
    .venv/bin/python bench/fleet.py --sizes 100 --latencies 0 --connections winrm,psrp   # PSRP beside WinRM
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from onshi_cert.core.facility import luhn_check_digit  # noqa: E402
from onshi_cert_tools.lab import downloads  # noqa: E402
from onshi_cert_tools.lab.runtime import LabClient, up  # noqa: E402

BIN = Path(sys.executable).parent
USERS = {"Administrator": {"password": "Lab-Admin-2026!", "admin": True},
         "OQSComApp": {"password": "Lab-Oqs-2026!", "admin": False, "remote_management": True}}
EXTRA = {"audit-expiry-only": ["-e", "onshi_cert_audit_expiry_only=true", "-e", "ansible_user=OQSComApp",
                               "-e", "ansible_password=Lab-Oqs-2026!"]}
WRAPPER = """
import json, resource, subprocess, sys, time
start = time.monotonic()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "wall": time.monotonic() - start,
                  "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024}))
"""
JOBS = {
    "audit": "playbooks/audit.yml",
    "audit-expiry-only": "playbooks/audit.yml",
    "provision": "playbooks/provision.yml",
    "rerun": "playbooks/provision.yml",
    "baseline-audit": "bench/baseline/audit.yml",
    "baseline-provision": "bench/baseline/provision.yml",
}


def code(index: int) -> str:
    nine = f"{1 + index % 47:02d}1{index % 100:02d}{index % 10000:04d}"
    return nine + str(luhn_check_digit(nine))


def fleet(folder: Path, size: int, base: str) -> Path:
    """Write a fleet of ``size`` PCs, each with a certificate expiring in 30 days (so provisioning renews it)."""
    hosts = [{"name": f"pc{i:04d}", "site": f"site{i // 25:03d}", "facility_codes": [code(i)],
              "certs": [{"code": code(i), "days_left": 30}]} for i in range(size)]
    path = folder / "fleet.yml"
    path.write_text(yaml.safe_dump({"defaults": {"users": USERS, "face_auth_version": "2.1.3"},
                                    "network": {"base_address": base}, "hosts": hosts}))
    return path


def run(job: str, client: LabClient, size: int, forks: int, connection: str = "winrm") -> dict:
    """Run one job over ``connection`` (winrm or psrp) and return its figures."""
    client.reset()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_FORKS": str(forks),
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING": "False"}
    cmd = [sys.executable, "-c", WRAPPER, str(BIN / "ansible-playbook"), "-i", str(client.inventory),
           str(ROOT / JOBS[job]), *EXTRA.get(job, []), "-e", f"ansible_connection={connection}"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    status = client.status()["hosts"].values()
    executions = sum(h["executions"] for h in status)
    return {
        "job": job if connection == "winrm" else f"{job}/{connection}", "connection": connection,
        "pcs": size, "rc": figures["rc"], "makespan_s": figures["wall"],
        "cpu_s_per_pc": figures["cpu"] / size, "executions_per_pc": executions / size,
        "wsman_ops_per_pc": sum(h["operations"] for h in status) / size,
        "kb_in_per_pc": sum(h["bytes_in"] for h in status) / size / 1024,
        "kb_out_per_pc": sum(h["bytes_out"] for h in status) / size / 1024,
        "kb_per_execution": sum(h["bytes_in"] for h in status) / max(executions, 1) / 1024,
        "peak_mb": figures["maxrss_mb"], "forks": forks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100")
    parser.add_argument("--latencies", default="0,1.5")
    parser.add_argument("--jobs", default="audit,audit-expiry-only,provision,rerun")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--baseline", action="store_true", help="also run the ansible.windows baseline")
    parser.add_argument("--connections", default="winrm", help="winrm, psrp or both (winrm,psrp)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    jobs = args.jobs.split(",") + (["baseline-audit", "baseline-provision"] if args.baseline else [])
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for latency in (float(x) for x in args.latencies.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.monotonic()
                client = up(Path(tmp) / "lab", fleet(Path(tmp), size, "127.1.0.1"), fresh=True, latency=latency,
                            timeout=600)
                lab_start = time.monotonic() - started
                print(f"lab of {size} PCs (latency {latency} s) built and listening in {lab_start:.1f} s", flush=True)
                try:
                    downloads.issue(client.state_dir, client.state_dir / "certs")
                    for job in jobs:
                        for connection in args.connections.split(","):
                            if job.startswith("baseline") and connection != "winrm":
                                continue
                            if job == "provision" and connection != args.connections.split(",")[0]:
                                continue  # the first connection's provision renewed every PC already
                            row = run(job, client, size, min(args.forks, size), connection)
                            row |= {"latency_s": latency, "lab_start_s": lab_start}
                            rows.append(row)
                            print_row(row)
                finally:
                    client.shutdown()
    if args.baseline:
        print("* baseline: counted, not run (the lab refuses foreign code); executions are a lower bound")
        print_ratios(rows)
    print_connection_ratios(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


HEADER = (f"{'job':19} {'PCs':>5} {'lat s':>5} {'rc':>3} {'makespan s':>10} {'CPU s/PC':>8} {'exec/PC':>7} "
          f"{'ops/PC':>6} {'KB in/PC':>8} {'KB out/PC':>9} {'KB/exec':>7} {'peak MB':>7} {'forks':>5}")
_printed = False


def print_row(row: dict) -> None:
    global _printed
    if not _printed:
        print(HEADER)
        _printed = True
    # The lab counts the baseline's executions and bytes but refuses to run foreign code: its CPU and makespan
    # columns are not comparable, and a real win_copy alone takes 5 executions (the counts are a lower bound).
    job = row["job"] + ("*" if row["job"].startswith("baseline") else "")
    print(f"{job:19} {row['pcs']:>5} {row['latency_s']:>5.1f} {row['rc']:>3} {row['makespan_s']:>10.1f} "
          f"{row['cpu_s_per_pc']:>8.2f} {row['executions_per_pc']:>7.2f} {row['wsman_ops_per_pc']:>6.1f} "
          f"{row['kb_in_per_pc']:>8.1f} {row['kb_out_per_pc']:>9.1f} {row['kb_per_execution']:>7.1f} "
          f"{row['peak_mb']:>7.0f} {row['forks']:>5}", flush=True)


def print_ratios(rows: list[dict]) -> None:
    """Print how many times fewer executions and bytes per PC onshi-cert needs than the baseline."""
    for ours, theirs in (("audit", "baseline-audit"), ("provision", "baseline-provision")):
        for a in (r for r in rows if r["job"] == ours):
            b = next((r for r in rows if r["job"] == theirs and r["pcs"] == a["pcs"]
                      and r["latency_s"] == a["latency_s"]), None)
            if b:
                print(f"{ours:10} {a['pcs']:>5} PCs: baseline/onshi-cert executions per PC "
                      f"{b['executions_per_pc'] / a['executions_per_pc']:.1f}x, bytes per PC "
                      f"{b['kb_in_per_pc'] / a['kb_in_per_pc']:.1f}x")


def print_connection_ratios(rows: list[dict]) -> None:
    """Print, per job, fleet size and latency, how PSRP compares with WinRM (makespan, CPU, bytes)."""
    for a in (r for r in rows if r.get("connection") == "psrp"):
        base = a["job"].rsplit("/", 1)[0]
        b = next((r for r in rows if r["job"] == base and r["pcs"] == a["pcs"] and r["latency_s"] == a["latency_s"]),
                 None)
        if b:
            print(f"{base:17} {a['pcs']:>5} PCs lat {a['latency_s']:.1f}: psrp/winrm makespan "
                  f"{a['makespan_s'] / b['makespan_s']:.2f}x, CPU per PC {a['cpu_s_per_pc'] / b['cpu_s_per_pc']:.2f}x, "
                  f"KB in per PC {a['kb_in_per_pc'] / b['kb_in_per_pc']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
