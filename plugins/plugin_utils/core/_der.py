"""A minimal DER reader: just enough to see how a PKCS#12 file is protected."""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
CONTEXT_0 = 0xA0
CONTEXT_0_PRIMITIVE = 0x80


class DerError(ValueError):
    """The bytes are not well-formed DER."""


@dataclass(frozen=True)
class Node:
    """One DER element: its tag and content bytes."""

    tag: int
    content: bytes

    def children(self) -> list[Node]:
        """Return the elements inside a constructed element."""
        if not self.tag & 0x20:
            raise DerError(f"tag {self.tag:#x} is not constructed")
        return read_all(self.content)

    def encode(self) -> bytes:
        """Return the element's DER encoding again (tag, length, content)."""
        size = len(self.content)
        if size < 0x80:
            length = bytes([size])
        else:
            raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
            length = bytes([0x80 | len(raw)]) + raw
        return bytes([self.tag]) + length + self.content

    def expect(self, tag: int) -> Node:
        """Return self when the tag matches, else raise DerError."""
        if self.tag != tag:
            raise DerError(f"expected tag {tag:#x}, found {self.tag:#x}")
        return self

    def oid(self) -> str:
        """Decode an OBJECT IDENTIFIER as dotted text."""
        self.expect(OID)
        data = self.content
        if not data:
            raise DerError("empty OID")
        arcs = [min(data[0] // 40, 2), data[0] - 40 * min(data[0] // 40, 2)]
        value = 0
        for byte in data[1:]:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        return ".".join(str(a) for a in arcs)

    def integer(self) -> int:
        """Decode an INTEGER."""
        self.expect(INTEGER)
        return int.from_bytes(self.content, "big", signed=True)


def read_one(data: bytes, offset: int = 0) -> tuple[Node, int]:
    """Read the element at ``offset``; return it and the offset just after it."""
    if offset + 2 > len(data):
        raise DerError("truncated element header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used by PKCS#12")
    length = data[offset + 1]
    pos = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad length encoding (indefinite or too long)")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("element runs past the end of the data")
    return Node(tag, data[pos:end]), end


def read_all(data: bytes) -> list[Node]:
    """Read consecutive elements filling ``data`` exactly."""
    nodes: list[Node] = []
    offset = 0
    while offset < len(data):
        node, offset = read_one(data, offset)
        nodes.append(node)
    return nodes


def parse(data: bytes) -> Node:
    """Parse one element that must fill ``data`` exactly."""
    node, end = read_one(data)
    if end != len(data):
        raise DerError(f"{len(data) - end} trailing bytes after the element")
    return node
