"""Fixtures for the console's browser tests: a fresh headless Chromium per test, driven
by Debian's chromedriver, against the service that tests/browser.rs started.

Environment (set by tests/browser.rs):
  SWITCHBOARD_URL        the service's base URL
  OPERATOR_NAME/_PASSWORD  an operator with the `operator` role
  ADMIN_NAME/_PASSWORD     an operator with the `admin` role
  THROTTLED_NAME/_PASSWORD an operator the throttling test locks out
  SCREENSHOTS_DIR        where screenshots go
  API_KEY                the service's API key (to check a console action through the API)
"""

import os
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@pytest.fixture
def base_url():
    return os.environ["SWITCHBOARD_URL"].rstrip("/")


@pytest.fixture
def screenshots():
    path = os.environ.get("SCREENSHOTS_DIR", "target/screenshots")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def account():
    """(name, password) of an account by role."""

    def of(kind):
        prefix = {"operator": "OPERATOR", "admin": "ADMIN", "throttled": "THROTTLED"}[kind]
        return os.environ[f"{prefix}_NAME"], os.environ[f"{prefix}_PASSWORD"]

    return of


@pytest.fixture
def browser():
    with tempfile.TemporaryDirectory(prefix="switchboard-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()
