#!/usr/bin/env python3
"""Fleet-scale benchmark: how fast, how cheap per PC, how it grows.

Runs the real playbooks (ansible-playbook -> winrm -> pywinrm) against lab fleets and prints, per
fleet size, latency and job: makespan, controller CPU seconds per PC, host executions per PC, WS-Man
operations and bytes per PC, peak memory of the largest controller process and of the lab, and the forks
used; beside the makespan, the CPU-bound floor (controller CPU / cores) and the latency-bound limit
(executions x latency / forks), and per job the forks that gave the best makespan. With --baseline it runs
the same audit and provisioning written with ansible.windows modules, per module and as one win_powershell
task (the lab refuses to run foreign code but counts their executions and the payload bytes Ansible sends),
and prints the ratios; the per-module baseline's real execution count is read from its playbook (win_copy
alone is 5 executions: temporary folder, query, file transfer, copy, clean-up).

    .venv/bin/python bench/fleet.py                          # 10 and 100 PCs, latency 0 and 1.5 s
    .venv/bin/python bench/fleet.py --sizes 1000 --latencies 1.5 --jobs audit
    .venv/bin/python bench/fleet.py --sizes 10 --latencies 0 --baseline   # needs: pip install ansible
    .venv/bin/python bench/fleet.py --sizes 100 --latencies 0 --connections winrm,psrp   # PSRP beside WinRM
    .venv/bin/python bench/fleet.py --sizes 1000 --latencies 1.5 --jobs audit --forks 25,50,100 --backups
"""

from __future__ import annotations

import argparse
import base64
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
from onshi_cert_tools.lab.runtime import LabClient, raise_open_files, up  # noqa: E402

BIN = Path(sys.executable).parent
USERS = {
    "Administrator": {"password": "Lab-Admin-2026!", "admin": True},
    "OQSComApp": {"password": "Lab-Oqs-2026!", "admin": False, "remote_management": True},
}
EXTRA = {
    "audit-expiry-only": [
        "-e",
        "onshi_cert_audit_expiry_only=true",
        "-e",
        "ansible_user=OQSComApp",
        "-e",
        "ansible_password=Lab-Oqs-2026!",
    ]
}
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
    "baseline-ps-audit": "bench/baseline/audit_powershell.yml",
    "baseline-ps-provision": "bench/baseline/provision_powershell.yml",
}
#: Executions a module really takes on a PC, from ansible-core's and ansible.windows' action plugins (with
#: pipelining): win_copy of one file = temporary folder + query + put_file + copy + remove folder; fetch =
#: stat + fetch_file (one chunk); the others run their module once.
EXECUTIONS_PER_MODULE = {"ansible.windows.win_copy": 5, "ansible.builtin.fetch": 2}


def real_executions(playbook: Path) -> int:
    """Return the executions per PC a baseline playbook really takes (what the lab counts is a lower bound)."""
    total = 0
    for play in yaml.safe_load(playbook.read_text()):
        for task in play.get("tasks", []):
            module = next(k for k in task if "." in k)
            total += EXECUTIONS_PER_MODULE.get(module, 1) * len(task.get("loop") or [None])
    return total


def code(index: int) -> str:
    nine = f"{1 + index % 47:02d}1{index % 100:02d}{index % 10000:04d}"
    return nine + str(luhn_check_digit(nine))


