"""The embedded broker: kombu's filesystem transport, with each message written whole before a worker
can see it, and a worker's wait for messages no longer than its polling interval.

kombu's own `_put` creates the message file under its final name, then writes it; a worker listing
the folder in between takes an empty file, fails to decode it and stops for good ("Unrecoverable
error: JSONDecodeError"). Here the message is written under a name no worker looks at, then renamed
into place (one atomic step on one filesystem).

Its exchange tables (which queues an exchange routes to, one file each, written as workers start) had
the same gap: a worker creates the file empty and only then locks it to write; another starting beside
it (`make run` starts two) could lock it first, read nothing and stop for good the same way. Here the
file is created and locked in one open, and an empty table reads as no queues."""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


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

    def get_table(self, exchange):
        try:
            with (self.control_folder / f"{exchange}.exchange").open("rb") as table:
                filesystem.lock(table, filesystem.LOCK_SH)
                try:
                    content = table.read()
                finally:
                    filesystem.unlock(table)
        except FileNotFoundError:
            return []
        except OSError:
            raise ChannelError(f"Cannot open the table of exchange {exchange!r}") from None
        return _queues(content)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        self.control_folder.mkdir(exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        descriptor = os.open(self.control_folder / f"{exchange}.exchange", os.O_RDWR | os.O_CREAT, 0o644)
        with os.fdopen(descriptor, "r+b", buffering=0) as table:
            filesystem.lock(table, filesystem.LOCK_EX)
            try:
                queues = _queues(table.read())
                if entry not in queues:
                    queues.insert(0, entry)
                    table.seek(0)
                    table.truncate()
                    table.write(str_to_bytes(dumps(queues)))
            finally:
                filesystem.unlock(table)


def _queues(content: bytes) -> list:
    """An exchange table's queues; an empty file (being made by another worker) has none yet."""
    return [filesystem.exchange_queue_t(*entry) for entry in loads(bytes_to_str(content))] if content.strip() else []


class Transport(filesystem.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        """Wait at most one polling interval. Celery's loop for this transport performs acks (queued by
        the pool's threads) only between two waits, which it asks to last 2 s: with every prefetched
        message running, the worker took no new message until the wait ran out — two tasks every two
        seconds, whatever the caps allowed."""
        interval = self.polling_interval or 0.2
        return super().drain_events(connection, timeout=interval if timeout is None else min(timeout, interval))
