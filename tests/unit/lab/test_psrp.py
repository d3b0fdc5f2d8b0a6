"""The lab's PSRP codec against pypsrp, the client library ansible-core's psrp connection uses.

Each direction is checked with the other side's real code: what pypsrp sends is read by the lab, and what the
lab answers is read by pypsrp's own deserializer into the objects ansible-core's psrp connection looks at.
"""

from __future__ import annotations

import uuid

import pytest
from pypsrp.complex_objects import ApartmentState, Command, HostInfo, Pipeline, RemoteStreamOptions
from pypsrp.messages import (
    CreatePipeline,
    Destination,
    EndOfPipelineInput,
    MessageType,
    PipelineInput,
)
from pypsrp.powershell import Fragmenter as ClientFragmenter
from pypsrp.serializer import Serializer

from onshi_cert_tools.lab import psrp

RPID = str(uuid.uuid4())
PID = str(uuid.uuid4())


def client_fragments(messages, max_size: int = 512000) -> list[bytes]:
    return ClientFragmenter(max_size, Serializer()).fragment_multiple(messages, RPID, PID)


def create_pipeline(script: str) -> CreatePipeline:
    command = Command(cmd=script, is_script=True, use_local_scope=True)
    pipeline = Pipeline(is_nested=False, cmds=[command], history="", redirect_err_to_out=False)
    return CreatePipeline(
        False, ApartmentState(value=2), RemoteStreamOptions(value=15), False, HostInfo(), pipeline, False
    )


def server_messages(fragments: list[bytes]):
    return ClientFragmenter(512000, Serializer()).defragment(b"".join(fragments))


def test_the_lab_reads_a_pipeline_and_its_input_lines_as_pypsrp_sends_them() -> None:
    """The script (with newlines, markup and Japanese), each input line (NULs included) and the end of input."""
    script = "if ($a -lt 1) { 'x' }\r\n$codeJson = foreach ($in in $input) { $in }\n# 電子証明書 _x0041_"
    lines = ['{"name":"exec_wrapper"}', "\0\0\0\0", '{"a":"<&>"}']
    messages = [create_pipeline(script), *(PipelineInput(data=line) for line in lines), EndOfPipelineInput()]
    # a small fragment size cuts the messages into many fragments, as a 300 KB payload is cut
    fragments = client_fragments(messages, max_size=64)
    assert len(fragments) > 20
    received = []
    defragmenter = psrp.Defragmenter()
    for fragment in fragments:
        received += defragmenter.feed(fragment)
    kinds = [m.message_type for m in received]
    assert kinds == [psrp.CREATE_PIPELINE, *[psrp.PIPELINE_INPUT] * 3, psrp.END_OF_PIPELINE_INPUT]
    assert {m.rpid for m in received} == {RPID} and {m.pid for m in received} == {PID}
    assert all(m.destination == psrp.DESTINATION_SERVER for m in received)
    created = psrp.read_create_pipeline(received[0].data)
    assert [(c.text, c.is_script, c.arguments) for c in created.commands] == [(script, True, [])]
    assert created.no_input is False
    assert [psrp.read_pipeline_input(m.data) for m in received[1:4]] == lines


def test_fragments_out_of_order_are_a_protocol_error() -> None:
    fragments = client_fragments([create_pipeline("x" * 500)], max_size=100)
    with pytest.raises(psrp.ProtocolError, match="out of order"):
        psrp.Defragmenter().feed(fragments[0] + fragments[2])


def test_a_truncated_fragment_is_a_protocol_error() -> None:
    (fragment,) = client_fragments([create_pipeline("x")])
    with pytest.raises(psrp.ProtocolError, match="shorter"):
        psrp.Defragmenter().feed(fragment[:-5])


def test_an_input_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(psrp.ProtocolError, match="not the string"):
        psrp.read_pipeline_input(b"<I32>5</I32>")


def test_pypsrp_reads_the_pool_opening_as_a_windows_powershell_5_1_server() -> None:
    pool = psrp.Fragmenter(max_blob=40)
    fragments = []
    for kind, body in (
        (psrp.SESSION_CAPABILITY, psrp.session_capability()),
        (psrp.APPLICATION_PRIVATE_DATA, psrp.application_private_data()),
        (psrp.RUNSPACEPOOL_STATE, psrp.runspace_state(psrp.RUNSPACE_OPENED)),
    ):
        fragments += pool.fragments(psrp.Message(psrp.DESTINATION_CLIENT, kind, RPID, str(uuid.UUID(int=0)), body))
    capability, private, state = server_messages(fragments)
    assert capability.message_type == MessageType.SESSION_CAPABILITY
    assert capability.destination == Destination.CLIENT
    assert capability.data.protocol_version == "2.3" and capability.data.serialization_version == "1.1.0.1"
    assert private.message_type == MessageType.APPLICATION_PRIVATE_DATA
    assert str(private.data.data["PSVersionTable"]["PSVersion"]) == "5.1.19041.5486"
    assert state.message_type == MessageType.RUNSPACEPOOL_STATE and state.data.state == 2


@pytest.mark.parametrize(
    "text", ['{"changed":false,"msg":"a_b <&> \\u0000"}', "行1\r\n行2\t_x0041_ end", "emoji 🔐 and \x07 bell"]
)
def test_pypsrp_reads_pipeline_output_exactly(text: str) -> None:
    fragments = psrp.Fragmenter().fragments(
        psrp.Message(psrp.DESTINATION_CLIENT, psrp.PIPELINE_OUTPUT, RPID, PID, psrp.output_string(text))
    )
    (message,) = server_messages(fragments)
    assert message.message_type == MessageType.PIPELINE_OUTPUT
    assert message.data.data == text


def test_pypsrp_reads_the_exit_code_host_call_and_the_final_state() -> None:
    fragmenter = psrp.Fragmenter()
    fragments = []
    for kind, body in (
        (psrp.PIPELINE_HOST_CALL, psrp.host_call(-1, psrp.HOST_WRITE_ERROR_LINE, "WriteErrorLine", "失敗 <x>")),
        (psrp.PIPELINE_HOST_CALL, psrp.host_call(-2, psrp.HOST_SET_SHOULD_EXIT, "SetShouldExit", "1")),
        (psrp.PIPELINE_STATE, psrp.pipeline_state(psrp.PIPELINE_COMPLETED)),
    ):
        fragments += fragmenter.fragments(psrp.Message(psrp.DESTINATION_CLIENT, kind, RPID, PID, body))
    error_line, exit_call, state = server_messages(fragments)
    assert error_line.data.mi.value == 18 and error_line.data.mp == ["失敗 <x>"]
    assert exit_call.data.ci == -2 and str(exit_call.data.mi) == "SetShouldExit" and exit_call.data.mp == [1]
    assert state.message_type == MessageType.PIPELINE_STATE and state.data.state == 4
