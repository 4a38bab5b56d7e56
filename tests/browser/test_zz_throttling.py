"""Throttling in a real browser. Runs last (the file sorts last): it locks the test
client's address (127.0.0.1) out for the rest of the run, as it should."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from test_console import heading, open_sign_in, submit_sign_in, wait, shoot, sign_in, status_of  # noqa: F401


def test_zz_a_wrong_password_is_refused_and_after_five_failures_even_the_right_one_is_throttled(
    browser, base_url, account, screenshots
):
    name, password = account("throttled")
    open_sign_in(browser, base_url)

    refusals = []
    for _ in range(5):
        submit_sign_in(browser, name, "not the password at all")
        refusals.append(browser.find_element(By.ID, "sign-in-error").text)
    submit_sign_in(browser, name, password)
    throttled = browser.find_element(By.ID, "sign-in-error").text
    shoot(browser, screenshots, "console-sign-in-throttled", 1280)

    assert refusals == ["That name and password do not match an operator."] * 5
    assert throttled.startswith("Too many attempts, try again in "), throttled
    assert browser.find_element(By.ID, "name").get_attribute("value") == name
    browser.get(f"{base_url}/console")
    wait(browser).until(EC.url_contains("/console/sign-in"))
