"""The PowerShell Remoting Protocol ([MS-PSRP]) as a lab PC speaks it over WS-Management.

ansible-core's ``psrp`` connection (through pypsrp) opens a RunspacePool: a WS-Man shell whose resource URI is
``http://schemas.microsoft.com/powershell/<configuration>``, created with two client messages
(SESSION_CAPABILITY, INIT_RUNSPACEPOOL) in its ``creationXml``. Each module run is a pipeline: a Command whose
argument is a CREATE_PIPELINE message (the script), Sends of PIPELINE_INPUT (the payload, one line per object)
and END_OF_PIPELINE_INPUT, and Receives that return PIPELINE_OUTPUT, host calls (the exit code through
``$host.SetShouldExit``, error lines) and PIPELINE_STATE.

This module is the byte and CLIXML codec only, written from [MS-PSRP] 2.2 (fragments 2.2.4, messages 2.2.1,
the objects of 2.2.2 and the serialization of 2.2.5). What runs is decided by the lab's executor, exactly as
for a WinRS command.
"""

from __future__ import annotations

import re
import struct
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

POWERSHELL_URI = "http://schemas.microsoft.com/powershell/"
SIGNAL_CTRL_C = "powershell/signal/ctrl_c"
PROTOCOL_VERSION = "2.3"  # Windows PowerShell 5.1

DESTINATION_CLIENT = 1
DESTINATION_SERVER = 2

SESSION_CAPABILITY = 0x00010002
INIT_RUNSPACEPOOL = 0x00010004
PUBLIC_KEY = 0x00010005
RUNSPACEPOOL_STATE = 0x00021005
CREATE_PIPELINE = 0x00021006
APPLICATION_PRIVATE_DATA = 0x00021009
PIPELINE_INPUT = 0x00041002
END_OF_PIPELINE_INPUT = 0x00041003
PIPELINE_OUTPUT = 0x00041004
PIPELINE_STATE = 0x00041006
PIPELINE_HOST_CALL = 0x00041100
PIPELINE_HOST_RESPONSE = 0x00041101

RUNSPACE_OPENED = 2
PIPELINE_COMPLETED = 4
PIPELINE_STOPPED = 5
HOST_SET_SHOULD_EXIT = 6
HOST_WRITE_ERROR_LINE = 18

_FRAGMENT_HEADER = struct.Struct(">QQBI")
_MESSAGE_HEADER = struct.Struct("<II16s16s")
_BOM = b"\xef\xbb\xbf"
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


class ProtocolError(Exception):
    """Input that is not the PSRP a Windows PC would accept."""


@dataclass
class Message:
    """One PSRP message: its type, the pool and pipeline it belongs to, and its CLIXML body."""

    destination: int
    message_type: int
    rpid: str
    pid: str
    data: bytes

    def pack(self) -> bytes:
        """Return the message's bytes (header, UTF-8 BOM, CLIXML)."""
        return _MESSAGE_HEADER.pack(
            self.destination,
            self.message_type,
            uuid.UUID(self.rpid).bytes_le,
            uuid.UUID(self.pid).bytes_le,
        ) + (_BOM + self.data if self.data else b"")

    @classmethod
    def unpack(cls, data: bytes) -> Message:
        """Read a message; ProtocolError when it is too short to be one."""
        if len(data) < _MESSAGE_HEADER.size:
            raise ProtocolError(f"a PSRP message of {len(data)} bytes is shorter than its header")
        destination, message_type, rpid, pid = _MESSAGE_HEADER.unpack_from(data)
        body = data[_MESSAGE_HEADER.size :]
        body = body.removeprefix(_BOM)
        return cls(destination, message_type, str(uuid.UUID(bytes_le=rpid)), str(uuid.UUID(bytes_le=pid)), body)


@dataclass
class Defragmenter:
    """Reassembles messages from the fragments of one direction of one pool (fragments of an object in order)."""

    partial: dict[int, tuple[int, bytes]] = field(default_factory=dict)

    def feed(self, data: bytes) -> list[Message]:
        """Return the messages completed by ``data`` (one or more fragments)."""
        messages = []
        while data:
            if len(data) < _FRAGMENT_HEADER.size:
                raise ProtocolError("a PSRP fragment is shorter than its header")
            object_id, fragment_id, flags, length = _FRAGMENT_HEADER.unpack_from(data)
            blob = data[_FRAGMENT_HEADER.size : _FRAGMENT_HEADER.size + length]
            if len(blob) != length:
                raise ProtocolError("a PSRP fragment is shorter than its length says")
            data = data[_FRAGMENT_HEADER.size + length :]
            start, end = bool(flags & 1), bool(flags & 2)
            expected, sofar = self.partial.pop(object_id, (0, b""))
            if start:
                expected, sofar = 0, b""
            if fragment_id != expected:
                raise ProtocolError(f"PSRP fragment {fragment_id} of object {object_id} came out of order")
            sofar += blob
            if end:
                messages.append(Message.unpack(sofar))
            else:
                self.partial[object_id] = (expected + 1, sofar)
        return messages


@dataclass
class Fragmenter:
    """Cuts outgoing messages into fragments no larger than ``max_blob`` bytes each."""

    max_blob: int = 32 * 1024
    next_object: int = 1

    def fragments(self, message: Message) -> list[bytes]:
        """Return the fragments of one message, each a separate stream element."""
        data = message.pack()
        object_id, self.next_object = self.next_object, self.next_object + 1
        pieces = [data[i : i + self.max_blob] for i in range(0, len(data), self.max_blob)] or [b""]
        out = []
        for index, piece in enumerate(pieces):
            flags = (1 if index == 0 else 0) | (2 if index == len(pieces) - 1 else 0)
            out.append(_FRAGMENT_HEADER.pack(object_id, index, flags, len(piece)) + piece)
        return out


# --- CLIXML ([MS-PSRP] 2.2.5) -------------------------------------------------------------------------------


def decode_string(text: str | None) -> str:
    """Undo CLIXML's ``_xHHHH_`` escapes (control characters, and surrogates as pairs)."""
    raw = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text or "")
    return raw.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def encode_string(text: str) -> str:
    """Escape a string for a CLIXML ``<S>``: XML escapes, and ``_xHHHH_`` for what XML cannot carry."""
    out = []
    for char in text:
        code = ord(char)
        if char == "_":
            out.append("_x005F_")  # an underscore that could begin an escape
        elif (code < 0x20 and char not in "\t") or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"_x{code:04X}_")
        elif code > 0xFFFF:
            high, low = divmod(code - 0x10000, 0x400)
            out.append(f"_x{0xD800 + high:04X}__x{0xDC00 + low:04X}_")
        else:
            out.append(escape(char))
    return "".join(out)


def _parse(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ProtocolError(f"a PSRP message is not well-formed CLIXML: {exc}") from exc


@dataclass
class PipelineCommand:
    """One command of a CREATE_PIPELINE: the script (or command name) and its arguments."""

    text: str
    is_script: bool
    arguments: list[str]


@dataclass
class CreatePipeline:
    """What a CREATE_PIPELINE asks for."""

    commands: list[PipelineCommand]
    no_input: bool


def read_create_pipeline(data: bytes) -> CreatePipeline:
    """Read the commands of a CREATE_PIPELINE message (the ``Cmds`` list of its ``PowerShell`` object)."""
    root = _parse(data)
    no_input = (root.findtext("MS/B[@N='NoInput']") or "false").lower() == "true"
    shell = root.find("MS/Obj[@N='PowerShell']")
    if shell is None:
        raise ProtocolError("CREATE_PIPELINE carries no PowerShell object")
    commands = []
    for cmd in shell.findall("MS/Obj[@N='Cmds']/LST/Obj"):
        text = cmd.find("MS/S[@N='Cmd']")
        arguments = []
        for arg in cmd.findall("MS/Obj[@N='Args']/LST/Obj"):
            value = arg.find("MS/*[@N='V']")
            arguments.append(decode_string(value.text) if value is not None and value.tag == "S" else "")
        commands.append(
            PipelineCommand(
                decode_string(text.text if text is not None else ""),
                (cmd.findtext("MS/B[@N='IsScript']") or "false").lower() == "true",
                arguments,
            )
        )
    if not commands:
        raise ProtocolError("CREATE_PIPELINE carries no command")
    return CreatePipeline(commands, no_input)


def read_pipeline_input(data: bytes) -> str:
    """Return the string a PIPELINE_INPUT carries (the exec wrappers read each line as a string)."""
    root = _parse(data)
    if root.tag != "S":
        raise ProtocolError(f"PIPELINE_INPUT carries a <{root.tag}>, not the string Ansible sends")
    return decode_string(root.text)


def session_capability() -> bytes:
    """The server's SESSION_CAPABILITY (Windows PowerShell 5.1)."""
    return (
        f'<Obj RefId="0"><MS><Version N="protocolversion">{PROTOCOL_VERSION}</Version>'
        '<Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>'
    ).encode()


def application_private_data() -> bytes:
    """APPLICATION_PRIVATE_DATA with the PSVersionTable a Windows PowerShell 5.1 PC reports."""
    return (
        b'<Obj RefId="0"><MS><Obj N="ApplicationPrivateData" RefId="1"><TN RefId="0">'
        b"<T>System.Management.Automation.PSPrimitiveDictionary</T><T>System.Collections.Hashtable</T>"
        b'<T>System.Object</T></TN><DCT><En><S N="Key">PSVersionTable</S><Obj N="Value" RefId="2">'
        b'<TNRef RefId="0" /><DCT><En><S N="Key">PSVersion</S><Version N="Value">5.1.19041.5486</Version></En>'
        b'<En><S N="Key">PSEdition</S><S N="Value">Desktop</S></En>'
        b'<En><S N="Key">PSRemotingProtocolVersion</S><Version N="Value">2.3</Version></En>'
        b"</DCT></Obj></En></DCT></Obj></MS></Obj>"
    )


def runspace_state(state: int) -> bytes:
    """RUNSPACEPOOL_STATE."""
    return f'<Obj RefId="0"><MS><I32 N="RunspaceState">{state}</I32></MS></Obj>'.encode()


def pipeline_state(state: int) -> bytes:
    """PIPELINE_STATE."""
    return f'<Obj RefId="0"><MS><I32 N="PipelineState">{state}</I32></MS></Obj>'.encode()


def output_string(text: str) -> bytes:
    """PIPELINE_OUTPUT of one string."""
    return f"<S>{encode_string(text)}</S>".encode()


def host_call(call_id: int, method: int, name: str, argument: str) -> bytes:
    """PIPELINE_HOST_CALL of a method with one argument (an I32 for SetShouldExit, else a string)."""
    value = f"<I32>{int(argument)}</I32>" if method == HOST_SET_SHOULD_EXIT else f"<S>{encode_string(argument)}</S>"
    return (
        f'<Obj RefId="0"><MS><I64 N="ci">{call_id}</I64><Obj N="mi" RefId="1"><TN RefId="0">'
        "<T>System.Management.Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T>"
        f"<T>System.ValueType</T><T>System.Object</T></TN><ToString>{name}</ToString><I32>{method}</I32></Obj>"
        '<Obj N="mp" RefId="2"><TN RefId="1"><T>System.Collections.ArrayList</T><T>System.Object</T></TN>'
        f"<LST>{value}</LST></Obj></MS></Obj>"
    ).encode()
