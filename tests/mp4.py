"""Reading an MP4 the way a player starts to: its top-level ISO-BMFF boxes, and the track header's
width and height — written here from the format, not with the encoder the server uses."""

from __future__ import annotations

import struct


def boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, start, size) of each top-level box; AssertionError when they do not tile the file."""
    found, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        elif size == 0:
            size = len(data) - offset
        assert size >= header, f"box {kind!r} at {offset} has size {size}"
        found.append((kind.decode("latin-1"), offset, size))
        offset += size
    assert offset == len(data), "the boxes do not end where the file does"
    return found


def mp4_facts(data: bytes) -> dict:
    """Brand, the top-level boxes, and the video track's width x height (from its tkhd)."""
    top = boxes(data)
    kinds = [kind for kind, _, _ in top]
    assert kinds[0] == "ftyp", kinds
    assert "moov" in kinds and "mdat" in kinds, kinds
    _, start, size = top[0]
    brand = data[start + 8 : start + 12].decode("latin-1")
    _, start, size = top[kinds.index("moov")]
    moov = data[start : start + size]
    sizes = []
    at = moov.find(b"tkhd")
    while at != -1:
        version = moov[at + 4]
        # tkhd: version/flags, times, track id, reserved, duration, reserved, layer, group, volume,
        # reserved, matrix (36 bytes), then width and height as 16.16 fixed point.
        body = at + 4 + (96 if version == 1 else 84) - 8
        width, height = struct.unpack(">II", moov[body : body + 8])
        if width and height:
            sizes.append((width >> 16, height >> 16))
        at = moov.find(b"tkhd", at + 4)
    return {"brand": brand, "boxes": kinds, "video_sizes": sizes, "has_avc": b"avc1" in moov}
