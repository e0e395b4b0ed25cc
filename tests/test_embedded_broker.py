"""The embedded (filesystem) broker: a worker listing the folder never finds a message half written
(kombu's own transport creates the file, then writes it: a worker that took it in between stopped for
good on a JSONDecodeError) — nor an exchange's table half made by a worker starting beside it."""

import json
import os
import threading

from kombu import Connection

from jimeng_server.broker import Transport


def _sent_while_watched(tmp_path, transport) -> list[str]:
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(tmp_path)}
    problems, done = [], threading.Event()

    def watch():  # what a worker does: list the folder, take every message file, read it
        while not done.is_set():
            for name in os.listdir(folder):
                if name.endswith(".msg"):
                    try:
                        with open(folder / name, "rb") as message:
                            body = message.read()
                        os.remove(folder / name)
                    except FileNotFoundError:
                        continue
                    try:
                        json.loads(body)
                    except ValueError:
                        problems.append(name)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with Connection("filesystem://", transport=transport, transport_options=options) as connection:
        queue = connection.SimpleQueue("imagetasks")
        for n in range(3000):
            queue.put({"n": n, "body": "x" * 2000})
        queue.close()
    done.set()
    watcher.join()
    return problems


def test_a_listed_message_is_always_whole(tmp_path):
    assert _sent_while_watched(tmp_path, Transport) == []


def _bind_while_another_makes_the_table(tmp_path, transport) -> list:
    """What a worker sees when another, starting beside it, has just created the exchange's table file
    and not yet written it (kombu creates it empty, then locks it to write)."""
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(tmp_path)}
    (tmp_path / "tasks.exchange").write_bytes(b"")
    with Connection("filesystem://", transport=transport, transport_options=options) as connection:
        assert connection.default_channel.get_table("tasks") == []
    for queues in (["imagetasks", "imagetasks-io"], ["imagetasks"]):  # two workers, one after the other
        with Connection("filesystem://", transport=transport, transport_options=options) as connection:
            channel = connection.default_channel
            channel.exchange_declare("tasks", type="direct")
            for queue in queues:
                channel.queue_bind(queue, exchange="tasks", routing_key=queue)
            table = [entry.queue for entry in channel.get_table("tasks")]
    return table


def test_a_worker_starting_beside_another_reads_a_table_being_made_as_empty(tmp_path):
    assert _bind_while_another_makes_the_table(tmp_path, Transport) == ["imagetasks-io", "imagetasks"]
