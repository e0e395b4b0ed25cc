"""One HTTP request through an ASGI application in this process, as the server would hand it over."""

from asgiref.testing import ApplicationCommunicator

from jimeng_server.edge import ANSWERING


async def ask(application, path: str, method: str = "GET", body: bytes = b"", headers=(), *, answering=False):
    """The answer's status, headers and body. `answering`: the scope carries the server protocol's list
    of the tasks answering the connection (jimeng_server/edge.py), which the handler's shortcut needs."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    if answering:
        scope[ANSWERING] = []
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(10)
    chunks = []
    while True:
        message = await communicator.receive_output(10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    answer_headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return start["status"], answer_headers, b"".join(chunks)
