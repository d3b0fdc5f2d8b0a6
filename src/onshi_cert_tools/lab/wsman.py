"""WS-Management SOAP for the WinRS shell: parse what pywinrm sends, build what Windows answers."""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "ps": "http://schemas.microsoft.com/powershell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{SHELL_URI}/Command"
ACTION_SEND = f"{SHELL_URI}/Send"
ACTION_RECEIVE = f"{SHELL_URI}/Receive"
ACTION_SIGNAL = f"{SHELL_URI}/Signal"
STATE_DONE = f"{SHELL_URI}/CommandState/Done"
STATE_RUNNING = f"{SHELL_URI}/CommandState/Running"

# WSMan fault codes Windows uses.
FAULT_TIMED_OUT = 2150858793  # 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT
FAULT_SHELL_NOT_FOUND = 2150858843  # 0x8033805B ERROR_WINRS_SHELL_NOT_FOUND
FAULT_ACCESS_DENIED = 5
FAULT_UNSUPPORTED_ACTION = 2150858754  # 0x80338002 ERROR_WSMAN_UNSUPPORTED_ACTION (approximate)


class WsmanError(Exception):
    """A request that Windows answers with a SOAP fault."""

    def __init__(self, subcode: str, reason: str, code: int, status: int = 500) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.code = code
        self.status = status


@dataclass
class Request:
    """The parts of a WS-Man request the lab needs."""

    action: str
    message_id: str
    shell_id: str | None
    timeout_seconds: float
    body: ET.Element
    resource_uri: str = ""

    def find(self, path: str) -> ET.Element | None:
        """Find an element under the SOAP body."""
        return self.body.find(path, NS)


def _duration_seconds(text: str | None) -> float:
    match = re.fullmatch(r"PT(?:(\d+)M)?(\d+(?:\.\d+)?)S", (text or "").strip())
    if not match:
        return 20.0
    return int(match.group(1) or 0) * 60 + float(match.group(2))


def parse(data: bytes) -> Request:
    """Parse a SOAP envelope; raise WsmanError for malformed input."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise WsmanError("w:InvalidMessage", f"The request is not well-formed XML: {exc}", 2150858817, 400) from exc
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise WsmanError("w:InvalidMessage", "The SOAP envelope has no header or body.", 2150858817, 400)
    action = (header.findtext("a:Action", "", NS) or "").strip()
    selector = header.find("w:SelectorSet/w:Selector[@Name='ShellId']", NS)
    return Request(
        action=action,
        message_id=(header.findtext("a:MessageID", "", NS) or "").strip(),
        shell_id=selector.text.strip() if selector is not None and selector.text else None,
        timeout_seconds=_duration_seconds(header.findtext("w:OperationTimeout", None, NS)),
        body=body,
        resource_uri=(header.findtext("w:ResourceURI", "", NS) or "").strip(),
    )


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    return (
        (
            '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}" xmlns:x="{x}" xmlns:w="{w}" xmlns:rsp="{rsp}" '
            'xmlns:p="{p}"><s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{mid}</a:MessageID>'
            "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            "<a:RelatesTo>{rel}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
        .format(action=action, mid=str(uuid.uuid4()).upper(), rel=escape(relates_to), body=body, **NS)
        .encode()
    )


def created(req: Request, shell_id: str, address: str, resource_uri: str = f"{SHELL_URI}/cmd") -> bytes:
    """Answer a Create with the new shell's id (a WinRS cmd shell, or a PowerShell runspace pool)."""
    streams = ("stdin", "stdout stderr") if resource_uri == f"{SHELL_URI}/cmd" else ("stdin pr", "stdout")
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(resource_uri)}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId><rsp:ResourceUri>"
        f"{escape(resource_uri)}</rsp:ResourceUri><rsp:State>Connected</rsp:State><rsp:InputStreams>{streams[0]}"
        f"</rsp:InputStreams><rsp:OutputStreams>{streams[1]}</rsp:OutputStreams></rsp:Shell>"
    )
    return _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", req.message_id, body)


def command_started(req: Request, command_id: str) -> bytes:
    """Answer a Command with the command's id."""
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return _envelope(f"{SHELL_URI}/CommandResponse", req.message_id, body)


def sent(req: Request) -> bytes:
    """Answer a Send."""
    return _envelope(f"{SHELL_URI}/SendResponse", req.message_id, "<rsp:SendResponse/>")


