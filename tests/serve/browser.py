"""The chat page at / in a real headless browser (Debian's chromium and chromedriver,
driven by selenium): load the page, type a question, read the streamed answer and its
badges from the DOM, check the conversation survives a reload, and that the page loads
nothing from outside the server."""
import os
import shutil
import sys
import time

from selenium import webdriver  # missing package or browser: the test fails, never skips
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
from serve_common import Server, expect, finish  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
for exe in ("chromium", "chromedriver"):
    if not shutil.which(exe):
        sys.exit(f"{exe} is not installed (scripts/setup --tests installs Debian's chromium and chromium-driver)")

srv = Server(BIN, MODEL, "--parallel", "2", env=dict(os.environ, VERITAS_QUIET="1"))
opts = webdriver.ChromeOptions()
opts.binary_location = shutil.which("chromium")
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
driver.set_page_load_timeout(30)
try:
    driver.get(srv.url + "/")
    expect(driver.title == "veritas chat", f"title: {driver.title}")
    box = driver.find_element(By.ID, "input")
    box.send_keys("What is 3 + 4?")
    driver.find_element(By.ID, "send").click()
    wait = WebDriverWait(driver, 60)
    # The answer streams into the DOM; seen while still streaming or once done.
    first = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant .content") and
                       d.find_element(By.CSS_SELECTOR, ".msg.assistant .content").text)
    expect(bool(first), "some streamed text appeared")
    done = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.done"))[0]
    answer = done.find_element(By.CLASS_NAME, "content").text
    badges = [b.text for b in done.find_elements(By.CLASS_NAME, "badge")]
    print("answer:", repr(answer), "badges:", badges)
    expect(len(answer) > 0, "the answer is shown")
    expect(not done.find_elements(By.CLASS_NAME, "error"), "no error shown")
    expect(any(b.startswith("confidence ") for b in badges), f"confidence badge: {badges}")
    expect(any(b in ("verified", "abstained") or b.startswith("refuted") for b in badges),
           f"verified/refuted/abstained badge for an arithmetic question: {badges}")
    # The conversation is kept in the browser: after a reload both turns are back.
    driver.refresh()
    msgs = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".msg"))
    expect(len(msgs) == 2 and msgs[1].find_element(By.CLASS_NAME, "content").text == answer,
           f"conversation restored after reload: {len(msgs)} messages")
    # No external assets: every request the page made went to this server.
    import json
    urls = set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.add(msg["params"]["request"]["url"])
    outside = [u for u in urls if not u.startswith(srv.url) and not u.startswith("data:")]
    expect(urls and not outside, f"requests outside the server: {outside}")
finally:
    driver.quit()
    srv.stop()

finish("serve_browser")
