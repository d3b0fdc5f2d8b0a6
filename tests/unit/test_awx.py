"""AWX out of the box: the controller objects (awx/controller.yml), the playbook that creates them, the fleet
repository AWX runs, and ansible-navigator's settings agree with the collection."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "awx"
DATA = yaml.safe_load((AWX / "controller.yml").read_text(encoding="utf-8"))
JOBS = {"audit", "backup", "renew", "cleanup", "provision", "replace_pc"}


def role_variables() -> set[str]:
    names: set[str] = set()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text(encoding="utf-8"))["argument_specs"].values():
            names |= set(entry.get("options") or {})
    return names


def test_a_job_template_per_job_each_asking_limit_and_dry_run() -> None:
    """Every job has a template running the fleet repository's playbook; limit and check mode asked at launch;
    jobs that change PCs default to check (a dry run) so that a click never changes a PC unasked."""
    templates = DATA["controller_templates"]
    assert {Path(t["playbook"]).stem for t in templates} == JOBS
    for template in templates:
        assert template["ask_limit_on_launch"] and template["ask_job_type_on_launch"], template["name"]
        if Path(template["playbook"]).stem not in {"audit", "backup"}:
            assert template["job_type"] == "check", template["name"]


def test_the_fleet_repository_runs_the_collections_jobs(tmp_path: Path) -> None:
    """Each template's playbook exists in the fleet repository template and imports onshi.cert.<job>, which the
    collection ships; ansible-playbook --syntax-check resolves it through the collection."""
    fleet = AWX / "fleet-repository"
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),  # none of the checkout's settings
    }
    playbooks = [fleet / template["playbook"] for template in DATA["controller_templates"]]
    for playbook in playbooks:
        job = playbook.stem
        imported = yaml.safe_load(playbook.read_text(encoding="utf-8"))[0]["ansible.builtin.import_playbook"]
        assert imported == f"onshi.cert.{job}" and (ROOT / "playbooks" / f"{job}.yml").is_file()
    check = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            "localhost,",
            *map(str, playbooks),
        ],
        cwd=fleet,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("playbook:") == len(playbooks)


def test_surveys_and_extra_vars_set_documented_role_variables() -> None:
    """A survey or extra variable AWX sets is one the roles document (argument_specs), never a typo."""
    known = role_variables()
    for template in DATA["controller_templates"]:
        names = set(template.get("extra_vars") or {})
        names |= {q["variable"] for q in (template.get("survey_spec") or {}).get("spec", [])}
        assert names <= known, (template["name"], names - known)
    replace = next(t for t in DATA["controller_templates"] if t["playbook"].endswith("replace_pc.yml"))
    assert replace["survey_enabled"] and replace["survey_spec"]["spec"][0]["variable"] == "onshi_cert_restore_from"


def test_the_weekly_audit_is_scheduled_in_japan_time() -> None:
    """One weekly schedule of the audit template, at a JST time before clinics open."""
    (schedule,) = DATA["controller_schedules"]
    assert schedule["unified_job_template"] in {t["name"] for t in DATA["controller_templates"]}
    assert "audit" in schedule["unified_job_template"]
    match = re.fullmatch(
        r"DTSTART;TZID=Asia/Tokyo:(\d{8})T(\d{2})(\d{4}) RRULE:FREQ=WEEKLY;BYDAY=(MO|TU|WE|TH|FR)", schedule["rrule"]
    )
    assert match and int(match.group(2)) < 8, schedule["rrule"]


def test_configure_uses_only_awx_modules_and_fields_the_data_has() -> None:
    """awx/configure.yml creates each object with awx.awx modules from fields present in awx/controller.yml."""
    text = (AWX / "configure.yml").read_text(encoding="utf-8")
    tasks = yaml.safe_load(text)[0]["tasks"]
    for task in tasks:
        module = next(k for k in task if k not in {"name", "loop", "loop_control"})
        assert module.startswith("awx.awx."), module
        data = DATA[task["loop"].strip("{} ")]
        for field in re.findall(r"item\.(\w+)\b(?!\s*\|\s*default)", yaml.safe_dump(task[module])):
            assert all(field in entry for entry in data), (module, field)

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return {str(k) for k in value} | {n for v in value.values() for n in keys(v)}
        return {n for v in value for n in keys(v)} if isinstance(value, list) else set()

    # A credential type's inputs are the form AWX shows (no value in them); every other object holds no secret.
    objects = {name: value for name, value in DATA.items() if name != "controller_credential_types"}
    assert not {k for k in keys(objects) if re.search("password|secret|inputs|token", k)}, "secrets belong in AWX"
    for kind in DATA["controller_credential_types"]:
        assert all(set(field) <= {"id", "type", "label", "secret"} for field in kind["inputs"]["fields"]), "no values"
    requirements = yaml.safe_load((AWX / "requirements.yml").read_text(encoding="utf-8"))
    assert [c["name"] for c in requirements["collections"]] == ["awx.awx"]


def test_navigator_runs_the_ee_with_the_recap() -> None:
    """ansible-navigator.yml names the EE image of this version and enables the recap by FQCN."""
    settings = yaml.safe_load((ROOT / "ansible-navigator.yml").read_text(encoding="utf-8"))["ansible-navigator"]
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    environment = settings["execution-environment"]
    assert environment["image"] == f"onshi-cert-ee:{version}"
    assert environment["environment-variables"]["set"]["ANSIBLE_CALLBACKS_ENABLED"] == "onshi.cert.onshi_cert_recap"
