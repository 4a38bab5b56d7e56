"""People in the loop, in a real browser: a user's "can I talk to a person?" appears in
the inbox without a reload; the operator takes the conversation over, answers, sees the
reply's ticks arrive, and hands it back, with the keyboard alone (Tab, Enter, typing);
the bot answers the user's next message. At a phone's width (390 px) neither the inbox
nor the conversation scrolls sideways.

The user side is played by signed webhooks posted to the service (as Meta would), and
what the user receives is read from the sandbox outbox with the API key.
"""

import hashlib
import hmac
import json
import os
import time
import urllib.request

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from test_console import shoot, sign_in

WAIT = 20
USER = "447700900777"


def wait(driver):
    # See test_console.wait: a lookup during a page change is asked again.
    return WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,))


def press(driver, *keys):
    ActionChains(driver).send_keys(*keys).perform()


def tab_to(driver, matches, what, limit=60):
    """Presses Tab until the focused element `matches`: reachable by keyboard, in order."""
    for _ in range(limit):
        press(driver, Keys.TAB)
        focused = driver.switch_to.active_element
        try:
            if matches(focused):
                return focused
        except WebDriverException:  # replaced by a live refresh meanwhile: tab on
            continue
    raise AssertionError(f"{limit} presses of Tab never reached {what}")


def labelled(text):
    """A `tab_to` condition: the focused element reads `text`."""
    return lambda element: element.text.strip() == text


def assert_fits_a_phone(driver, what):
    """At the current width, the page does not scroll sideways."""
    scroll, client = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"{what} is {scroll} px wide in a {client} px window: it scrolls sideways"


def post_webhook(base_url, wamid, text):
    """One signed text message from USER, as Meta would post it."""
    body = json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "210987654321098", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": os.environ["PHONE_NUMBER_ID"]},
            "contacts": [{"profile": {"name": "Bea Browser"}, "wa_id": USER}],
            "messages": [{"from": USER, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}],
        }}]}],
    }).encode()
    signature = "sha256=" + hmac.new(os.environ["APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{base_url}/webhook/whatsapp",
        data=body,
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def outbox(base_url):
    """The texts the sandbox sent to USER, oldest first."""
    request = urllib.request.Request(f"{base_url}/sandbox/outbox?limit=1000", headers={"x-api-key": os.environ["API_KEY"]})
    with urllib.request.urlopen(request, timeout=10) as response:
        messages = json.load(response)["messages"]
    return [m["message"]["content"].get("body", "") for m in messages if m["message"]["to"].get("phone") == f"+{USER}"
            or USER in json.dumps(m["message"]["to"])]


def wait_for_outbox(base_url, count):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        texts = outbox(base_url)
        if len(texts) >= count:
            return texts
        time.sleep(0.2)
    raise AssertionError(f"the user got {outbox(base_url)}, expected {count} messages")


def test_a_user_who_asks_for_a_person_is_answered_by_an_operator_using_the_keyboard_alone_and_then_by_the_bot(
    browser, base_url, account, screenshots
):
    name, password = account("operator")
    sign_in(browser, base_url, name, password)
    # Marks this page: if the inbox reloaded, the mark would be gone.
    browser.execute_script("document.body.dataset.notReloaded = 'yes'")
    wait(browser).until(lambda d: d.execute_script("return document.documentElement.dataset.live") == "on")

    post_webhook(base_url, "wamid.BROWSER1", "can I talk to a person?")
    row = wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr.waiting a")))
    assert "Bea Browser" in row.text and "7700900777" not in row.text, row.text
    assert browser.execute_script("return document.body.dataset.notReloaded") == "yes", "the inbox was reloaded"
    assert wait_for_outbox(base_url, 1)[0].startswith("I'm passing this conversation to a person")
    shoot(browser, screenshots, "console-inbox-waiting", 1280)
    shoot(browser, screenshots, "console-inbox-waiting", 390)
    assert_fits_a_phone(browser, "the inbox with a conversation")
    browser.set_window_size(1280, 900)

    # From here on, the keyboard alone: Tab to a control, Enter, typing.
    tab_to(browser, lambda e: e.tag_name == "a" and "Bea Browser" in e.text, "the waiting conversation")
    press(browser, Keys.ENTER)
    wait(browser).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Bea Browser"))
    tab_to(browser, labelled("Take over"), "Take over")
    press(browser, Keys.ENTER)
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), "You handle this conversation"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=operator]").text == name

    tab_to(browser, lambda e: e.get_attribute("id") == "reply-text", "the reply box")
    press(browser, "Hi Bea, Olga here. How can I help?")
    tab_to(browser, labelled("Send"), "Send")
    press(browser, Keys.ENTER)
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), "Your reply is on its way"))
    assert wait_for_outbox(base_url, 2)[1] == "Hi Bea, Olga here. How can I help?"
    # The sandbox reports sent, delivered and read, as Meta would; the ticks follow live.
    tick = wait(browser).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "li.message.outbound:last-child .tick[data-state=read]"))
    )
    assert tick.get_attribute("aria-label") == "Read"
    shoot(browser, screenshots, "console-conversation", 1280)
    shoot(browser, screenshots, "console-conversation", 390)
    assert_fits_a_phone(browser, "the conversation")
    browser.set_window_size(1280, 900)

    tab_to(browser, lambda e: e.get_attribute("id") == "note", "the note for the agent")
    press(browser, "Bea's address is updated", Keys.ENTER)
    wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), "The bot answers"))
    post_webhook(base_url, "wamid.BROWSER2", "hi")
    texts = wait_for_outbox(base_url, 3)
    assert texts[2].startswith("Hello"), texts
    history = browser.find_element(By.CSS_SELECTOR, "ol.history").text
    for step in ("called people", "took the conversation over", "answered", "handed it back to the bot"):
        assert step in history, history
