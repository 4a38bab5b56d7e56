"""The operator console in a real browser: sign-in, CSRF, roles, sign-out, the Admin view, throttling.

The throttling test runs last: it locks out the test client's address (127.0.0.1) for
the rest of the run, as it should.
"""

import json
import os
import urllib.request

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 15


def wait(driver):
    # While a page is replaced, Chromium may answer a lookup with "node does not belong to
    # the document" (a WebDriverException): the wait asks again; a condition that never
    # holds still times out.
    return WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,))


def gone(element):
    """A wait condition: `element` left the document (the page moved on). Chromium may
    report a node of a page being replaced with an inspector error rather than a stale
    element; both mean it is gone."""

    def check(_driver):
        try:
            element.is_enabled()
            return False
        except WebDriverException:  # StaleElementReferenceException is one
            return True

    return check


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
    wait(driver).until(gone(form))


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


def api_get(base_url, path):
    """GET an API route with the API key (not a console session): its JSON body."""
    request = urllib.request.Request(f"{base_url}{path}", headers={"X-Api-Key": os.environ["API_KEY"]})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return json.load(response)


def test_an_admin_sees_the_admin_sections_and_switches_email_priority_by_clicking(
    browser, base_url, account, screenshots
):
    sign_in(browser, base_url, *account("admin"))
    browser.find_element(By.LINK_TEXT, "Admin").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Admin"))
    sections = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "main h2")]
    whatsapp = browser.find_element(By.CSS_SELECTOR, "[data-testid=whatsapp-status]").text
    before = api_get(base_url, "/api/v1/channels/email/priority")["enabled"]
    for width in (1280, 390):
        shoot(browser, screenshots, "console-admin", width)
    browser.set_window_size(1280, 900)

    toggle = browser.find_element(By.CSS_SELECTOR, "[data-testid=email-priority-toggle]")
    toggle.send_keys(Keys.ENTER)  # by keyboard: the button has the focus, Enter submits
    wait(browser).until(gone(toggle))
    flash = wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[role=status]"))).text
    after = api_get(base_url, "/api/v1/channels/email/priority")["enabled"]
    state = browser.find_element(By.CSS_SELECTOR, "[data-testid=email-priority-state]").text
    # And back, by clicking, so the run leaves the switch as it found it.
    browser.find_element(By.CSS_SELECTOR, "[data-testid=email-priority-toggle]").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[role=status]"), "Email priority is"))

    assert sections == ["Health", "Email priority", "Dead jobs", "Quarantined webhooks", "Deliveries"]
    assert whatsapp.startswith("Sandbox")
    assert after is (not before)
    assert flash.startswith(f"Email priority is {'on' if after else 'off'}"), flash
    assert state.startswith(f"Email priority is {'on' if after else 'off'}"), state
    assert browser.current_url.startswith(f"{base_url}/console/admin?done=email-priority-")
    assert api_get(base_url, "/api/v1/channels/email/priority")["enabled"] is before


def test_an_operator_without_the_admin_role_cannot_requeue_or_replay(browser, base_url, account):
    sign_in(browser, base_url, *account("operator"))
    token = browser.find_element(By.CSS_SELECTOR, "form[action='/console/sign-out'] input[name=csrf]")
    token = token.get_attribute("value")
    before = api_get(base_url, "/api/v1/channels/email/priority")["enabled"]
    buttons_in_inbox = browser.find_elements(By.CSS_SELECTOR, "form[action^='/console/admin']")
    browser.get(f"{base_url}/console/admin")
    refused = heading(browser)
    buttons_on_refusal = browser.find_elements(By.CSS_SELECTOR, "form[action^='/console/admin']")

    # Forged from the page, with the session's own valid CSRF token: the role decides.
    browser.get(f"{base_url}/console")
    requeue = status_of(browser, "POST", "/console/admin/jobs/1/requeue", {"csrf": token})
    replay = status_of(browser, "POST", "/console/admin/events/evt-1/replay", {"csrf": token})
    priority = status_of(browser, "POST", "/console/admin/email-priority", {"csrf": token, "enabled": "on"})

    assert buttons_in_inbox == [] and buttons_on_refusal == []
    assert refused == "Not allowed"
    assert (requeue, replay, priority) == (403, 403, 403)
    assert api_get(base_url, "/api/v1/channels/email/priority")["enabled"] is before, "nothing was changed"
