"""The fleet-wide actions read per-host options from each host's variables, once per host."""

from __future__ import annotations

from collections import Counter

from ansible_collections.onshi.cert.plugins.plugin_utils.agent_session import HOST_VARIABLES, from_hostvars


class CountingHostvars(dict):
    """hostvars as the action sees it: host -> that host's variables; counts how often each host is read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: Counter[str] = Counter()

    def __getitem__(self, host):
        self.reads[host] += 1
        return super().__getitem__(host)


def test_options_not_given_are_read_from_each_host_once() -> None:
    hostvars = CountingHostvars(
        pc1={
            "onshi_cert": {"certificates": []},
            "group_names": ["oqs_pcs", "sapporo"],
            "onshi_cert_site": "札幌北",
            "onshi_cert_facility_name": "<b>北クリニック</b>",
            "onshi_cert_facility_codes": ["0110113719"],
        },
        pc2={"group_names": ["oqs_pcs"]},
    )
    args = {"hosts": ["pc1", "pc2", "gone"], "facts": None, **dict.fromkeys(HOST_VARIABLES)}
    filled = from_hostvars(args, {"hostvars": hostvars}, {"facts": "onshi_cert", **HOST_VARIABLES})
    assert filled["facts"] == {"pc1": {"certificates": []}, "pc2": None, "gone": None}
    assert filled["sites"] == {"pc1": ["oqs_pcs", "sapporo"], "pc2": ["oqs_pcs"], "gone": None}
    assert filled["site_names"]["pc1"] == "札幌北"
    assert filled["facility_names"] == {"pc1": "<b>北クリニック</b>", "pc2": None, "gone": None}
    assert filled["facility_codes"]["pc1"] == ["0110113719"]
    assert hostvars.reads == {"pc1": 1, "pc2": 1}  # each host's variables once, not once per option


def test_options_given_are_kept_and_nothing_is_read_when_all_are_given() -> None:
    hostvars = CountingHostvars(pc1={"onshi_cert_site": "from inventory"})
    given = {
        "hosts": ["pc1"],
        "facts": {"pc1": {"certificates": []}},
        "sites": {},
        "site_names": {"pc1": "given"},
        "facility_names": {},
        "facility_codes": {},
    }
    assert from_hostvars(given, {"hostvars": hostvars}, {"facts": "onshi_cert", **HOST_VARIABLES}) == given
    assert hostvars.reads == {}
    partly = from_hostvars(given | {"site_names": None}, {"hostvars": hostvars}, HOST_VARIABLES)
    assert partly["site_names"] == {"pc1": "from inventory"} and partly["sites"] == {}


class RawHostvars(CountingHostvars):
    """hostvars with Ansible's raw_get (the variables as stored); reading hostvars[host] templates them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.raw_reads: Counter[str] = Counter()

    def raw_get(self, host):
        self.raw_reads[host] += 1
        return dict.__getitem__(self, host)

    def __getitem__(self, host):
        stored = super().__getitem__(host)  # counted there
        return {k: (f"templated {v}" if isinstance(v, str) and "{{" in v else v) for k, v in stored.items()}


def test_values_without_templates_are_used_as_stored_and_templates_are_templated_per_host() -> None:
    fact = {"certificates": [{"subject_cn": "0110113719 {{ not a template of ours }}"}]}
    hostvars = RawHostvars(
        pc1={"onshi_cert": {"certificates": []}, "group_names": ["oqs_pcs"], "onshi_cert_site": "札幌北"},
        pc2={"onshi_cert": fact, "group_names": ["oqs_pcs"], "onshi_cert_site": "{{ site_of_pc2 }}"},
    )
    args = {"hosts": ["pc1", "pc2", "gone"], "facts": None, **dict.fromkeys(HOST_VARIABLES)}
    filled = from_hostvars(args, {"hostvars": hostvars}, {"facts": "onshi_cert", **HOST_VARIABLES})
    assert filled["facts"]["pc1"] == {"certificates": []} and filled["facts"]["gone"] is None
    assert filled["site_names"] == {"pc1": "札幌北", "pc2": "templated {{ site_of_pc2 }}", "gone": None}
    assert filled["facts"]["pc2"] == fact  # read through hostvars (Ansible never renders a fact's text)
    assert hostvars.raw_reads == {"pc1": 1, "pc2": 1}
    assert hostvars.reads == {"pc2": 1}  # templated reads only where a value may be a template, once per host
