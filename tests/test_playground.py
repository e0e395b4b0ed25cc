"""The playground in a real browser (Debian's headless Chromium, driven by selenium): a prompt in,
live progress, the image, and the user's gallery. Saves a screenshot (docs/playground.png is one)."""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are missing: run the tests with `make test` (scripts/test-services)")
    os.environ.setdefault("SE_OFFLINE", "true")  # no driver downloads: Debian's chromedriver is given
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,1450",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_a_prompt_becomes_an_image_and_joins_the_gallery(make_stack, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    stack = make_stack(env={"LOCAL_PROVIDER_LATENCY_SECONDS": "1.5"}).start()
    for n in range(2):  # earlier work of the same user, already in the gallery
        stack.wait_terminal(stack.create_task(prompt=f"earlier lantern {n}", user_id="gallery", size="512x512"))
    browser.get(stack.url("/playground/"))
    wait = WebDriverWait(browser, 30)
    wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#model option"))
    user = browser.find_element(By.ID, "user")
    user.clear()
    user.send_keys("gallery")
    browser.find_element(By.ID, "prompt").send_keys("a paper lantern over a quiet river 灯笼")
    browser.find_element(By.ID, "size").send_keys("768x768")
    browser.find_element(By.ID, "go").click()

    seen = set()

    def finished(page):
        status = page.find_elements(By.CSS_SELECTOR, "#progress .status")
        if status:
            seen.add(status[0].text)
        return "completed" in seen

    wait.until(finished)
    assert {"pending", "processing"} & seen  # live progress was shown before the end
    image = wait.until(lambda page: page.find_element(By.CSS_SELECTOR, "#result img"))
    wait.until(lambda page: page.execute_script("return arguments[0].naturalWidth", image) == 768)
    wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "#gallery figure")) == 3)
    captions = [caption.text for caption in browser.find_elements(By.CSS_SELECTOR, "#gallery figcaption")]
    assert captions[0] == "a paper lantern over a quiet river 灯笼"  # newest first
    assert "3 images" in browser.find_element(By.ID, "page").text
    # The Chinese in the caption drew with the server's web font (this machine has no CJK font): the
    # browser fetched it because the page showed a character in its range, and it decoded.
    faces = wait.until(
        lambda page: page.execute_script(
            "return [...document.fonts].filter(f => f.family.includes('Playground CJK') && f.status === 'loaded')"
            ".map(f => f.family)"
        )
    )
    assert faces and browser.execute_script("return document.fonts.check('16px \"Playground CJK\"', '灯笼')")

    shot = tmp_path / "playground.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("JIMENG_SCREENSHOT_DIR"):  # `JIMENG_SCREENSHOT_DIR=docs make test` refreshes the docs
        shutil.copy(shot, Path(os.environ["JIMENG_SCREENSHOT_DIR"]) / "playground.png")


def test_a_prompt_becomes_a_playing_video(make_stack, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    stack = make_stack(env={"LOCAL_PROVIDER_LATENCY_SECONDS": "1.5"}).start()
    browser.get(stack.url("/playground/"))
    wait = WebDriverWait(browser, 60)
    wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#model option"))
    Select(browser.find_element(By.ID, "type")).select_by_value("video")
    assert not browser.find_element(By.ID, "size").is_displayed()  # an image's knob, hidden for video
    Select(browser.find_element(By.ID, "model")).select_by_value("jimeng_t2v_v30")
    assert [o.text for o in Select(browser.find_element(By.ID, "duration")).options] == ["5", "10"]
    Select(browser.find_element(By.ID, "ratio")).select_by_value("16:9")
    browser.find_element(By.ID, "prompt").send_keys("a paper boat drifting down a river 纸船")
    browser.find_element(By.ID, "go").click()

    video = wait.until(lambda page: page.find_element(By.CSS_SELECTOR, "#result video"))
    assert video.get_attribute("src").startswith(stack.base_url + "/media/videos/")

    def playing(page):
        return page.execute_script(
            "const v = arguments[0]; return v.readyState >= 2 && !v.paused && v.currentTime > 0.3 && v.videoWidth",
            video,
        )

    assert wait.until(playing) == 1280  # decoded by the browser and playing, frame after frame
    wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#gallery figure video"))

    shot = tmp_path / "playground-video.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("JIMENG_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["JIMENG_SCREENSHOT_DIR"]) / "playground-video.png")


def test_a_set_fills_the_result_one_image_at_a_time(make_stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    stack = make_stack(env={"LOCAL_PROVIDER_LATENCY_SECONDS": "3"}).start()  # an image every 1.5 s
    browser.get(stack.url("/playground/"))
    wait = WebDriverWait(browser, 60, poll_frequency=0.1)
    wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#model option"))
    Select(browser.find_element(By.ID, "model")).select_by_value("doubao-seedream-4-0-250828")
    browser.find_element(By.ID, "prompt").send_keys("three views of one lighthouse")
    browser.find_element(By.ID, "size").send_keys("1280x720")
    count = browser.find_element(By.ID, "count")
    count.clear()
    count.send_keys("3")
    browser.find_element(By.ID, "go").click()

    def growing(page):  # images shown while the task is still processing
        shown = len(page.find_elements(By.CSS_SELECTOR, "#result img"))
        return shown if 0 < shown < 3 and "processing" in page.find_element(By.ID, "progress").text else None

    assert wait.until(growing) in (1, 2)
    wait.until(lambda page: "completed" in page.find_element(By.ID, "progress").text)
    images = browser.find_elements(By.CSS_SELECTOR, "#result img")
    assert len(images) == 3
    assert wait.until(
        lambda page: all(page.execute_script("return arguments[0].naturalWidth", i) == 1280 for i in images)
    )