def received(req: Request, command_id: str, stdout: bytes, stderr: bytes, exit_code: int | None) -> bytes:
    """Answer a Receive with the output and, once the command is done, its exit code."""
    parts = []
    for name, data in (("stdout", stdout), ("stderr", stderr)):
        if data:
            parts.append(
                f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode()}</rsp:Stream>'
            )
        if exit_code is not None:
            parts.append(f'<rsp:Stream Name="{name}" CommandId="{command_id}" End="true"></rsp:Stream>')
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_RUNNING}"/>')
    else:
        parts.append(
            f'<rsp:CommandState CommandId="{command_id}" State="{STATE_DONE}">'
            f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>"
        )
    body = '<rsp:ReceiveResponse SequenceID="0">' + "".join(parts) + "</rsp:ReceiveResponse>"
    return _envelope(f"{SHELL_URI}/ReceiveResponse", req.message_id, body)


def received_fragments(req: Request, command_id: str | None, fragments: list[bytes], done: bool) -> bytes:
    """Answer a PSRP Receive: each PSRP fragment in its own stdout element, as Windows sends them."""
    of = f' CommandId="{command_id}"' if command_id else ""
    parts = [f'<rsp:Stream Name="stdout"{of}>{base64.b64encode(f).decode()}</rsp:Stream>' for f in fragments]
    if command_id:
        state = STATE_DONE if done else STATE_RUNNING
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{state}"/>')
    body = '<rsp:ReceiveResponse SequenceID="0">' + "".join(parts) + "</rsp:ReceiveResponse>"
    return _envelope(f"{SHELL_URI}/ReceiveResponse", req.message_id, body)


def creation_xml(req: Request) -> tuple[str, bytes]:
    """Return the shell id a PSRP Create asks for and the fragments of its ``creationXml``."""
    shell = req.find("rsp:Shell")
    data = shell.findtext("ps:creationXml", "", NS) if shell is not None else ""
    if shell is None or not data:
        raise WsmanError("w:InvalidMessage", "The PowerShell shell Create has no creationXml.", 2150858817, 400)
    return shell.get("ShellId") or str(uuid.uuid4()).upper(), base64.b64decode(data)


def command_id(req: Request) -> str | None:
    """Return the CommandId a client chose for a Command (PSRP names the pipeline so)."""
    node = req.find("rsp:CommandLine")
    return node.get("CommandId") if node is not None else None


def signalled(req: Request) -> bytes:
    """Answer a Signal."""
    return _envelope(f"{SHELL_URI}/SignalResponse", req.message_id, "<rsp:SignalResponse/>")


def deleted(req: Request) -> bytes:
    """Answer a Delete."""
    return _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", req.message_id, "")


def fault(relates_to: str, error: WsmanError) -> bytes:
    """Build a SOAP fault as Windows does, with the WSManFault code pywinrm reads."""
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{sub}</s:Value></s:Subcode></s:Code>"
        '<s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason><s:Detail>'
        '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{code}" '
        'Machine="lab"><f:Message>{reason}</f:Message></f:WSManFault></s:Detail></s:Fault>'
    ).format(sub=escape(error.subcode), reason=escape(error.reason), code=error.code)
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def command_line(req: Request) -> tuple[str, list[str]]:
    """Return the command and its arguments from a Command request."""
    node = req.find("rsp:CommandLine")
    if node is None:
        raise WsmanError("w:InvalidMessage", "The Command request has no CommandLine.", 2150858817, 400)
    command = (node.findtext("rsp:Command", "", NS) or "").strip().strip('"')
    arguments = [a.text or "" for a in node.findall("rsp:Arguments", NS)]
    if len(arguments) == 1:
        arguments = arguments[0].split(" ")
    return command, arguments


def send_stream(req: Request) -> tuple[str, bytes, bool]:
    """Return the command id, the stdin bytes and whether this is the end of input."""
    stream = req.find("rsp:Send/rsp:Stream")
    if stream is None:
        raise WsmanError("w:InvalidMessage", "The Send request has no stream.", 2150858817, 400)
    data = base64.b64decode(stream.text or "")
    return stream.get("CommandId", ""), data, stream.get("End", "").lower() == "true"


def receive_command_id(req: Request) -> str:
    """Return the command id a Receive asks about."""
    stream = req.find("rsp:Receive/rsp:DesiredStream")
    return stream.get("CommandId", "") if stream is not None else ""


def signal_command_id(req: Request) -> str:
    """Return the command id a Signal names."""
    node = req.find("rsp:Signal")
    return node.get("CommandId", "") if node is not None else ""
