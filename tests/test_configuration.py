"""Configuration: every setting read from the environment is documented in env.example, and the
original product's variable names work."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_variable_read_anywhere_is_in_env_example_with_its_meaning():
    """The settings' variables, and those the Procfiles and scripts expand themselves."""
    names = _names_read()
    for path in ("Procfile", "Procfile.dev", "scripts/run-local"):
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / path).read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / "env.example").read_text(), re.MULTILINE))
    assert len(names) > 30
    assert names - documented == set()
    reference = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config-reference")], capture_output=True, text=True, check=True
    ).stdout
    without_meaning = re.findall(r"^\| `([A-Z0-9_]+)` \| [^|]* \| +\|$", reference, re.MULTILINE)
    assert without_meaning == []


SUMMARY = (
    "from django.conf import settings as s; print(s.CELERY_BROKER_URL, s.SERVER_PORT, s.DATABASES['default']['ENGINE'])"
)


def _settings(env: dict, code: str = SUMMARY) -> str:
    """What `code` prints in a fresh process configured by `env` alone."""
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


S3 = {
    "S3_BUCKET": "pics",
    "S3_ENDPOINT_URL": "http://objects.internal:9000",
    "S3_ACCESS_KEY_ID": "AKEXAMPLE",
    "S3_SECRET_ACCESS_KEY": "not-in-any-url",
}
STORED_URL = "from django.core.files.storage import default_storage as d; print(d.url('images/x/1-0.png'))"


def _stored_url(env: dict) -> str:
    """What default_storage.url gives with these S3_* variables (signing and URLs are built locally)."""
    return _settings({**S3, **env}, code=STORED_URL)


def test_s3_variables_configure_signed_or_public_urls():
    signed = _stored_url({"S3_URL_EXPIRY_SECONDS": "600"})
    assert signed.startswith("http://objects.internal:9000/pics/images/x/1-0.png?")  # path style
    assert "X-Amz-Expires=600" in signed and "AKEXAMPLE" in signed and "not-in-any-url" not in signed
    virtual = _stored_url({"S3_ADDRESSING_STYLE": "virtual"})
    assert virtual.startswith("http://pics.objects.internal:9000/images/x/1-0.png?")
    public = _stored_url({"S3_PUBLIC_BASE_URL": "https://cdn.example.com/gallery/"})
    assert public == "https://cdn.example.com/gallery/images/x/1-0.png"  # unsigned: a public bucket or CDN


def _settings_sources() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "jimeng_server" / "settings").glob("*.py")))


def _names_read() -> set[str]:
    sources = _settings_sources()
    return set(re.findall(r'(?:env\.(?:str|int|bool|float|list|dict|json|db_url)|_caps)\(\s*"([A-Z0-9_]+)"', sources))


def _documented_examples() -> set[tuple[str, str]]:
    """Every NAME=value that env.example or README shows for a setting the server reads."""
    names = _names_read()
    shown = set(re.findall(r"^#?\s*([A-Z0-9_]+)=(\S+)", (ROOT / "env.example").read_text(), re.MULTILINE))
    shown |= set(
        re.findall(r"\b([A-Z][A-Z0-9_]+)=('[^']*'|[^\s`|,)]+(?:,[^\s`|)]+)*)", (ROOT / "README.md").read_text())
    )
    return {(name, value.strip("'")) for name, value in shown if name in names}


def test_every_example_value_in_the_docs_starts_the_server():
    """A documented value that stops every process (UPSTREAM_CONCURRENCY=jimeng=8,ark=8 once did) fails
    here: each example is read by the settings module in a fresh interpreter."""
    examples = sorted(_documented_examples())
    assert len(examples) > 40 and ("UPSTREAM_CONCURRENCY", "jimeng=8,ark=8") in examples
    script = (
        "import importlib, json, os, sys\n"
        "sys.path.insert(0, '.')\n"
        "failed = []\n"
        "for name, value in json.loads(sys.argv[1]):\n"
        "    before = dict(os.environ)\n"
        "    os.environ[name] = value\n"
        "    try:\n"
        "        for module in [m for m in sys.modules if m.startswith('jimeng_server')]:\n"
        "            del sys.modules[module]\n"
        "        importlib.import_module('jimeng_server.settings')\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}={value}: {exc!r}')\n"
        "    os.environ.clear(); os.environ.update(before)\n"
        "print(json.dumps(failed))\n"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(examples)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "JIMENG_ENV_FILE": "/nonexistent", "JIMENG_DATA_DIR": "/tmp/jimeng-config-test"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == []


def test_caps_take_commas_semicolons_or_spaces():
    code = "from django.conf import settings as s; print(sorted(s.UPSTREAM_CONCURRENCY.items()), s.MODEL_CONCURRENCY)"
    for text in ("jimeng=8,ark=4", "jimeng=8;ark=4", "jimeng=8, ark=4", "jimeng:8 ark:4"):
        assert _settings({"UPSTREAM_CONCURRENCY": text}, code) == "[('ark', 4), ('jimeng', 8)] {}"
    refused = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='jimeng_server.settings';"
            " from django.conf import settings as s; s.UPSTREAM_CONCURRENCY",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "JIMENG_ENV_FILE": "/nonexistent", "UPSTREAM_CONCURRENCY": "jimeng=eight"},
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "UPSTREAM_CONCURRENCY: 'jimeng=eight' is not name=number" in refused.stderr
