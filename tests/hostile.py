"""Request shapes that once made the server answer 500: each must be a 4xx in the envelope. Used by
the bad-input tests and by `make fuzz`, which sends them to every operation of the schema."""

import io
import struct
import zlib

NESTED_JSON = b"[" * 50_000 + b"]" * 50_000  # deeper than Python's parser recurses
NESTED_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
HUGE_NUMBER = "1" + "0" * 22  # a 23-digit page number: past every database's integer


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png() -> io.BytesIO:
    """68 bytes declaring 30000 × 30000 pixels."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + _chunk(b"IEND", b"")
    )
    buffer = io.BytesIO(data)
    buffer.name = "bomb.png"
    return buffer


def small_png(name: str = "ref.png") -> io.BytesIO:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer
