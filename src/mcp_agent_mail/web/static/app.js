// Agent Mail web UI: live inbox updates and keyboard shortcuts. Loaded with `defer`; no inline script anywhere.
(function () {
  "use strict";

  var POLL_MS = 10000;

  function isTyping(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  // --- Keyboard shortcuts on lists marked data-keyboard-list: j/k move, Enter opens, / focuses search.
  function rows(list) {
    return Array.prototype.slice.call(list.querySelectorAll("tbody tr[data-href]"));
  }

  function select(list, index) {
    var all = rows(list);
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row) { row.classList.remove("selected"); row.removeAttribute("aria-selected"); });
    var row = all[index];
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    var link = row.querySelector("a");
    if (link) link.focus();
    list.dataset.selected = String(index);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    var list = document.querySelector("[data-keyboard-list]");
    if (!list) return;
    var current = parseInt(list.dataset.selected || "-1", 10);
    if (event.key === "j") { event.preventDefault(); select(list, current + 1); }
    else if (event.key === "k") { event.preventDefault(); select(list, current < 0 ? 0 : current - 1); }
    else if (event.key === "Enter" && current >= 0) {
      var row = rows(list)[current];
      if (row && document.activeElement === document.body) { window.location.href = row.dataset.href; }
    }
  });

  // --- Live inbox: poll the JSON endpoint for messages newer than the newest row and insert them on top.
  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function rowFor(item) {
    var tr = document.createElement("tr");
    tr.dataset.id = String(item.id);
    tr.dataset.href = item.url;
    tr.className = "new-row" + (item.unread_count > 0 ? " unread" : "");
    var subject = cell("", "subject");
    var link = document.createElement("a");
    link.href = item.url;
    link.textContent = item.subject;
    subject.appendChild(link);
    if (item.importance === "high" || item.importance === "urgent") {
      var badge = document.createElement("span");
      badge.className = "badge " + item.importance;
      badge.textContent = item.importance;
      subject.appendChild(document.createTextNode(" "));
      subject.appendChild(badge);
    }
    tr.appendChild(subject);
    tr.appendChild(cell(item.sender));
    tr.appendChild(cell(item.project, "optional"));
    tr.appendChild(cell(item.recipients_text, "optional"));
    var when = cell("");
    var time = document.createElement("time");
    time.dateTime = item.created_ts;
    time.title = item.created_exact;
    time.textContent = "just now";
    when.appendChild(time);
    tr.appendChild(when);
    return tr;
  }

  function startLive(table) {
    var endpoint = table.dataset.liveUrl;
    var status = document.querySelector("[data-live-status]");
    var timer = null;
    var busy = false;

    function newest() {
      var first = table.querySelector("tbody tr[data-id]");
      return first ? first.dataset.id : table.dataset.after || "0";
    }

    function poll() {
      if (busy || document.hidden) return;
      busy = true;
      var url = endpoint + (endpoint.indexOf("?") >= 0 ? "&" : "?") + "after=" + encodeURIComponent(newest());
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
        .then(function (data) {
          var body = table.querySelector("tbody");
          var items = (data.messages || []).slice().reverse();
          items.forEach(function (item) {
            if (!body.querySelector('tr[data-id="' + item.id + '"]')) body.insertBefore(rowFor(item), body.firstChild);
          });
          var empty = document.querySelector("[data-empty-inbox]");
          if (empty && items.length) empty.hidden = true;
          if (status) status.textContent = items.length ? items.length + " new message(s)" : "Up to date";
        })
        .catch(function () { if (status) status.textContent = "Live updates paused (server unreachable)"; })
        .then(function () { busy = false; });
    }

    function schedule() {
      if (timer) window.clearInterval(timer);
      timer = document.hidden ? null : window.setInterval(poll, POLL_MS);
    }

    document.addEventListener("visibilitychange", function () { schedule(); if (!document.hidden) poll(); });
    schedule();
  }

  // --- "Select all" checkbox for mark-read forms.
  function startSelectAll(box) {
    box.addEventListener("change", function () {
      var form = box.form;
      if (!form) return;
      Array.prototype.forEach.call(form.querySelectorAll('input[name="message_ids"]'), function (input) {
        input.checked = box.checked;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.querySelector("table[data-live-url]");
    if (live && window.fetch) startLive(live);
    Array.prototype.forEach.call(document.querySelectorAll("[data-select-all]"), startSelectAll);
  });
})();
