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

// A selector for the element of `region` that has the focus (by id, else by link), if any.
function focusKey(region) {
  const active = document.activeElement;
  if (!active || active === region || !region.contains(active)) return null;
  if (active.id) return `#${CSS.escape(active.id)}`;
  const href = active.getAttribute("href");
  return href ? `[href="${CSS.escape(href)}"]` : null;
}

// Live regions (data-live="URL"): when the server says something changed
// (server-sent events from /console/events), each region fetches its fragment again.
// The page says which activity mark it was rendered at (data-since), so a change made
// before the stream opened is pushed at once. Without EventSource or script, the page
// still works: reload it.
// (The root element's data-live="on" is the readiness flag, not a region.)
const regions = document.querySelectorAll("[data-live]:not(html)");
if (regions.length > 0 && "EventSource" in window) {
  let busy = false;
  let again = false;
  const refresh = async () => {
    // A change while a refresh is on its way: one more refresh after it, none lost.
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        for (const region of document.querySelectorAll("[data-live]:not(html)")) {
          const response = await fetch(region.dataset.live, {
            credentials: "same-origin",
            headers: { accept: "text/html" },
          });
          if (response.redirected || !response.ok) continue;
          const focus = focusKey(region);
          region.innerHTML = await response.text();
          localTimes(region);
          // A keyboard user keeps their place: the same link or control has the focus again.
          const refocus = focus && region.querySelector(focus);
          if (refocus) refocus.focus();
          // A region's summary is read out by its persistent live element, not the whole region.
          const summary = region.querySelector("[data-summary]");
          const announce = region.dataset.announce && document.getElementById(region.dataset.announce);
          if (summary && announce) announce.textContent = summary.textContent;
          region.dataset.refreshed = String(Date.now());
        }
      } while (again);
    } finally {
      busy = false;
    }
  };
  const since = Array.from(regions, (region) => region.dataset.since).find(Boolean);
  const events = new EventSource(since ? `/console/events?since=${encodeURIComponent(since)}` : "/console/events");
  events.addEventListener("change", refresh);
  // Live once the stream is open (the browser tests wait for this), not when asked for.
  events.onopen = () => {
    document.documentElement.dataset.live = "on";
  };
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
