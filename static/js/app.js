// Small behaviours htmx attributes cannot express. No inline script anywhere (CSP).
(function () {
  "use strict";

  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");

  // Polls only run while the tab is visible; a tab that comes back polls at once.
  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (document.hidden && elt.hasAttribute("data-poll") && evt.detail.requestConfig &&
        evt.detail.requestConfig.triggeringEvent && evt.detail.requestConfig.triggeringEvent.type !== "unread-changed") {
      evt.preventDefault();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) return;
    document.querySelectorAll("[data-poll][hx-get]").forEach(function (elt) {
      htmx.trigger(elt, "poll-now");
    });
  });

  // A badge poll whose token had expired was answered through the session, with a new
  // token: the next polls send that one (base.html, #badge-token).
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail.xhr;
    var token = xhr && xhr.getResponseHeader("X-Badge-Token");
    var holder = document.getElementById("badge-token");
    if (token && holder) holder.setAttribute("hx-headers", JSON.stringify({ "X-Badge-Token": token }));
  });

  // The unread count: page title and a polite announcement when it changes.
  function showUnread(badge) {
    if (!badge) return;
    var count = parseInt(badge.getAttribute("data-unread-count") || "0", 10);
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
    var live = document.getElementById("live-status");
    var previous = parseInt(document.body.getAttribute("data-unread-count") || "-1", 10);
    if (live && previous >= 0 && previous !== count) {
      live.textContent = count === 0 ? "No unread messages" : count + " unread message" + (count === 1 ? "" : "s");
    }
    document.body.setAttribute("data-unread-count", String(count));
  }
  showUnread(document.getElementById("unread-badge"));

  // Rows changed in a conversation: replace the ones shown, append the new ones.
  function applyChanges(container) {
    var list = document.getElementById("message-items");
    if (!list) return;
    Array.prototype.slice.call(container.children).forEach(function (row) {
      var existing = row.id && list.querySelector("#" + CSS.escape(row.id));
      if (existing) {
        // Being edited (the form took the message's id), or its Edit form on the way: keep it.
        if (existing.matches("form") || existing.querySelector(":scope > .actions .htmx-request")) return;
        keepParts(existing, row);
        existing.replaceWith(row);
        syncThreadCopies(row);
        syncToggle(row.querySelector(".thread-toggle"));
      } else if (!existing) {
        list.appendChild(row);
        if (row.matches(".message.theirs")) announce("New message from " + (row.getAttribute("data-sender") || "your contact"));
        if (row.hasAttribute("data-parent")) refreshThreadsShowing(row.getAttribute("data-parent"));
      }
      htmx.process(row);
    });
    container.remove();
  }

  // A message shown twice, in the list and in an open thread, reads the same in both once
  // it is edited (here or, by the poll, by the other person): its text and its "(edited)".
  function syncThreadCopies(article) {
    var id = article.id.replace(/^message-/, "");
    var body = article.querySelector(":scope > .message-body");
    var edited = article.querySelector(":scope > .actions [aria-label^='Edited']");
    if (!body) return;
    document.querySelectorAll('[data-node-of="' + CSS.escape(id) + '"]').forEach(function (node) {
      var nodeBody = node.querySelector(":scope > .message-body");
      if (nodeBody && nodeBody.innerHTML !== body.innerHTML) nodeBody.innerHTML = body.innerHTML;
      var meta = node.querySelector(":scope > .node-meta");
      if (edited && meta && !meta.querySelector("[aria-label^='Edited']")) {
        var mark = edited.cloneNode(true);
        meta.appendChild(mark);
        htmx.process(mark);
      }
    });
  }

  // A refreshed message keeps its thread as the reader left it (open or closed) and its
  // reply form (typed text included). The elements themselves move over, so a Reply or a
  // thread fetched while the poll ran still lands in the page.
  function keepParts(existing, row) {
    [":scope > .thread", ":scope > .reply-slot"].forEach(function (selector) {
      var old = existing.querySelector(selector);
      var fresh = row.querySelector(selector);
      if (old && fresh) fresh.replaceWith(old);
    });
  }

  // A reply that arrived by the poll (our own are added in place when sent): every thread
  // loaded on the page that shows the message it answers is fetched again, open or closed,
  // unless a reply is being written in it (that reply will add itself).
  function refreshThreadsShowing(parentId) {
    document.querySelectorAll(".replies-to-" + CSS.escape(parentId)).forEach(function (group) {
      var thread = group.closest(".thread[data-loaded]");
      var toggle = thread && !thread.querySelector("form, .htmx-request") && document.querySelector('[aria-controls="' + thread.id + '"]');
      if (toggle) htmx.ajax("GET", toggle.getAttribute("hx-get"), { source: toggle, target: thread });
    });
  }

  // A toggle drawn by the server (a new reply count) says whether its thread is open.
  function syncToggle(toggle) {
    var thread = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (thread && thread.getAttribute("data-loaded") === "true") {
      toggle.setAttribute("aria-expanded", thread.hidden ? "false" : "true");
    }
  }

  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) live.textContent = text;
  }

  htmx.onLoad(function (elt) {
    if (!(elt instanceof Element)) return;
    if (elt.id === "unread-badge") showUnread(elt);
    if (elt.matches("article.message")) syncThreadCopies(elt);  // saved by an inline edit
    var changes = elt.matches(".message-changes") ? [elt] : elt.querySelectorAll(".message-changes");
    Array.prototype.forEach.call(changes, applyChanges);
    var toggles = elt.matches(".thread-toggle") ? [elt] : elt.querySelectorAll(".thread-toggle");
    Array.prototype.forEach.call(toggles, syncToggle);
    var autofocus = elt.querySelector && elt.querySelector("[data-autofocus]");
    if (autofocus) autofocus.focus();
  });

  document.body.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    // The history drawer opens once its content is in.
    if (target && target.id === "history-drawer-body") {
      bootstrap.Offcanvas.getOrCreateInstance(document.getElementById("history-drawer")).show();
    }
    // A thread loaded in place: later clicks only show or hide it. The first load opens
    // it; a refresh (refreshThreadsShowing) leaves it as it was.
    if (target && target.classList.contains("thread")) {
      if (target.getAttribute("data-loaded") !== "true") target.hidden = false;
      target.setAttribute("data-loaded", "true");
      syncToggle(document.querySelector('[aria-controls="' + target.id + '"]'));
    }
  });

  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest(".thread-toggle");
    if (toggle) {
      var thread = document.getElementById(toggle.getAttribute("aria-controls"));
      if (thread && thread.getAttribute("data-loaded") === "true") {
        evt.preventDefault();
        evt.stopPropagation();
        thread.hidden = !thread.hidden;
        toggle.setAttribute("aria-expanded", thread.hidden ? "false" : "true");
      }
      return;
    }
    // Cancel of an inline reply: close the form where it is (its href is for no-JS pages).
    var cancel = evt.target.closest(".reply-slot [data-clear-slot]");
    if (cancel) {
      evt.preventDefault();
      var slot = cancel.closest(".reply-slot");
      var opener = slot.parentElement.querySelector('[hx-target="next .reply-slot"]');
      slot.innerHTML = "";
      if (opener) opener.focus();
      return;
    }
    var pick = evt.target.closest("[data-pick-username]");
    if (pick) {
      var field = document.getElementById("id_to");
      field.value = pick.getAttribute("data-pick-username");
      var results = document.getElementById("user-results");
      if (results) results.innerHTML = "";
      var content = document.getElementById("id_content");
      if (content) content.focus();
    }
  }, true);

  // Escape cancels an inline edit or reply (the Cancel link swaps the message back).
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    var form = evt.target.closest && evt.target.closest("form[data-cancel-on-escape]");
    if (!form) return;
    var cancel = form.querySelector("[data-cancel]");
    if (cancel) { evt.preventDefault(); cancel.click(); }
  });

  // Enter sends, Shift+Enter starts a new line (as in every chat app).
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter" || evt.shiftKey || evt.isComposing) return;
    var box = evt.target;
    if (!box.matches || !box.matches("textarea[data-enter-sends]")) return;
    evt.preventDefault();
    if (box.value.trim() && box.form) box.form.requestSubmit();
  });

  // After sending in a conversation, keep the newest message in view.
  document.body.addEventListener("message-sent", function () {
    var list = document.getElementById("message-items");
    if (list && list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "nearest" });
  });
})();
