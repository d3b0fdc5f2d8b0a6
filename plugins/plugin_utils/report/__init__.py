"""The fleet audit report: aggregate every PC's certificate health, render HTML, CSV, JSON, Markdown, Prometheus."""

from .aggregate import SCHEMA, HostEntry, build
from .render import write_all

__all__ = ["SCHEMA", "HostEntry", "build", "write_all"]
