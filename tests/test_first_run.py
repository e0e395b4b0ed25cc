"""`make run` at a terminal, as a person uses it: the real environment wins over `.env` — also for the
Procfile's own ${VARIABLES} (honcho would read `.env` over it) — and Ctrl-C stops every process
within 10 s, with no error line from make, no pool process stopped in the middle of its task, and
nothing left running."""

import os
import pty
import select
import time
import urllib.request

import pytest

from tests.stack import ROOT, free_port

pytestmark = pytest.mark.stack


def _answers(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200
    except OSError:
        return False


def _run_env(tmp_path, port: int, env_file) -> dict:
    """This machine's environment for a run of its own: data folder, `.env` file and port."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JIMENG_TEST", "PYTHONPATH", "MONGODB_URI"))},
        "JIMENG_DATA_DIR": str(tmp_path / "data"),
        "JIMENG_ENV_FILE": str(env_file),
        "SERVER_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }


def test_make_run_takes_the_environment_over_dot_env_and_stops_cleanly_on_ctrl_c(tmp_path):
    wanted, in_dot_env = free_port(), free_port()
    (tmp_path / "dot.env").write_text(f"SERVER_PORT={in_dot_env}\nLOCAL_PROVIDER_LATENCY_SECONDS=0.2\n")
    env = _run_env(tmp_path, wanted, tmp_path / "dot.env")
    pid, terminal = pty.fork()
    if pid == 0:  # the child: make, at a terminal
        os.chdir(ROOT)
        os.execvpe("make", ["make", "run"], env)
    output = bytearray()

    def read(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([terminal], [], [], 0.1)[0]:
                try:
                    output.extend(os.read(terminal, 65536))
                except OSError:
                    return

    deadline = time.monotonic() + 120
    while not _answers(wanted) and time.monotonic() < deadline:
        read(0.5)
    assert _answers(wanted), output.decode(errors="replace")[-3000:]
    assert not _answers(in_dot_env)
    read(2)
    stopped_at = time.monotonic()
    os.write(terminal, b"\x03")  # Ctrl-C
    status = None
    while status is None and time.monotonic() - stopped_at < 20:
        read(0.2)
        done, code = os.waitpid(pid, os.WNOHANG)
        status = code if done else None
    text = output.decode(errors="replace")
    assert status == 0, text[-3000:]
    assert time.monotonic() - stopped_at < 10
    assert "make: ***" not in text
    assert "SIGKILL" not in text and "exited with 'signal" not in text  # no process stopped mid-task
    time.sleep(0.5)
    assert _processes_of(tmp_path / "data") == []  # every process of this run is gone


def _processes_of(data_dir) -> list[str]:
    """Processes whose environment names this data folder."""
    marker = f"JIMENG_DATA_DIR={data_dir}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0"):
                        found.append(open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode())
            except OSError:
                pass
    return found


def test_run_local_without_a_terminal_serves_and_stops_on_sigterm(tmp_path):
    """As a service manager (systemd, a container) runs it: no terminal; honcho is exec'd, so the
    SIGTERM meant for the server reaches it, and every process stops."""
    import signal
    import subprocess

    port = free_port()
    env = _run_env(tmp_path, port, tmp_path / "none.env")
    log = open(tmp_path / "run.log", "wb")
    server = subprocess.Popen(
        [str(ROOT / "scripts/run-local")], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 120
    while not _answers(port) and time.monotonic() < deadline and server.poll() is None:
        time.sleep(0.3)
    assert _answers(port), (tmp_path / "run.log").read_text()[-3000:]
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=20) is not None
    time.sleep(0.5)
    assert _processes_of(tmp_path / "data") == [], (tmp_path / "run.log").read_text()[-3000:]
