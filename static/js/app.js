/* The pages' behaviour, without inline scripts (the Content-Security-Policy allows none):
   browser time zone for the profile's default, queue counts in the menu, the folding menu and
   filters on small screens, select-all, confirmations, keyboard shortcuts and their help. */
(function () {
  "use strict";

  var doc = document;
  doc.documentElement.classList.add("js");

  function ready(fn) {
    if (doc.readyState !== "loading") { fn(); } else { doc.addEventListener("DOMContentLoaded", fn); }
  }

  function typing(target) {
    if (!target) { return false; }
    var tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  /* The browser's time zone: the default when the profile names none. */
  function rememberTimeZone() {
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && doc.cookie.indexOf("bo_tz=" + encodeURIComponent(zone)) === -1) {
        doc.cookie = "bo_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
      }
    } catch (e) { /* very old browsers: UTC */ }
  }

  function loadCounts() {
    var url = doc.body.getAttribute("data-counts-url");
    if (!url || !window.fetch) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (counts) {
        Object.keys(counts).forEach(function (name) {
          doc.querySelectorAll('[data-count="' + name + '"]').forEach(function (el) {
            el.textContent = counts[name];
            el.setAttribute("aria-label", counts[name] + " cases");
          });
        });
      })
      .catch(function () { /* counts are a convenience: the menu works without them */ });
  }

  function menuToggle() {
    var button = doc.querySelector(".menu-toggle");
    var nav = doc.getElementById("mainnav");
    if (!button || !nav) { return; }
    button.addEventListener("click", function () {
      var open = nav.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  function foldFilters() {
    if (window.matchMedia && window.matchMedia("(max-width: 700px)").matches) {
      doc.querySelectorAll("details.filters-fold[data-fold-small]").forEach(function (el) {
        if (!el.hasAttribute("data-has-filters")) { el.open = false; }
      });
    }
  }

  /* Cards on small screens: each cell carries its column's name. */
  function labelCells(root) {
    (root || doc).querySelectorAll("table").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return (th.getAttribute("data-label") || th.textContent || "").trim();
      });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, index) {
          if (!cell.hasAttribute("data-label") && heads[index]) { cell.setAttribute("data-label", heads[index]); }
        });
      });
    });
  }

  /* Select-all in a table header selects every row of that table. */
  function selectAll(root) {
    (root || doc).querySelectorAll("table").forEach(function (table) {
      var all = table.querySelector("thead input[type=checkbox]");
      if (!all || all.dataset.bound) { return; }
      all.dataset.bound = "1";
      var rows = function () { return table.querySelectorAll("tbody input[type=checkbox][name=ids]"); };
      var sync = function () {
        var boxes = rows(), checked = 0;
        boxes.forEach(function (box) { if (box.checked) { checked += 1; } });
        all.checked = boxes.length > 0 && checked === boxes.length;
        all.indeterminate = checked > 0 && checked < boxes.length;
      };
      all.addEventListener("change", function () {
        rows().forEach(function (box) { box.checked = all.checked; });
        all.indeterminate = false;
      });
      table.addEventListener("change", function (event) {
        if (event.target !== all && event.target.name === "ids") { sync(); }
      });
      sync();
    });
  }

  /* <form data-confirm="…"> and <button data-confirm="…"> ask before submitting. */
  function confirmations() {
    doc.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (message && submitter && submitter.hasAttribute("data-confirm-count")) {
        var count = form.querySelectorAll("input[name=ids]:checked").length;
        message = message.replace("{count}", String(count));
      }
      if (message && !window.confirm(message)) { event.preventDefault(); }
    }, true);
  }

  /* Filter forms send only the filters that are set: a clean URL to bookmark and share. */
  function cleanFilterUrls() {
    doc.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("form[data-clean-url]")) { return; }
      form.querySelectorAll("input, select").forEach(function (field) {
        if (field.name && !field.disabled && field.value === "" && field.type !== "checkbox") {
          field.disabled = true;
          window.setTimeout(function () { field.disabled = false; }, 0);
        }
      });
    });
  }

  /* Keyboard: / search, j/k rows, Enter/o open, x select, c claim, ? help. */
  function shortcuts() {
    var help = doc.getElementById("help");
    doc.querySelectorAll("[data-help-open]").forEach(function (button) {
      button.addEventListener("click", function () { if (help && help.showModal) { help.showModal(); } });
    });
    var current = -1;
    var rows = function () { return doc.querySelectorAll("#queue-table tbody tr[data-row]"); };
    var move = function (delta) {
      var list = rows();
      if (!list.length) { return; }
      if (current >= 0 && list[current]) { list[current].classList.remove("row-current"); }
      current = Math.max(0, Math.min(list.length - 1, current + delta));
      var row = list[current];
      row.classList.add("row-current");
      var link = row.querySelector("a");
      if (link) { link.focus({ preventScroll: true }); }
      row.scrollIntoView({ block: "nearest" });
    };
    doc.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      var list = rows();
      var row = current >= 0 ? list[current] : null;
      switch (event.key) {
        case "/": {
          var search = doc.getElementById("global-search");
          if (search) { event.preventDefault(); search.focus(); search.select(); }
          break;
        }
        case "?":
          if (help && help.showModal) { event.preventDefault(); help.showModal(); }
          break;
        case "j": event.preventDefault(); move(1); break;
        case "k": event.preventDefault(); move(-1); break;
        case "o": case "Enter":
          /* j/k focus the row's link: Enter then follows it natively, o opens it from anywhere. */
          if (row && (event.key === "o" || event.target === doc.body)) {
            var link = row.querySelector("a");
            if (link) { event.preventDefault(); link.click(); }
          }
          break;
        case "x":
          if (row) {
            var box = row.querySelector("input[name=ids]");
            if (box) { event.preventDefault(); box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); }
          }
          break;
        case "c":
          if (row) {
            var form = doc.querySelector("form.bulk");
            var claim = form && form.querySelector("button[value=claim]");
            var mine = row.querySelector("input[name=ids]");
            if (form && claim && mine) {
              event.preventDefault();
              form.querySelectorAll("input[name=ids]").forEach(function (b) { b.checked = b === mine; });
              if (form.requestSubmit) { form.requestSubmit(claim); } else { claim.click(); }
            }
          }
          break;
        default:
      }
    });
    doc.body.addEventListener("htmx:afterSwap", function () { current = -1; });
  }

  function csrfForHtmx() {
    doc.body.addEventListener("htmx:configRequest", function (event) {
      var token = doc.body.getAttribute("data-csrf");
      if (token) { event.detail.headers["X-CSRFToken"] = token; }
    });
  }

  function init(root) {
    labelCells(root);
    selectAll(root);
  }

  ready(function () {
    rememberTimeZone();
    menuToggle();
    foldFilters();
    confirmations();
    cleanFilterUrls();
    shortcuts();
    csrfForHtmx();
    init(doc);
    loadCounts();
    doc.body.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
  });
}());

/* <a data-back href="/">Go back</a>: the previous page when there is one, else the link (no inline
   javascript: URL, for the Content-Security-Policy). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-back]");
    if (el && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
