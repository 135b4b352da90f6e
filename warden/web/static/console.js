// The triage console's only script: the live incidents list, whole rows clickable, times
// in the viewer's time zone, and the raw-alert gate on Approve. Served by Warden itself;
// no libraries.
"use strict";

(function () {
  // Times arrive in UTC (the text and the title); show them in the viewer's time zone and
  // keep the UTC time as the tooltip.
  const localFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", timeZoneName: "short",
  });
  function localiseTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      const at = new Date(el.dateTime);
      if (!isNaN(at.getTime())) el.textContent = localFormat.format(at);
    });
  }

  // A click anywhere on a row opens its incident, as its title link does (the link stays
  // the keyboard's and the screen reader's way in). Clicks on links, buttons or while
  // selecting text are left alone.
  function clickableRows() {
    const body = document.querySelector("table.incidents tbody");
    if (!body) return;
    body.addEventListener("click", function (event) {
      const row = event.target.closest("tr[data-href]");
      if (!row || event.target.closest("a, button, input, select, textarea")) return;
      if (String(window.getSelection() || "") !== "") return;
      if (event.ctrlKey || event.metaKey) window.open(row.dataset.href);
      else window.location.assign(row.dataset.href);
    });
  }

  // Incidents list: replace the table body with fresh rows every few seconds, without a
  // reload. Skips while the tab is hidden; keeps keyboard focus on the same link.
  function liveList() {
    const table = document.querySelector("table[data-live-src]");
    if (!table) return;
    const body = table.tBodies[0];
    const status = document.getElementById("live-status");
    const count = document.getElementById("incident-count");
    const every = Math.max(1, Number(table.dataset.liveEvery || "3")) * 1000;
    let last = body.innerHTML;
    let busy = false;

    async function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(table.dataset.liveSrc, {
          credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" },
        });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const html = await response.text();
        if (html !== last) {
          const focused = document.activeElement;
          const href = focused && body.contains(focused) ? focused.getAttribute("href") : null;
          body.innerHTML = html;
          last = html;
          localiseTimes(body);
          if (href) {
            const again = body.querySelector('a[href="' + CSS.escape(href) + '"]');
            if (again) again.focus();
          }
        }
        const shown = body.querySelectorAll("tr[data-testid='incident-row']").length;
        const total = response.headers.get("X-Incidents-Total");
        if (count && total !== null) count.textContent = "Showing " + shown + " of " + total;
        if (status) status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      } catch (err) {
        if (status) status.textContent = "Live updates paused: Warden did not answer (" + err.message + "); retrying.";
      } finally {
        busy = false;
      }
    }

    setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  // Against automation bias: Approve stays disabled until the raw alerts were opened and
  // scrolled to their end. Content too short to scroll counts as read once opened.
  function rawGate() {
    const raw = document.getElementById("raw");
    const scroller = document.getElementById("raw-scroll");
    const approve = document.querySelector("[data-testid='approve-button']");
    const why = document.getElementById("approve-why");
    const reviewed = document.getElementById("raw-reviewed");
    if (!raw || !scroller || !approve) return;

    function atEnd() {
      return scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2;
    }
    function check() {
      if (!raw.open || !atEnd()) {
        if (raw.open && why) {
          why.textContent = "Approve stays disabled until you scroll the raw alert payloads to the end.";
        }
        return;
      }
      approve.disabled = false;
      if (reviewed) reviewed.value = "1";
      if (why) why.textContent = "You opened the raw alert payloads and read them to the end: Approve is enabled.";
      raw.removeEventListener("toggle", check);
      scroller.removeEventListener("scroll", check);
    }
    raw.addEventListener("toggle", check);
    scroller.addEventListener("scroll", check, { passive: true });
    check();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    clickableRows();
    liveList();
    rawGate();
  });
})();
