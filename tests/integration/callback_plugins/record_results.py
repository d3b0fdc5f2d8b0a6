# Test-only callback: write every task result as JSON to $ONSHI_TEST_RESULTS (the tests' "callback log").
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: record_results
type: aggregate
short_description: write task results to a JSON file for the tests
description: Writes every task result to the file named by ONSHI_TEST_RESULTS.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.results: list[dict] = []

    def _add(self, status: str, result) -> None:
        data = dict(result._result)
        self.results.append(
            {
                "host": result._host.get_name(),
                "task": result._task.get_name(),
                "action": result._task.action,
                "status": status,
                "result": data,
            }
        )

    def v2_runner_on_ok(self, result) -> None:
        self._add("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._add("failed", result)

    def v2_runner_on_unreachable(self, result) -> None:
        self._add("unreachable", result)

    def v2_runner_on_skipped(self, result) -> None:
        self._add("skipped", result)

    def v2_playbook_on_stats(self, stats) -> None:
        recap = {h: stats.summarize(h) for h in sorted(stats.processed)}
        path = os.environ.get("ONSHI_TEST_RESULTS")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"results": self.results, "recap": recap}, handle, default=str)
