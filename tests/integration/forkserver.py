"""A fork server for ansible-playbook runs in the tests: Ansible is imported once, each run is a fork of it.

Run as a script by `helpers.run_playbook` with exactly the environment the runs will have (the client only sends
runs whose environment equals it, apart from variables nothing it imports reads: onshi-cert's, molecule's). It
imports ansible-core's command line and the libraries its plugins load (pywinrm, pypsrp, cryptography, ...), then
reads one JSON request per line on stdin; for each it forks a child that becomes ``ansible-playbook`` (the real
entry script, run with ``runpy``) with the request's argv, environment, working folder and output files, and
answers ``{"pid": N}`` and, when the child has ended, ``{"rc": N}``.

What a fresh process would do differently, and how the child makes it the same:
- ansible-core creates its local temporary folder (``DEFAULT_LOCAL_TMP``, named after the process) when its
  constants are imported and removes it at exit: the server removes its own at once and each child creates
  its own.
- The interpreter's shutdown (threads joined, exit functions run, output flushed) is done by the child before it
  ends with ``os._exit``.
- Each child leads a session of its own, so that a run that overruns its time is killed with its workers.
Everything that depends on the environment (ansible.cfg, ``ANSIBLE_*``, the locale) was read from the same
environment; Python's string hash seed is the one thing all runs share.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import shutil
import sys
import threading
import traceback


def _preload() -> None:
    """Import what every ansible-playbook run imports (the command line, the connection plugins' libraries)."""
    import ansible.cli.playbook  # noqa: F401
    import cryptography.x509  # noqa: F401
    import jinja2  # noqa: F401
    import pypsrp.client
    import pypsrp.host
    import pypsrp.powershell  # noqa: F401
    import requests  # noqa: F401
    import spnego  # noqa: F401
    import winrm  # noqa: F401
    import yaml  # noqa: F401
    from ansible import constants
    from ansible.utils.path import cleanup_tmp_file
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: F401

    # The server's own local temporary folder: no run uses it (each child makes its own, as a process would).
    atexit.unregister(cleanup_tmp_file)
    shutil.rmtree(constants.DEFAULT_LOCAL_TMP, ignore_errors=True)


def _exit_code(code: object) -> int:
    """The exit status the interpreter gives ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _child(request: dict, control: list[int]) -> None:
    """Become the requested ansible-playbook run; never returns."""
    code = 1
    try:
        os.setsid()
        for fd in control:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for target, path in ((1, request["stdout"]), (2, request["stderr"])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, target)
            os.close(fd)
        os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])

        from ansible import constants

        # as ansible/constants.py sets it: its default is a template over the constants themselves (ANSIBLE_HOME)
        constants.DEFAULT_LOCAL_TMP = constants.config.get_config_value("DEFAULT_LOCAL_TMP", variables=vars(constants))
        if not os.path.isabs(constants.DEFAULT_LOCAL_TMP) or "{" in constants.DEFAULT_LOCAL_TMP:
            raise RuntimeError(f"ansible-core's local temporary folder came out as {constants.DEFAULT_LOCAL_TMP!r}")
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter does before exit functions
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def main() -> None:
    _preload()
    reader = os.dup(0)
    writer = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    os.close(null)
    answers = os.fdopen(writer, "w", encoding="utf-8", buffering=1)
    with os.fdopen(reader, encoding="utf-8") as requests_in:
        for line in requests_in:
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(request, [reader, writer])
            answers.write(json.dumps({"pid": pid}) + "\n")
            _, status = os.waitpid(pid, 0)
            answers.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    main()
