"""The lab's WinRM listener and control API: many simulated PCs served by one asyncio process.

Each PC listens on its own loopback address (HTTP 5985, and HTTPS 5986 when enabled). A control API
on 127.0.0.1 lets tests and ``onshi-cert lab`` read state, inject faults and change latency.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import json
import logging
import os
import ssl
import uuid
import weakref
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from multidict import CIMultiDict

from onshi_cert_tools.lab import auth, psrp, wsman
from onshi_cert_tools.lab.agent_model import Interrupted
from onshi_cert_tools.lab.executor import Outcome, Refused, execute, text_sha256
from onshi_cert_tools.lab.listener import listener_tls
from onshi_cert_tools.lab.windows import WindowsHost

log = logging.getLogger("onshi_cert_tools.lab")


@dataclasses.dataclass
class Fault:
    """Cut the connection at the ``execution``-th execution from now, before step ``step``.

    ``step`` None cuts before the command runs (between tasks); a step index cuts at that agent
    step boundary (steps before it took effect); a number at or past the last step cuts after all
    steps ran, before the answer is sent.
    """

    execution: int = 1
    step: int | None = None


@dataclasses.dataclass
class Command:
    """A command started in a shell."""

    command: str
    arguments: list[str]
    stdin: bytearray = dataclasses.field(default_factory=bytearray)
    stdin_done: bool = False
    task: asyncio.Task | None = None
    pipeline: psrp.CreatePipeline | None = None  # PSRP: what the pipeline runs (its input lines go to stdin)
    lines: list[str] = dataclasses.field(default_factory=list)
    input_changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


@dataclasses.dataclass
class Shell:
    """A WinRS shell opened by a user on a host."""

    host: str
    user: str
    commands: dict[str, Command] = dataclasses.field(default_factory=dict)
    pool: PsrpPool | None = None  # a PowerShell runspace pool (the psrp connection) rather than a cmd shell


@dataclasses.dataclass
class PsrpPool:
    """A runspace pool's PSRP state: its id, the fragments each way, and what waits for a pool Receive."""

    rpid: str
    incoming: psrp.Defragmenter = dataclasses.field(default_factory=psrp.Defragmenter)
    outgoing: psrp.Fragmenter = dataclasses.field(default_factory=psrp.Fragmenter)
    outbox: list[bytes] = dataclasses.field(default_factory=list)
    host_calls: int = 0

    def queue(self, message_type: int, data: bytes, pid: str | None = None) -> list[bytes]:
        """Return the fragments of one server message of this pool (``pid``: its pipeline)."""
        message = psrp.Message(psrp.DESTINATION_CLIENT, message_type, self.rpid, pid or str(uuid.UUID(int=0)), data)
        return self.outgoing.fragments(message)


@dataclasses.dataclass
class HostRecord:
    """What a host saw: like PowerShell script block logging plus WinRM counters."""

    executions: int = 0
    operations: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    bytes_in: int = 0
    bytes_out: int = 0
    command_lines: list[str] = dataclasses.field(default_factory=list)
    scripts: list[str] = dataclasses.field(default_factory=list)  # sha256 of each script text seen
    refused: list[str] = dataclasses.field(default_factory=list)
    steps: list[list[str]] = dataclasses.field(default_factory=list)  # operations requested, per execution
    auth_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return counters and logs as JSON-friendly data."""
        data = dataclasses.asdict(self)
        data["operations"] = dict(self.operations)
        return data


def save_host(state_dir: Path, host: WindowsHost) -> None:
    """Write a host's state atomically to ``<state_dir>/hosts/<name>.json`` (0600: it holds lab keys)."""
    folder = state_dir / "hosts"
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{host.name}.json.tmp"
    temp.write_text(json.dumps(host.to_dict(), indent=1), encoding="utf-8")
    temp.chmod(0o600)
    os.replace(temp, folder / f"{host.name}.json")


