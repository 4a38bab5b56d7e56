"""The operator console in a real browser: sign-in, CSRF, roles, sign-out, throttling.

The throttling test runs last: it locks out the test client's address (127.0.0.1) for
the rest of the run, as it should.
"""

import os

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 15


def wait(driver):
    return WebDriverWait(driver, WAIT)


def heading(driver):
    return wait(driver).until(EC.visibility_of_element_located((By.TAG_NAME, "h1"))).text


def open_sign_in(driver, base_url):
    driver.get(f"{base_url}/console/sign-in")
    wait(driver).until(EC.element_to_be_clickable((By.ID, "name")))


def submit_sign_in(driver, name, password):
    """Fills the sign-in form and submits it; waits for the next page."""
    form = driver.find_element(By.CSS_SELECTOR, "form[action='/console/sign-in']")
    field = driver.find_element(By.ID, "name")
    field.clear()
    field.send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(EC.staleness_of(form))


def sign_in(driver, base_url, name, password):
    open_sign_in(driver, base_url)
    submit_sign_in(driver, name, password)
    wait(driver).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Inbox"))


def status_of(driver, method, path, body=None):
    """The HTTP status of a same-origin fetch from the page (the session cookie goes along)."""
    return driver.execute_async_script(
        """
        const [method, path, body, done] = arguments;
        const init = {method, credentials: "same-origin", redirect: "manual"};
        if (body !== null) {
          init.body = new URLSearchParams(body);
        }
        fetch(path, init).then((r) => done(r.status), (e) => done(String(e)));
        """,
        method,
        path,
        body,
    )


def shoot(driver, screenshots, name, width):
    driver.set_window_size(width, 900 if width > 600 else 844)
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.save_screenshot(os.path.join(screenshots, f"{name}-{width}.png"))


def test_signing_in_opens_the_inbox_with_the_operators_name_and_role(browser, base_url, account, screenshots):
    name, password = account("operator")

    browser.get(f"{base_url}/console")
    wait(browser).until(EC.url_contains("/console/sign-in"))
    for width in (1280, 390):
        shoot(browser, screenshots, "console-sign-in", width)
    browser.set_window_size(1280, 900)
    submit_sign_in(browser, name, password)

    assert heading(browser) == "Inbox"
    assert browser.current_url == f"{base_url}/console"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=operator-name]").text == name
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=operator-role]").text == "operator"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    for width in (1280, 390):
        shoot(browser, screenshots, "console-inbox", width)


def test_the_first_tab_reaches_the_skip_link_and_it_moves_focus_to_the_main_content(browser, base_url, account):
    sign_in(browser, base_url, *account("operator"))

    ActionChains(browser).send_keys(Keys.TAB).perform()
    focused = browser.switch_to.active_element

    assert focused.get_attribute("class") == "skip-link"
    assert focused.is_displayed(), "the skip link shows when it has the focus"
    focused.send_keys(Keys.ENTER)
    wait(browser).until(lambda d: d.switch_to.active_element.get_attribute("id") == "main")


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(browser, base_url, account):
    sign_in(browser, base_url, *account("operator"))

    # A forged request: the session cookie goes along, the token does not.
    forged = status_of(browser, "POST", "/console/sign-out", {"csrf": "not-the-token"})
    missing = status_of(browser, "POST", "/console/sign-out", {})
    # The page's own sign-out form, stripped of its hidden token.
    browser.execute_script("document.querySelector(\"form[action='/console/sign-out'] input[name=csrf]\").remove()")
    browser.find_element(By.CSS_SELECTOR, "form[action='/console/sign-out'] button").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Form expired"))
    code = browser.find_element(By.CSS_SELECTOR, "[data-code]").get_attribute("data-code")
    browser.get(f"{base_url}/console")

    assert forged == 403
    assert missing == 403
    assert code == "csrf_rejected"
    assert heading(browser) == "Inbox", "the session is still open: nothing was changed"


def test_the_sign_in_form_without_its_token_is_refused(browser, base_url, account):
    name, password = account("operator")
    open_sign_in(browser, base_url)

    browser.execute_script("document.querySelector('input[name=csrf]').remove()")
    submit_sign_in(browser, name, password)

    assert heading(browser) == "Form expired"
    assert browser.find_element(By.CSS_SELECTOR, "[data-code]").get_attribute("data-code") == "csrf_rejected"
    browser.get(f"{base_url}/console")
    wait(browser).until(EC.url_contains("/console/sign-in"))


def test_an_operator_without_the_admin_role_gets_403_on_an_admin_page_and_an_admin_does_not(
    browser, base_url, account
):
    sign_in(browser, base_url, *account("operator"))

    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav a")]
    status = status_of(browser, "GET", "/console/admin")
    browser.get(f"{base_url}/console/admin")
    refused = heading(browser)

    assert "Admin" not in links
    assert status == 403
    assert refused == "Not allowed"

    browser.delete_all_cookies()
    sign_in(browser, base_url, *account("admin"))
    browser.find_element(By.LINK_TEXT, "Admin").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Admin"))
    assert status_of(browser, "GET", "/console/admin") == 200


def test_after_sign_out_the_old_session_cookie_no_longer_opens_the_console(browser, base_url, account):
    sign_in(browser, base_url, *account("operator"))
    old = browser.get_cookie("switchboard_session")
    assert old is not None and old["httpOnly"] and old["sameSite"] == "Strict" and old["path"] == "/console"

    browser.find_element(By.CSS_SELECTOR, "form[action='/console/sign-out'] button").click()
    wait(browser).until(EC.url_contains("/console/sign-in"))
    assert browser.get_cookie("switchboard_session") is None
    # Put the old cookie back, as someone who copied it would.
    browser.add_cookie({"name": "switchboard_session", "value": old["value"], "path": "/console"})
    browser.get(f"{base_url}/console")

    wait(browser).until(EC.url_contains("/console/sign-in"))
    assert heading(browser) == "Sign in to Switchboard"