def lab_cpu_s(client: LabClient) -> float:
    """Return the CPU seconds the lab process has used so far (user and system, from /proc)."""
    fields = Path(f"/proc/{client.status()['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lab_peak_mb(client: LabClient) -> float:
    """Return the lab process's peak resident memory (VmHWM) in MB."""
    pid = client.status()["pid"]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_backups(client: LabClient, size: int) -> None:
    """Back up each PC's installed certificate in the lab's backup folder, as on a fleet that has been backed up
    (so the audit opens and checks one backup per PC)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from onshi_cert.core import backup as backups
    from onshi_cert.core.pkcs12 import Encryption, encrypt_pkcs12, load_pkcs12
    from onshi_cert_tools.lab.fleet import LAB_BACKUP_PASSWORD

    for index in range(size):
        state = json.loads((client.state_dir / "hosts" / f"pc{index:04d}.json").read_text())
        for row in state["stores"].get("CurrentUser[OQSComApp]\\My", []):
            if not row.get("key_pem"):
                continue
            cert = x509.load_der_x509_certificate(base64.b64decode(row["der"]))
            key = serialization.load_pem_private_key(row["key_pem"].encode(), None)
            data = encrypt_pkcs12(key, cert, [], LAB_BACKUP_PASSWORD, Encryption.AES256)
            bundle = load_pkcs12(data, LAB_BACKUP_PASSWORD)
            backups.write(client.state_dir / "backups", f"pc{index:04d}", code(index), data, bundle, Encryption.AES256)


def fleet(folder: Path, size: int, base: str) -> Path:
    """Write a fleet of ``size`` PCs, each with a certificate expiring in 30 days (so provisioning renews it)."""
    hosts = [
        {
            "name": f"pc{i:04d}",
            "site": f"site{i // 25:03d}",
            "facility_codes": [code(i)],
            "certs": [{"code": code(i), "days_left": 30}],
        }
        for i in range(size)
    ]
    path = folder / "fleet.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"users": USERS, "face_auth_version": "2.1.3"},
                "network": {"base_address": base},
                "hosts": hosts,
            }
        )
    )
    return path


def _env(forks: int) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
    }


def _playbook(job: str, client: LabClient, connection: str) -> list[str]:
    return [
        str(BIN / "ansible-playbook"),
        "-i",
        str(client.inventory),
        str(ROOT / JOBS[job]),
        *EXTRA.get(job, []),
        "-e",
        f"ansible_connection={connection}",
    ]


def run(job: str, client: LabClient, size: int, forks: int, connection: str = "winrm") -> dict:
    """Run one job over ``connection`` (winrm or psrp) and return its figures."""
    client.reset()
    cmd = [sys.executable, "-c", WRAPPER, *_playbook(job, client, connection)]
    lab_before = lab_cpu_s(client)
    out = subprocess.run(cmd, cwd=ROOT, env=_env(forks), capture_output=True, text=True, check=True)
    lab_cpu = lab_cpu_s(client) - lab_before
    figures = json.loads(out.stdout)
    status = client.status()["hosts"].values()
    executions = sum(h["executions"] for h in status)
    return {
        "job": job if connection == "winrm" else f"{job}/{connection}",
        "connection": connection,
        "pcs": size,
        "rc": figures["rc"],
        "makespan_s": figures["wall"],
        "cpu_s_per_pc": figures["cpu"] / size,
        "lab_cpu_s_per_pc": lab_cpu / size,
        "executions_per_pc": executions / size,
        "wsman_ops_per_pc": sum(h["operations"] for h in status) / size,
        "kb_in_per_pc": sum(h["bytes_in"] for h in status) / size / 1024,
        "kb_out_per_pc": sum(h["bytes_out"] for h in status) / size / 1024,
        "kb_per_execution": sum(h["bytes_in"] for h in status) / max(executions, 1) / 1024,
        "peak_mb": figures["maxrss_mb"],
        "lab_peak_mb": lab_peak_mb(client),
        "forks": forks,
        "cpu_floor_s": figures["cpu"] / (os.cpu_count() or 1),
        "real_executions_per_pc": (
            real_executions(ROOT / JOBS[job]) if job.startswith("baseline") else executions / size
        ),
    }


def profile(job: str, client: LabClient, size: int, forks: int, connection: str) -> dict[str, float]:
    """Run the job again under ``cpu_profile.py`` and return its controller CPU per PC by bucket."""
    client.reset()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.json"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "cpu_profile.py"), str(out), *_playbook(job, client, connection)],
            cwd=ROOT,
            env=_env(forks),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if not out.exists():
            raise SystemExit(f"the profiled run of {job} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        figures = json.loads(out.read_text())
    return {name: seconds / size for name, seconds in figures["buckets"].items()}


def print_profile(row: dict, buckets: dict[str, float]) -> None:
    """Print where one job's controller CPU per PC went, by kind of work and by task, largest first."""
    own = {key: s for key, s in buckets.items() if "profiler's own" in key}
    work = {key: s for key, s in buckets.items() if key not in own}
    total = sum(work.values())
    print(
        f"  where {row['job']}'s controller CPU went ({row['pcs']} PCs; profiled run {total:.3f} s per PC "
        f"without the profiler's own {sum(own.values()):.3f} s):"
    )
    for title, part in (
        (
            "by kind of work",
            lambda key: ("parent: " if "parent" in key.split("\t")[0] else "workers: ") + key.split("\t")[1],
        ),
        ("by task (its workers)", lambda key: key.split("\t")[0]),
    ):
        grouped: dict[str, float] = {}
        for key, seconds in work.items():
            grouped[part(key)] = grouped.get(part(key), 0.0) + seconds
        print(f"    {title}:")
        for name, seconds in sorted(grouped.items(), key=lambda item: -item[1]):
            if seconds >= 0.0005:
                print(f"      {seconds:6.3f} s/PC {100 * seconds / total:5.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100")
    parser.add_argument("--latencies", default="0,1.5")
    parser.add_argument("--jobs", default="audit,audit-expiry-only,provision,rerun")
    parser.add_argument("--forks", default="50", help="forks, or a list to find the best (25,50,100)")
    parser.add_argument("--backups", action="store_true", help="one verified backup per PC on disk first")
    parser.add_argument("--baseline", action="store_true", help="also run the ansible.windows baseline")
    parser.add_argument("--connections", default="winrm", help="winrm, psrp or both (winrm,psrp)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run each job once more under bench/cpu_profile.py and print where its CPU goes",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    baselines = ["baseline-audit", "baseline-ps-audit", "baseline-provision", "baseline-ps-provision"]
    jobs = args.jobs.split(",") + (baselines if args.baseline else [])
    forks_list = [int(f) for f in str(args.forks).split(",")]
    raise_open_files()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for latency in (float(x) for x in args.latencies.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.monotonic()
                client = up(
                    Path(tmp) / "lab", fleet(Path(tmp), size, "127.1.0.1"), fresh=True, latency=latency, timeout=600
                )
                lab_start = time.monotonic() - started
                print(f"lab of {size} PCs (latency {latency} s) built and listening in {lab_start:.1f} s", flush=True)
                try:
                    downloads.issue(client.state_dir, client.state_dir / "certs")
                    if args.backups:
                        write_backups(client, size)
                    for job, forks in ((j, f) for j in jobs for f in forks_list):
                        for connection in args.connections.split(","):
                            if job.startswith("baseline") and connection != "winrm":
                                continue
                            if job == "provision" and (connection, forks) != (
                                args.connections.split(",")[0],
                                forks_list[0],
                            ):
                                continue  # the first provision renewed every PC already
                            row = run(job, client, size, min(forks, size), connection)
                            executions = row["executions_per_pc"] * size
                            row |= {
                                "latency_s": latency,
                                "lab_start_s": lab_start,
                                "latency_limit_s": executions * latency / min(forks, size),
                            }
                            rows.append(row)
                            print_row(row)
                            if args.profile and not job.startswith("baseline") and job != "provision":
                                row["profile_s_per_pc"] = profile(job, client, size, min(forks, size), connection)
                                print_profile(row, row["profile_s_per_pc"])
                finally:
                    client.shutdown()
    if args.baseline:
        print(
            "* baseline: counted, not run (the lab refuses foreign code): its makespan and CPU are not comparable;"
            " 'real' is the executions its modules take on a PC, read from its playbook"
        )
        print_ratios(rows)
    print_connection_ratios(rows)
    print_best_forks(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


HEADER = (
    f"{'job':21} {'PCs':>5} {'lat s':>5} {'rc':>3} {'makespan s':>10} {'floor s':>7} {'lat-lim s':>9} "
    f"{'CPU s/PC':>8} {'lab CPU':>7} {'exec/PC':>7} {'real':>5} {'ops/PC':>6} {'KB in/PC':>8} {'KB out/PC':>9} "
    f"{'KB/exec':>7} "
    f"{'peak MB':>7} {'lab MB':>6} {'forks':>5}"
)
_printed = False


def print_row(row: dict) -> None:
    global _printed
    if not _printed:
        print(HEADER)
        _printed = True
    # The lab counts the baseline's executions and bytes but refuses to run foreign code: its CPU and makespan
    # columns are not comparable, and a real win_copy alone takes 5 executions (the counts are a lower bound).
    job = row["job"] + ("*" if row["job"].startswith("baseline") else "")
    print(
        f"{job:21} {row['pcs']:>5} {row['latency_s']:>5.1f} {row['rc']:>3} {row['makespan_s']:>10.1f} "
        f"{row['cpu_floor_s']:>7.1f} {row['latency_limit_s']:>9.1f} "
        f"{row['cpu_s_per_pc']:>8.2f} {row['lab_cpu_s_per_pc']:>7.2f} {row['executions_per_pc']:>7.2f} "
        f"{row['real_executions_per_pc']:>5.1f} "
        f"{row['wsman_ops_per_pc']:>6.1f} {row['kb_in_per_pc']:>8.1f} {row['kb_out_per_pc']:>9.1f} "
        f"{row['kb_per_execution']:>7.1f} {row['peak_mb']:>7.0f} {row['lab_peak_mb']:>6.0f} {row['forks']:>5}",
        flush=True,
    )


def print_ratios(rows: list[dict]) -> None:
    """Print, against each baseline, its executions (real) and bytes per PC over onshi-cert's."""
    for ours, theirs in (
        ("audit", "baseline-audit"),
        ("audit", "baseline-ps-audit"),
        ("provision", "baseline-provision"),
        ("provision", "baseline-ps-provision"),
    ):
        for a in (r for r in rows if r["job"] == ours):
            b = next(
                (r for r in rows if r["job"] == theirs and r["pcs"] == a["pcs"] and r["latency_s"] == a["latency_s"]),
                None,
            )
            if b:
                print(
                    f"{theirs:21} / {ours:9} {a['pcs']:>5} PCs: executions per PC "
                    f"{b['real_executions_per_pc']:.0f} / {a['executions_per_pc']:.2f} = "
                    f"{b['real_executions_per_pc'] / a['executions_per_pc']:.1f}x, bytes per PC "
                    f"{b['kb_in_per_pc']:.0f} / {a['kb_in_per_pc']:.0f} KB = "
                    f"{b['kb_in_per_pc'] / a['kb_in_per_pc']:.2f}x (theirs a lower bound)"
                )


def print_best_forks(rows: list[dict]) -> None:
    """Print, per job, size and latency measured with several forks settings, the one with the best makespan."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["job"], row["pcs"], row["latency_s"]), []).append(row)
    for (job, pcs, latency), group in groups.items():
        if len(group) > 1:
            best = min(group, key=lambda r: r["makespan_s"])
            print(
                f"best forks for {job} at {pcs} PCs, latency {latency} s: {best['forks']} "
                f"({best['makespan_s']:.1f} s; CPU floor {best['cpu_floor_s']:.1f} s, "
                f"latency limit {best['latency_limit_s']:.1f} s)"
            )


def print_connection_ratios(rows: list[dict]) -> None:
    """Print, per job, fleet size and latency, how PSRP compares with WinRM (makespan, CPU, bytes)."""
    for a in (r for r in rows if r.get("connection") == "psrp"):
        base = a["job"].rsplit("/", 1)[0]
        b = next(
            (r for r in rows if r["job"] == base and r["pcs"] == a["pcs"] and r["latency_s"] == a["latency_s"]), None
        )
        if b:
            print(
                f"{base:17} {a['pcs']:>5} PCs lat {a['latency_s']:.1f}: psrp/winrm makespan "
                f"{a['makespan_s'] / b['makespan_s']:.2f}x, CPU per PC {a['cpu_s_per_pc'] / b['cpu_s_per_pc']:.2f}x, "
                f"KB in per PC {a['kb_in_per_pc'] / b['kb_in_per_pc']:.2f}x"
            )


if __name__ == "__main__":
    sys.exit(main())
