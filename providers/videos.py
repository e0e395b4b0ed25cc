"""Videos: the frame sizes of each resolution and aspect ratio, writing an MP4 (H.264, by PyAV's own
FFmpeg build: no system ffmpeg), and reading one back to check it."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable

# (resolution, aspect ratio) -> (width, height), as Seedance documents its outputs (Jimeng's are alike).
SIZES = {
    "480p": {
        "16:9": (864, 480),
        "4:3": (736, 544),
        "1:1": (640, 640),
        "3:4": (544, 736),
        "9:16": (480, 864),
        "21:9": (960, 416),
    },
    "720p": {
        "16:9": (1280, 720),
        "4:3": (1112, 834),
        "1:1": (960, 960),
        "3:4": (834, 1112),
        "9:16": (720, 1280),
        "21:9": (1470, 630),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "4:3": (1664, 1248),
        "1:1": (1440, 1440),
        "3:4": (1248, 1664),
        "9:16": (1080, 1920),
        "21:9": (2206, 946),
    },
}


def video_size(resolution: str, ratio: str | None) -> tuple[int, int]:
    by_ratio = SIZES.get(resolution, SIZES["720p"])
    return by_ratio.get(ratio or "16:9", by_ratio["16:9"])


def mp4_encode(frames: Iterable, *, width: int, height: int, fps: int) -> bytes:
    """An MP4 (H.264, yuv420p, the index at the front so a player starts before the end arrives) of
    PIL images of `width` x `height`."""
    import av

    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:  # +faststart rewrites the file by its name
        with av.open(file.name, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "tune": "stillimage"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for picture in frames:
                for packet in stream.encode(av.VideoFrame.from_image(picture)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return file.read()


def mp4_probe(data: bytes) -> dict:
    """Width, height and duration (seconds) of an MP4, read from its container and first video stream.
    ValueError when it is not an MP4 with a video stream."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if "mp4" not in container.format.name.split(","):
                raise ValueError(f"not an MP4 ({container.format.name})")
            streams = container.streams.video
            if not streams:
                raise ValueError("no video stream")
            stream = streams[0]
            duration = (
                float(stream.duration * stream.time_base)
                if stream.duration is not None and stream.time_base is not None
                else (container.duration or 0) / 1_000_000
            )
            return {
                "width": stream.codec_context.width,
                "height": stream.codec_context.height,
                "duration": round(duration, 2),
            }
    except av.FFmpegError as exc:
        raise ValueError(f"not a readable video ({exc.__class__.__name__})") from None


def mp4_last_frame_png(data: bytes) -> bytes:
    """The last frame of an MP4, as a PNG (a video's thumbnail when the upstream gave none). ValueError
    when it has no readable frame."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            if stream.duration is not None:  # near the end: only the last key frame's group is decoded
                container.seek(max(0, int(stream.duration * 0.9)), stream=stream, any_frame=False)
            last = None
            for frame in container.decode(stream):
                last = frame
    except (av.FFmpegError, IndexError) as exc:
        raise ValueError(f"no readable frame ({exc.__class__.__name__})") from None
    if last is None:
        raise ValueError("no frame")
    out = io.BytesIO()
    last.to_image().save(out, format="PNG", compress_level=1)
    return out.getvalue()
