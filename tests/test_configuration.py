"""Configuration: every setting read from the environment is documented in env.example, and the
original product's variable names work."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_environment_setting_is_in_env_example():
    sources = (ROOT / "jimeng_server" / "settings.py").read_text()
    names = set(re.findall(r'env\.(?:str|int|bool|float|list|dict|db_url)\(\s*"([A-Z0-9_]+)"', sources))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / "env.example").read_text(), re.MULTILINE))
    assert len(names) > 30
    assert names - documented == set()


def _settings(env: dict) -> str:
    code = "from django.conf import settings as s; print(s.CELERY_BROKER_URL, s.SERVER_PORT, s.DATABASES['default']['ENGINE'])"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='jimeng_server.settings'; {code}",
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "JIMENG_ENV_FILE": "/nonexistent",
            "JIMENG_DATA_DIR": "/tmp/jimeng-config-test",
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_original_redis_names_build_the_broker_url():
    out = _settings(
        {"REDIS_ADDR": "10.0.0.5:6380", "REDIS_PASSWORD": "p@ss/word", "REDIS_DB": "3", "SERVER_PORT": "8080"}
    )
    assert out == "redis://:p%40ss%2Fword@10.0.0.5:6380/3 8080 django.db.backends.sqlite3"


def test_embedded_defaults():
    assert _settings({}) == "filesystem:// 8000 django.db.backends.sqlite3"


def test_env_file_is_read(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("REDIS_ADDR=redis.internal:6379\nSERVER_PORT=9000\n")
    assert (
        _settings({"JIMENG_ENV_FILE": str(env_file)}) == "redis://redis.internal:6379/0 9000 django.db.backends.sqlite3"
    )


def test_the_readme_configuration_reference_is_current():
    import subprocess
    import sys

    table = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config-reference")], capture_output=True, text=True, check=True
    ).stdout
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- config-reference:start -->\n", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    assert shown == table, "README's configuration reference is stale: run `scripts/config-reference --write`"
