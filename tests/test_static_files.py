"""`/static/`: the apps' own files are served without `collectstatic`, and nothing else is."""

import pytest
import requests

FONT = "/static/imagetasks/fonts/noto-sans-sc-common.woff2"


@pytest.mark.stack
def test_static_serves_the_apps_files_and_nothing_beside_them(make_stack):
    stack = make_stack().start()
    font = requests.get(stack.url(FONT), timeout=10)
    assert font.status_code == 200 and font.headers["Content-Type"] == "font/woff2"
    assert font.content[:4] == b"wOF2"
    for hostile in (
        "/static/../manage.py",
        "/static/%2e%2e/%2e%2e/manage.py",
        "/static/imagetasks/%2e%2e/%2e%2e/%2e%2e/jimeng_server/settings/core.py",
        "/static/imagetasks/fonts/..%2f..%2f..%2f..%2fmanage.py",
        "/static/imagetasks/../../../.env",
        "/static/" + "a/" * 2000,
    ):
        answer = requests.get(stack.url(hostile), timeout=10)
        assert answer.status_code in (400, 404), (hostile[:80], answer.status_code)
        assert b"DJANGO" not in answer.content and b"import" not in answer.content