class Lab:
    """The running lab: hosts, shells, records, faults, and persistence to ``state_dir``."""

    def __init__(self, state_dir: Path, hosts: list[WindowsHost], *, latency: float = 0.0) -> None:
        self.state_dir = state_dir
        self.hosts = {h.name: h for h in hosts}
        self.latency = latency
        self.host_latency: dict[str, float] = {}
        self.shells: dict[str, Shell] = {}
        self.records: dict[str, HostRecord] = {h.name: HostRecord() for h in hosts}
        self.script_texts: dict[str, str] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.fault_counters: dict[str, int] = {}
        self.unreachable: set[str] = set()
        self.endpoints: dict[tuple[str, int], tuple[WindowsHost, str]] = {}
        self.connections: weakref.WeakKeyDictionary[Any, auth.ConnectionAuth] = weakref.WeakKeyDictionary()
        self.user_files = {h.name: auth.write_user_file(h, state_dir / "ntlm") for h in hosts}
        # Each PC's HTTPS listener has its own certificate (day 0), and NTLM binds to it (channel binding).
        self.listeners = {h.name: listener_tls(state_dir, h) for h in hosts if h.https}
        self.bindings = {
            name: auth.channel_bindings(
                x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
            )
            for name, (cert, _key) in self.listeners.items()
        }
        self.runners: list[web.AppRunner] = []
        self.control_port = 0
        self.stopped = asyncio.Event()

    # --- persistence -------------------------------------------------------------------------
    def save(self, host: WindowsHost) -> None:
        """Write the host's state to disk."""
        save_host(self.state_dir, host)

    @classmethod
    def load_hosts(cls, state_dir: Path) -> list[WindowsHost]:
        """Read every saved host of ``state_dir``."""
        return [
            WindowsHost.from_dict(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted((state_dir / "hosts").glob("*.json"))
        ]

    # --- WinRM --------------------------------------------------------------------------------
    def _challenge(self, host: WindowsHost, scheme: str) -> web.Response:
        headers = CIMultiDict()
        headers.add("WWW-Authenticate", "Negotiate")
        if host.basic_auth and (scheme == "https" or host.allow_unencrypted):
            headers.add("WWW-Authenticate", 'Basic realm="WSMAN"')
        headers["Content-Length"] = "0"
        return web.Response(status=401, headers=headers)

    async def handle_wsman(self, request: web.Request) -> web.StreamResponse:
        """Serve one WS-Man POST: authenticate, decrypt, dispatch, encrypt."""
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport else None
        entry = self.endpoints.get(tuple(sockname[:2])) if sockname else None
        if entry is None:
            return web.Response(status=404)
        host, scheme = entry
        record = self.records[host.name]
        body = await request.read()
        record.bytes_in += len(body)
        if host.name in self.unreachable:
            transport.abort()
            return web.Response(status=503)
        state = self.connections.setdefault(transport, auth.ConnectionAuth())
        user = state.user if state.complete else None
        header = request.headers.get("Authorization", "")
        kind, _, value = header.partition(" ")
        try:
            if kind.lower() in ("negotiate", "ntlm"):
                answer = auth.ntlm_step(
                    state,
                    base64.b64decode(value),
                    self.user_files[host.name],
                    self.bindings.get(host.name) if scheme == "https" else None,
                )
                if answer is not None:
                    return web.Response(
                        status=401,
                        headers={
                            "WWW-Authenticate": f"{kind} {base64.b64encode(answer).decode()}",
                            "Content-Length": "0",
                        },
                    )
                user = state.user
            elif kind.lower() == "basic":
                if scheme != "https" and not host.allow_unencrypted:
                    raise auth.AuthError("Basic authentication over plain HTTP is refused (AllowUnencrypted=false)")
                if not host.basic_auth:
                    raise auth.AuthError("Basic authentication is off (WSMan Service Auth Basic=false)")
                user = auth.basic_user(value, host)
        except auth.AuthError as exc:
            record.auth_failures += 1
            log.info("%s: %s", host.name, exc)
            return self._challenge(host, scheme)
        account = host.user(user) if user else None
        if account is None:
            return self._challenge(host, scheme)
        if not body:
            return web.Response(status=200, headers={"Content-Length": "0"})
        encrypted = request.content_type.startswith("multipart/encrypted")
        try:
            if encrypted:
                xml = auth.decrypt(state, body)
            elif scheme == "http" and not host.allow_unencrypted:
                raise auth.AuthError("unencrypted message on HTTP refused (AllowUnencrypted=false)")
            else:
                xml = body
        except auth.AuthError as exc:
            record.auth_failures += 1
            log.info("%s: %s", host.name, exc)
            return web.Response(status=400 if encrypted else 401)
        status, reply = await self.dispatch(host, account.name, account.may_connect_to(host), xml, transport)
        if encrypted:
            payload = auth.encrypt(state, reply)
            content_type = auth.ENCRYPTED_CONTENT_TYPE
        else:
            payload, content_type = reply, "application/soap+xml;charset=UTF-8"
        record.bytes_out += len(payload)
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})

    async def dispatch(
        self, host: WindowsHost, user: str, may_connect: bool, xml: bytes, transport: Any
    ) -> tuple[int, bytes]:
        """Run one WS-Man operation; return the HTTP status and SOAP reply."""
        record = self.records[host.name]
        message_id = ""
        try:
            req = wsman.parse(xml)
            message_id = req.message_id
            record.operations[req.action.rsplit("/", 1)[-1]] += 1
            if not may_connect:
                raise wsman.WsmanError("w:AccessDenied", "Access is denied.", wsman.FAULT_ACCESS_DENIED)
            if req.action == wsman.ACTION_CREATE and req.resource_uri.startswith(psrp.POWERSHELL_URI):
                return 200, self._create_pool(req, host, user)
            if req.action == wsman.ACTION_CREATE:
                shell_id = str(uuid.uuid4()).upper()
                self.shells[shell_id] = Shell(host.name, user)
                return 200, wsman.created(req, shell_id, f"http://{host.address}:{host.http_port}/wsman")
            shell = self.shells.get(req.shell_id or "")
            if shell is None or shell.host != host.name:
                raise wsman.WsmanError(
                    "w:InvalidSelectors",
                    f"The request for the Windows Remote Shell with ShellId "
                    f"{req.shell_id} failed because the shell was not found on the server.",
                    wsman.FAULT_SHELL_NOT_FOUND,
                )
            if req.action == wsman.ACTION_DELETE:
                for command in shell.commands.values():
                    if command.task:
                        command.task.cancel()
                del self.shells[req.shell_id or ""]
                return 200, wsman.deleted(req)
            if shell.pool is not None:
                return 200, await self._psrp(req, host, shell, transport)
            if req.action == wsman.ACTION_COMMAND:
                command_id = str(uuid.uuid4()).upper()
                shell.commands[command_id] = Command(*wsman.command_line(req))
                return 200, wsman.command_started(req, command_id)
            if req.action == wsman.ACTION_SEND:
                command_id, data, end = wsman.send_stream(req)
                command = self._command(shell, command_id)
                command.stdin += data
                command.stdin_done = end
                return 200, wsman.sent(req)
            if req.action == wsman.ACTION_RECEIVE:
                command_id = wsman.receive_command_id(req)
                command = self._command(shell, command_id)
                if command.task is None:
                    command.task = asyncio.ensure_future(self._run(host, shell.user, command))
                outcome = await self._finished(host, command, req.timeout_seconds, transport)
                if outcome is None:
                    return 500, b""
                return 200, wsman.received(req, command_id, outcome.stdout, outcome.stderr, outcome.rc)
            if req.action == wsman.ACTION_SIGNAL:
                command = shell.commands.pop(wsman.signal_command_id(req), None)
                if command and command.task and not command.task.done():
                    command.task.cancel()
                return 200, wsman.signalled(req)
            raise wsman.WsmanError(
                "w:ActionNotSupported", f"The action {req.action} is not supported.", wsman.FAULT_UNSUPPORTED_ACTION
            )
        except wsman.WsmanError as exc:
            return exc.status, wsman.fault(message_id, exc)
        except psrp.ProtocolError as exc:
            return 500, wsman.fault(message_id, wsman.WsmanError("w:InvalidMessage", str(exc), 2150858817))

    # --- PSRP (the psrp connection) ----------------------------------------------------------------
    def _create_pool(self, req: wsman.Request, host: WindowsHost, user: str) -> bytes:
        """Open a runspace pool: read SESSION_CAPABILITY and INIT_RUNSPACEPOOL, queue the server's answers."""
        configuration = req.resource_uri[len(psrp.POWERSHELL_URI) :]
        if configuration != "Microsoft.PowerShell":
            raise wsman.WsmanError(
                "w:InvalidResourceURI",
                f"The WS-Management service cannot process the request. Cannot find the {configuration} session "
                "configuration in the WSMan: drive on the lab computer.",
                2150858752,
            )
        shell_id, data = wsman.creation_xml(req)
        pool = PsrpPool(rpid=shell_id.lower())
        kinds = [m.message_type for m in pool.incoming.feed(data)]
        if kinds != [psrp.SESSION_CAPABILITY, psrp.INIT_RUNSPACEPOOL]:
            raise psrp.ProtocolError("a runspace pool opens with SESSION_CAPABILITY and INIT_RUNSPACEPOOL")
        for kind, body in (
            (psrp.SESSION_CAPABILITY, psrp.session_capability()),
            (psrp.APPLICATION_PRIVATE_DATA, psrp.application_private_data()),
            (psrp.RUNSPACEPOOL_STATE, psrp.runspace_state(psrp.RUNSPACE_OPENED)),
        ):
            pool.outbox += pool.queue(kind, body)
        self.shells[shell_id] = Shell(host.name, user, pool=pool)
        return wsman.created(req, shell_id, f"http://{host.address}:{host.http_port}/wsman", req.resource_uri)

    def _psrp_feed(self, shell: Shell, command: Command | None, data: bytes) -> None:
        """Take client fragments: the pipeline's creation, its input lines, the end of its input."""
        assert shell.pool is not None
        for message in shell.pool.incoming.feed(data):
            if message.message_type == psrp.PIPELINE_HOST_RESPONSE:
                continue  # answers to host calls the lab never waits on
            if command is None:
                raise psrp.ProtocolError(f"PSRP message {message.message_type:#x} sent to no pipeline")
            if message.message_type == psrp.CREATE_PIPELINE:
                command.pipeline = psrp.read_create_pipeline(message.data)
                command.stdin_done = command.pipeline.no_input
            elif message.message_type == psrp.PIPELINE_INPUT:
                command.lines.append(psrp.read_pipeline_input(message.data))
            elif message.message_type == psrp.END_OF_PIPELINE_INPUT:
                command.stdin_done = True
            else:
                raise psrp.ProtocolError(f"PSRP message {message.message_type:#x} is not modelled by the lab")
            command.input_changed.set()

    async def _psrp(self, req: wsman.Request, host: WindowsHost, shell: Shell, transport: Any) -> bytes:
        """Run one WS-Man operation of a runspace pool."""
        pool = shell.pool
        assert pool is not None
        if req.action == wsman.ACTION_COMMAND:
            command_id = (wsman.command_id(req) or str(uuid.uuid4())).upper()
            command = shell.commands[command_id] = Command("", [])
            _, arguments = wsman.command_line(req)
            for argument in arguments:
                self._psrp_feed(shell, command, base64.b64decode(argument))
            return wsman.command_started(req, command_id)
        if req.action == wsman.ACTION_SEND:
            command_id, data, _ = wsman.send_stream(req)
            self._psrp_feed(shell, shell.commands.get(command_id.upper()) if command_id else None, data)
            return wsman.sent(req)
        if req.action == wsman.ACTION_RECEIVE:
            command_id = wsman.receive_command_id(req).upper()
            if not command_id:
                if not pool.outbox:
                    await asyncio.sleep(req.timeout_seconds)
                    raise wsman.WsmanError("w:TimedOut", "The operation timed out.", wsman.FAULT_TIMED_OUT)
                fragments, pool.outbox = pool.outbox, []
                return wsman.received_fragments(req, None, fragments, done=False)
            command = self._command(shell, command_id)
            if command.task is None:
                command.task = asyncio.ensure_future(self._run_pipeline(host, shell, command_id, command))
            fragments = await self._finished(host, command, req.timeout_seconds, transport)
            if fragments is None:
                return b""
            return wsman.received_fragments(req, command_id, fragments, done=True)
        if req.action == wsman.ACTION_SIGNAL:
            command = shell.commands.pop(wsman.signal_command_id(req).upper(), None)
            if command and command.task and not command.task.done():
                command.task.cancel()
            return wsman.signalled(req)
        raise wsman.WsmanError(
            "w:ActionNotSupported", f"The action {req.action} is not supported.", wsman.FAULT_UNSUPPORTED_ACTION
        )

    async def _run_pipeline(self, host: WindowsHost, shell: Shell, command_id: str, command: Command) -> list[bytes]:
        """Wait for the pipeline's input, run it as the exec wrapper would, return its answer's fragments."""
        while command.pipeline is None or not command.stdin_done:
            command.input_changed.clear()
            await command.input_changed.wait()
        pool, pipeline = shell.pool, command.pipeline
        assert pool is not None
        first = pipeline.commands[0]
        command.command = first.text
        command.stdin = bytearray("\n".join(command.lines).encode("utf-8"))
        if len(pipeline.commands) != 1 or not first.is_script or first.arguments:
            outcome = Outcome(b"", b"the lab runs only the script of Ansible's exec wrapper over PSRP", 1)
            self.records[host.name].refused.append("a PSRP pipeline that is not one script without arguments")
        else:
            outcome = await self._run(host, shell.user, command)
        pid = command_id.lower()
        out: list[bytes] = []
        if outcome.stdout:
            out += pool.queue(psrp.PIPELINE_OUTPUT, psrp.output_string(outcome.stdout.decode("utf-8", "replace")), pid)
        for kind, name, value in (
            (psrp.HOST_WRITE_ERROR_LINE, "WriteErrorLine", outcome.stderr.decode("utf-8", "replace")),
            (psrp.HOST_SET_SHOULD_EXIT, "SetShouldExit", str(outcome.rc)),
        ):
            if value and value != "0":
                pool.host_calls += 1
                out += pool.queue(psrp.PIPELINE_HOST_CALL, psrp.host_call(-pool.host_calls, kind, name, value), pid)
        out += pool.queue(psrp.PIPELINE_STATE, psrp.pipeline_state(psrp.PIPELINE_COMPLETED), pid)
        return out

    async def _finished(self, host: WindowsHost, command: Command, timeout: float, transport: Any) -> Any:
        """Wait up to ``timeout`` for a command's task; a TimedOut fault when it runs on, None (the connection
        dropped) when a fault cut it."""
        assert command.task is not None
        try:
            return await asyncio.wait_for(asyncio.shield(command.task), timeout)
        except TimeoutError:
            raise wsman.WsmanError(
                "w:TimedOut",
                "The WS-Management service cannot complete the operation "
                "within the time specified in OperationTimeout.",
                wsman.FAULT_TIMED_OUT,
            ) from None
        except Interrupted as exc:
            log.info("%s: %s", host.name, exc)
            transport.abort()
            return None

    def _command(self, shell: Shell, command_id: str) -> Command:
        command = shell.commands.get(command_id)
        if command is None:
            raise wsman.WsmanError(
                "w:InvalidSelectors", f"The command {command_id} was not found.", wsman.FAULT_SHELL_NOT_FOUND
            )
        return command

    def _next_fault(self, host: str) -> Fault | None:
        faults = self.faults.get(host)
        if not faults:
            return None
        self.fault_counters[host] = self.fault_counters.get(host, 0) + 1
        fault = faults[0]
        if self.fault_counters[host] < fault.execution:
            return None
        faults.pop(0)
        self.fault_counters[host] = 0
        return fault

    async def _run(self, host: WindowsHost, user: str, command: Command) -> Outcome:
        record = self.records[host.name]
        record.executions += 1
        record.command_lines.append(" ".join([command.command, *command.arguments]))
        delay = self.host_latency.get(host.name, self.latency)
        if delay:
            await asyncio.sleep(delay)
        fault = self._next_fault(host.name)
        if fault is not None and fault.step is None:
            record.steps.append([])
            raise Interrupted(f"connection cut before execution {record.executions}")
        try:
            outcome = execute(
                host,
                user,
                command.command,
                command.arguments,
                bytes(command.stdin),
                cut_before_step=fault.step if fault else None,
                script=command.command if command.pipeline is not None else None,
            )
        except Refused as exc:
            record.refused.append(str(exc))
            message = f"onshi-cert lab refused to run this on {host.name}: {exc}"
            return Outcome(json.dumps({"failed": True, "msg": message}).encode(), message.encode(), 1)
        except Interrupted as exc:
            record.steps.append(getattr(exc, "requested_steps", []))
            self.save(host)
            raise
        record.steps.append(outcome.requested_steps)
        for text in outcome.scripts:
            digest = text_sha256(text)
            self.script_texts.setdefault(digest, text)
            if digest not in record.scripts:
                record.scripts.append(digest)
        if outcome.changed_state:
            self.save(host)
        return outcome

    # --- control API ----------------------------------------------------------------------------
    def _host(self, request: web.Request) -> WindowsHost:
        host = self.hosts.get(request.match_info["name"])
        if host is None:
            raise web.HTTPNotFound(text=f"no lab host {request.match_info['name']!r}")
        return host

    async def api_status(self, request: web.Request) -> web.Response:
        """Return the lab's hosts, endpoints and counters."""
        hosts = {}
        for host in self.hosts.values():
            record = self.records[host.name]
            hosts[host.name] = {
                "address": host.address,
                "http_port": host.http_port,
                "https_port": host.https_port if host.https else None,
                "reachable": host.winrm_enabled and host.name not in self.unreachable,
                "executions": record.executions,
                "operations": sum(record.operations.values()),
                "bytes_in": record.bytes_in,
                "bytes_out": record.bytes_out,
            }
        return web.json_response(
            {"pid": os.getpid(), "control_port": self.control_port, "latency": self.latency, "hosts": hosts}
        )

    async def api_host(self, request: web.Request) -> web.Response:
        """Return one host's stores (summary) and raw state."""
        host = self._host(request)
        return web.json_response({"summary": host.summary(), "state": host.to_dict()})

    async def api_put_host(self, request: web.Request) -> web.Response:
        """Replace one host's state (tests set up scenarios with it)."""
        host = self._host(request)
        new = WindowsHost.from_dict(await request.json())
        if new.name != host.name:
            raise web.HTTPBadRequest(text="the state's name differs")
        self.hosts[host.name] = new
        for key, (old, scheme) in list(self.endpoints.items()):
            if old.name == new.name:
                self.endpoints[key] = (new, scheme)
        self.save(new)
        return web.json_response({"ok": True})

    async def api_records(self, request: web.Request) -> web.Response:
        """Return what a host saw; ``?scripts=1`` adds the full script texts."""
        host = self._host(request)
        data = self.records[host.name].to_dict()
        if request.query.get("scripts"):
            data["script_texts"] = [self.script_texts[d] for d in data["scripts"]]
        return web.json_response(data)

    async def api_faults(self, request: web.Request) -> web.Response:
        """Set (POST a list) or clear (DELETE) a host's faults."""
        host = self._host(request)
        if request.method == "DELETE":
            self.faults.pop(host.name, None)
        else:
            self.faults[host.name] = [Fault(**f) for f in await request.json()]
        self.fault_counters[host.name] = 0
        return web.json_response({"ok": True})

    async def api_reachable(self, request: web.Request) -> web.Response:
        """Make a host unreachable (its WinRM connections are dropped) or reachable again."""
        host = self._host(request)
        if (await request.json()).get("reachable", True):
            self.unreachable.discard(host.name)
        else:
            self.unreachable.add(host.name)
        return web.json_response({"ok": True})

    async def api_latency(self, request: web.Request) -> web.Response:
        """Set the per-execution latency, for all hosts or one."""
        data = await request.json()
        if data.get("host"):
            self.host_latency[data["host"]] = float(data["seconds"])
        else:
            self.latency = float(data["seconds"])
        return web.json_response({"ok": True})

    async def api_reset(self, request: web.Request) -> web.Response:
        """Reset every counter and log."""
        self.records = {name: HostRecord() for name in self.hosts}
        return web.json_response({"ok": True})

    async def api_shutdown(self, request: web.Request) -> web.Response:
        """Stop the lab."""
        self.stopped.set()
        return web.json_response({"ok": True})

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self, control_port: int = 0) -> None:
        """Listen on every host's endpoints, and on the control port (127.0.0.1 only)."""
        wsman_app = web.Application(client_max_size=64 * 1024 * 1024)
        wsman_app.router.add_post("/wsman", self.handle_wsman)
        control_app = web.Application()
        control_app.router.add_get("/status", self.api_status)
        control_app.router.add_get("/hosts/{name}", self.api_host)
        control_app.router.add_put("/hosts/{name}", self.api_put_host)
        control_app.router.add_get("/hosts/{name}/records", self.api_records)
        control_app.router.add_post("/hosts/{name}/faults", self.api_faults)
        control_app.router.add_delete("/hosts/{name}/faults", self.api_faults)
        control_app.router.add_post("/hosts/{name}/reachable", self.api_reachable)
        control_app.router.add_post("/latency", self.api_latency)
        control_app.router.add_post("/reset", self.api_reset)
        control_app.router.add_post("/shutdown", self.api_shutdown)
        self.runners = [
            web.AppRunner(wsman_app, access_log=None, handle_signals=False),
            web.AppRunner(control_app, access_log=None, handle_signals=False),
        ]
        for runner in self.runners:
            await runner.setup()
        for host in self.hosts.values():
            if not host.winrm_enabled:
                continue  # nothing listens: connection refused, as on a PC whose WinRM is off
            site = web.TCPSite(self.runners[0], host.address, host.http_port, backlog=64)
            await site.start()
            self.endpoints[(host.address, host.http_port)] = (host, "http")
            if host.https:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(*self.listeners[host.name])
                site = web.TCPSite(self.runners[0], host.address, host.https_port, ssl_context=context, backlog=64)
                await site.start()
                self.endpoints[(host.address, host.https_port)] = (host, "https")
        control = web.TCPSite(self.runners[1], "127.0.0.1", control_port)
        await control.start()
        self.control_port = control._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Close every listener."""
        for runner in self.runners:
            await runner.cleanup()
