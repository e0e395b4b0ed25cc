"""The embedded broker: kombu's filesystem transport, with each message written whole before a worker
can see it, and a worker's wait for messages no longer than its polling interval.

kombu's own `_put` creates the message file under its final name, then writes it; a worker listing
the folder in between takes an empty file, fails to decode it and stops for good ("Unrecoverable
error: JSONDecodeError"). Here the message is written under a name no worker looks at, then renamed
into place (one atomic step on one filesystem)."""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{uuid.uuid4().hex}.writing")  # matches no queue
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError:
            raise ChannelError(f"Cannot add file {final!r} to directory") from None


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        """Wait at most one polling interval. Celery's loop for this transport performs acks (queued by
        the pool's threads) only between two waits, which it asks to last 2 s: with every prefetched
        message running, the worker took no new message until the wait ran out — two tasks every two
        seconds, whatever the caps allowed."""
        interval = self.polling_interval or 0.2
        return super().drain_events(connection, timeout=interval if timeout is None else min(timeout, interval))
