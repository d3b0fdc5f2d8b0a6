"""YAML the kit writes for people: strings that must stay strings (facility codes) are written in quotes."""

from __future__ import annotations

import yaml


class Quoted(str):
    """A string YAML must quote (facility codes: ``0130120041`` would otherwise read as an octal number)."""


yaml.SafeDumper.add_representer(
    Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')
)
