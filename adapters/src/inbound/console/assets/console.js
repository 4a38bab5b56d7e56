// Switchboard console: small progressive enhancements; every page works without them.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  // Ask before an action marked data-confirm="question".
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // One click, one request: a second click while the first is on its way does nothing.
  for (const button of form.querySelectorAll("button[type=submit]")) {
    button.disabled = true;
  }
});

// Times are rendered in UTC by the server; show them in the reader's own time zone.
function localTimes(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const when = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime()) && !time.title) {
      time.title = time.textContent;
      time.textContent = when.toLocaleString();
    }
  }
}
localTimes(document);

// Live regions (data-live="URL"): when the server says something changed
// (server-sent events from /console/events), each region fetches its fragment again.
// Without EventSource or script, the page still works: reload it.
const regions = document.querySelectorAll("[data-live]");
if (regions.length > 0 && "EventSource" in window) {
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const region of document.querySelectorAll("[data-live]")) {
        const response = await fetch(region.dataset.live, {
          credentials: "same-origin",
          headers: { accept: "text/html" },
        });
        if (response.redirected || !response.ok) continue;
        region.innerHTML = await response.text();
        localTimes(region);
        // A region's summary is read out by its persistent live element, not the whole region.
        const summary = region.querySelector("[data-summary]");
        const announce = region.dataset.announce && document.getElementById(region.dataset.announce);
        if (summary && announce) announce.textContent = summary.textContent;
        region.dataset.refreshed = String(Date.now());
      }
    } finally {
      busy = false;
    }
  };
  const events = new EventSource("/console/events");
  events.addEventListener("change", refresh);
  document.documentElement.dataset.live = "on";
}

// The closed window's template picker: the chosen template's body and fields show in
// place; the others are disabled, so only its values are sent. Without script, the
// "Show its fields" button reloads the page with the choice.
const picker = document.querySelector("[data-template-picker]");
const replyForm = document.querySelector("form.reply");
if (picker && replyForm) {
  for (const button of document.querySelectorAll("[data-script-hides]")) button.hidden = true;
  picker.addEventListener("change", () => {
    const chosen = replyForm.querySelector("[data-template-chosen]");
    if (chosen) chosen.value = picker.value;
    for (const fieldset of replyForm.querySelectorAll("fieldset[data-template]")) {
      const on = fieldset.dataset.template === picker.value;
      fieldset.hidden = !on;
      fieldset.disabled = !on;
    }
  });
}
