"""The embedded (filesystem) broker: a worker listing the folder never finds a message half written
(kombu's own transport creates the file, then writes it: a worker that took it in between stopped for
good on a JSONDecodeError)."""

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
