// Small behaviours htmx attributes cannot express. No inline script anywhere (CSP).
// The server decides what changes on a page; this file only says when to ask, and keeps
// what the reader is doing (typed text, open threads, focus) while the answers come in.
(function () {
  "use strict";

  var body = document.body;
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");

  // --- When to ask: the event stream first, polls as the safety net -------------------------
  // Elements marked data-live listen for `poll-fast` (a conversation) or `poll-slow` (the
  // badge, lists) and `live-resync` (catch up at once). While the stream is connected the
  // polls slow down to a safety net; while the tab is hidden nothing is asked at all.
  var seconds = function (name, fallback) { return parseInt(body.getAttribute(name) || fallback, 10) * 1000; };
  var fast = seconds("data-poll-fast", 4), slow = seconds("data-poll-slow", 10), safety = seconds("data-poll-safety", 60);
  var connected = false, missed = false, lastFast = Date.now(), lastSlow = Date.now();

  function resync() {
    missed = false;
    lastFast = lastSlow = Date.now();
    htmx.trigger(body, "live-resync");
  }

  // A stream that has gone quiet for longer than its heartbeat is as good as closed.
  var heartbeat = seconds("data-stream-heartbeat", 20), lastBeat = 0;

  window.setInterval(function () {
    if (document.hidden || navigator.onLine === false) return;
    var now = Date.now();
    if (connected && now - lastBeat > heartbeat * 2.5) {
      connected = false;
      resync();
    }
    if (now - lastFast >= (connected ? safety : fast)) { lastFast = now; htmx.trigger(body, "poll-fast"); }
    if (now - lastSlow >= (connected ? safety : slow)) { lastSlow = now; htmx.trigger(body, "poll-slow"); }
  }, 1000);

  var opened = false;
  body.addEventListener("htmx:sseOpen", function (evt) {
    connected = true;
    body.dataset.stream = "open";  // for people and tests who want to know
    if (opened) resync();  // back after a drop: catch up on everything since what the page shows
    opened = true;
    lastBeat = Date.now();
    var source = evt.detail.source;
    if (source && !source.dmListening) {
      source.dmListening = true;
      source.addEventListener("ping", function () {
        lastBeat = Date.now();
        if (!connected && source.readyState === EventSource.OPEN) { connected = true; }
      });
      source.addEventListener("resync", resync);
      source.addEventListener("signed-out", function () { signedOut(); source.close(); connected = false; });
    }
  });
  body.addEventListener("htmx:sseError", function () { connected = false; body.dataset.stream = "closed"; });
  body.addEventListener("htmx:sseClose", function () { connected = false; body.dataset.stream = "closed"; });

  // --- A session that ended elsewhere ---------------------------------------------------------
  // Said in words, with a sign-in link back to this page; nothing on the page is swapped away.
  function signedOut(loginUrl) {
    var banner = document.getElementById("signed-out");
    if (!banner || !banner.hidden) return;
    var link = banner.querySelector("[data-sign-in]");
    link.href = loginUrl || link.getAttribute("href") + "?next=" + encodeURIComponent(location.pathname + location.search);
    banner.hidden = false;
    announce("You were signed out.");
  }
  body.addEventListener("signed-out", function (evt) { signedOut(evt.detail && evt.detail.login); });

  // A hidden tab sends nothing (the stream stays open); it catches up when it comes back.
  body.addEventListener("htmx:beforeRequest", function (evt) {
    if (document.hidden && evt.detail.elt.hasAttribute("data-live")) {
      evt.preventDefault();
      missed = true;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && missed) resync();
  });
  // Back on the network (a blip, a laptop waking up): catch up without waiting for the stream.
  window.addEventListener("offline", function () { connected = false; });
  window.addEventListener("online", resync);

  // --- Keep what the reader is doing ----------------------------------------------------------
  // An open thread redrawing itself (a new reply, the stream, a poll) names the last reply it
  // shows: the server draws it through that one, so pieces "Show more replies" brought stay.
  body.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!elt.classList || !elt.classList.contains("thread-replies")) return;
    var nodes = elt.querySelectorAll("[data-node-of]");
    if (nodes.length) evt.detail.parameters.through = nodes[nodes.length - 1].getAttribute("data-node-of");
  });

  function holdsTypedText(elt) {
    return Array.prototype.some.call(elt.querySelectorAll ? elt.querySelectorAll("textarea") : [], function (box) {
      return box.value !== box.defaultValue;
    }) || (elt.matches && elt.matches("form"));
  }

  // An element a request from inside it is about to replace (Edit or Delete pressed): the
  // answer goes to the element it was aimed at, which must still be on the page.
  function awaitsAnswer(elt) {
    var inflight = elt.id && elt.querySelectorAll ? elt.querySelectorAll(".htmx-request") : [];
    return Array.prototype.some.call(inflight, function (link) { return link.getAttribute("hx-target") === "#" + elt.id; });
  }

  // A live redraw never takes away a form someone is using (an inline edit, a reply being
  // typed): its Save or Cancel brings the fresh version.
  body.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    var incoming = evt.detail.fragment && evt.detail.fragment.firstElementChild;
    // An appended row that is already on the page (a send and a fetch both brought it) is
    // redrawn where it is instead of appearing twice.
    if (incoming && incoming.id && target.id === "message-items") {
      var existing = document.getElementById(incoming.id);
      if (existing) {
        evt.detail.shouldSwap = false;
        if (!holdsTypedText(existing) && !awaitsAnswer(existing)) htmx.swap(existing, incoming.outerHTML, { swapStyle: "outerHTML" });
        return;
      }
    }
    if (target.matches("form") || (target.id && target.id.indexOf("message-") === 0 && target.querySelector("form"))) {
      evt.detail.shouldSwap = false;
    }
    // Nor a message whose Edit or Delete is on its way (it brings the fresh version itself).
    if (awaitsAnswer(target)) evt.detail.shouldSwap = false;
  });
  body.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    var target = evt.detail.target;
    // A reply open (or on its way) in this region: it redraws once the form closes.
    if (elt && elt.hasAttribute("data-live") && target && target.querySelector &&
        target.querySelector("form textarea, .htmx-request")) {
      evt.detail.shouldSwap = false;
    }
  });

  // --- Drafts and failed sends ---------------------------------------------------------------
  // What is typed in a message box is kept (per form and field, in this browser) until it
  // is sent: a failed send, a signed-out session, a redraw or leaving the page loses nothing.
  function draftKey(box) {
    return "draft:" + (box.form ? box.form.getAttribute("action") : location.pathname) + ":" + box.name;
  }
  function store(fn) { try { return fn(window.localStorage); } catch (e) { return null; } }
  document.addEventListener("input", function (evt) {
    var box = evt.target;
    if (box.matches && box.matches("textarea[data-draft]")) {
      store(function (s) { return box.value ? s.setItem(draftKey(box), box.value) : s.removeItem(draftKey(box)); });
    }
  });
  function restoreDrafts(root) {
    var boxes = root.matches && root.matches("textarea[data-draft]") ? [root] : root.querySelectorAll("textarea[data-draft]");
    Array.prototype.forEach.call(boxes, function (box) {
      var draft = store(function (s) { return s.getItem(draftKey(box)); });
      if (draft && !box.value.trim()) { box.value = draft; }
    });
  }
  restoreDrafts(body);

  body.addEventListener("htmx:beforeRequest", function (evt) {
    var form = evt.detail.elt;
    var box = form.matches && form.matches("form") && form.querySelector("textarea[data-draft]");
    if (box) form.dataset.sending = box.value;
    var failure = form.querySelector && form.querySelector("[data-send-error]");
    if (failure) failure.remove();
  });
  body.addEventListener("htmx:beforeSwap", function (evt) {
    var form = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    var box = form && form.matches && form.matches("form") && form.querySelector("textarea[data-draft]");
    if (!box || evt.detail.xhr.status >= 300) return;
    // Sent: forget the draft (before the fresh form comes in), unless more was typed meanwhile.
    store(function (s) { if (s.getItem(draftKey(box)) === form.dataset.sending) s.removeItem(draftKey(box)); });
  });
  // A send that could not reach the server (offline) or that the server failed keeps its text
  // and says so, with a retry.
  function sendFailed(evt) {
    var form = evt.detail.elt;
    if (!(form.matches && form.matches("form"))) return;
    var failure = document.createElement("div");
    failure.className = "alert alert-danger d-flex align-items-center gap-2 py-2 mt-2";
    failure.setAttribute("role", "alert");
    failure.setAttribute("data-send-error", "");
    failure.textContent = navigator.onLine === false
      ? "Not sent: you are offline. Your text is kept."
      : "Not sent: something went wrong on our side. Your text is kept.";
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "btn btn-sm btn-outline-danger ms-auto";
    retry.textContent = "Retry";
    retry.addEventListener("click", function () { form.requestSubmit(); });
    failure.appendChild(retry);
    form.appendChild(failure);
    retry.focus();
  }
  body.addEventListener("htmx:sendError", sendFailed);
  body.addEventListener("htmx:responseError", function (evt) {
    if (evt.detail.xhr && evt.detail.xhr.status >= 500) sendFailed(evt);
  });

  // --- The unread count: page title and a polite announcement when it changes ---------------
  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) live.textContent = text;
  }

  function showUnread(badge) {
    if (!badge) return;
    var count = parseInt(badge.getAttribute("data-unread-count") || "0", 10);
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
    var previous = parseInt(body.getAttribute("data-unread-count") || "-1", 10);
    if (previous >= 0 && previous !== count) {
      announce(count === 0 ? "No unread messages" : count + " unread message" + (count === 1 ? "" : "s"));
    }
    body.setAttribute("data-unread-count", String(count));
  }
  showUnread(document.getElementById("unread-badge"));

  // A badge poll whose token had expired was answered through the session, with a new
  // token: the next polls send that one (base.html, #badge-token).
  body.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail.xhr;
    var token = xhr && xhr.getResponseHeader("X-Badge-Token");
    var holder = document.getElementById("badge-token");
    if (token && holder) holder.setAttribute("hx-headers", JSON.stringify({ "X-Badge-Token": token }));
  });

  // --- Threads opened in place -----------------------------------------------------------------
  // A toggle drawn by the server (a new reply count) says whether its thread is open.
  function syncToggle(toggle) {
    var thread = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (thread && thread.getAttribute("data-loaded") === "true") {
      toggle.setAttribute("aria-expanded", thread.hidden ? "false" : "true");
    }
  }

  htmx.onLoad(function (elt) {
    if (!(elt instanceof Element)) return;
    if (elt.id === "unread-badge") showUnread(elt);
    var toggles = elt.matches(".thread-toggle") ? [elt] : elt.querySelectorAll(".thread-toggle");
    Array.prototype.forEach.call(toggles, syncToggle);
    restoreDrafts(elt);
    prepareBoxes(elt);
  });

  body.addEventListener("htmx:oobAfterSwap", function (evt) {
    var row = evt.detail.target && evt.detail.target.id === "message-items" && evt.detail.target.lastElementChild;
    if (row && row.matches(".message.theirs") && evt.detail.fragment) {
      announce("New message from " + (row.getAttribute("data-sender") || "your contact"));
    }
  });

  body.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    // The history drawer opens once its content is in.
    if (target && target.id === "history-drawer-body") {
      bootstrap.Offcanvas.getOrCreateInstance(document.getElementById("history-drawer")).show();
    }
    // A thread loaded in place: later clicks only show or hide it. The first load opens it.
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
    var discarded = evt.target.closest("[data-cancel]");
    var draftBox = discarded && discarded.form === undefined && discarded.closest("form") &&
      discarded.closest("form").querySelector("textarea[data-draft]");
    if (draftBox) store(function (s) { s.removeItem(draftKey(draftBox)); });  // Cancel discards the draft
    var cancel = evt.target.closest(".reply-slot [data-clear-slot]");
    if (cancel) {
      evt.preventDefault();
      var slot = cancel.closest(".reply-slot");
      var opener = slot.parentElement.querySelector('a[href$="/reply/"], a[href*="/reply/?"]');
      slot.innerHTML = "";
      if (opener) opener.focus();
      htmx.trigger(body, "live-resync");  // what was held back while the form was open
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

  // The same keys in every message box: Enter or Ctrl/Cmd+Enter sends, Shift+Enter adds a line
  // (Escape cancels, above). The hint saying so shows only here, where it is true.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter" || evt.isComposing) return;
    var box = evt.target;
    if (!box.matches || !box.matches("textarea[data-enter-sends]")) return;
    if (evt.shiftKey && !(evt.ctrlKey || evt.metaKey)) return;
    evt.preventDefault();
    if (box.value.trim() && box.form) box.form.requestSubmit();
  });

  // Boxes grow with what is in them; an edit box opens sized to its text, the cursor at the end.
  function fit(box) {
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight + 2, window.innerHeight * 0.5) + "px";
  }
  document.addEventListener("input", function (evt) {
    if (evt.target.matches && evt.target.matches("textarea[data-enter-sends]")) fit(evt.target);
  });
  function prepareBoxes(root) {
    Array.prototype.forEach.call(root.querySelectorAll ? root.querySelectorAll("textarea[data-enter-sends]") : [], function (box) {
      if (box.value) fit(box);
    });
    Array.prototype.forEach.call(root.querySelectorAll ? root.querySelectorAll("[data-js-hint]") : [], function (hint) {
      hint.hidden = false;
    });
    var focused = root.querySelector && root.querySelector("textarea[data-autofocus]");
    // A box swapped in (edit, reply) takes the keyboard, cursor at the end; not on the page's first
    // load (where the conversation decides), nor when it has the keyboard already (typing keeps its selection).
    if (focused && root !== document.body && document.activeElement !== focused) {
      focused.focus({ preventScroll: true });
      focused.setSelectionRange(focused.value.length, focused.value.length);
    }
  }

  // --- A conversation: opens at the newest, brings arrivals into view only at the bottom ------
  var list = document.getElementById("message-items");
  var jump = document.getElementById("jump-to-newest");
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  }
  function toNewest(focusBox) {
    var form = document.getElementById("send-form");
    // Instant, not Bootstrap's smooth scrolling: the reader is there at once, and "at the bottom" holds.
    (form || list.lastElementChild || list).scrollIntoView({ block: "end", behavior: "instant" });
    if (jump) jump.hidden = true;
    var box = focusBox && form && form.querySelector("textarea");
    if (box) box.focus({ preventScroll: true });
  }
  if (list) {
    var opened = (!location.hash || location.hash === "#new") && document.getElementById("new");
    if (opened) opened.scrollIntoView({ block: "center", behavior: "instant" });
    else if (!location.hash || location.hash === "#send-form") toNewest(window.matchMedia("(pointer: fine)").matches);
    // A link to one message (search, unread list, notification): it, in the middle, and focused for the keyboard.
    var linked = /^#message-\d+$/.test(location.hash) && document.getElementById(location.hash.slice(1));
    if (linked) {
      linked.scrollIntoView({ block: "center", behavior: "instant" });
      linked.focus({ preventScroll: true });
    }
    var wasAtBottom = true;
    body.addEventListener("htmx:oobBeforeSwap", function (evt) {
      if (evt.detail.target === list) wasAtBottom = atBottom();
    });
    body.addEventListener("htmx:oobAfterSwap", function (evt) {
      if (evt.detail.target !== list) return;
      if (wasAtBottom) toNewest(false);
      else if (jump) jump.hidden = false;
    });
    if (jump) jump.addEventListener("click", function () { toNewest(true); });
    window.addEventListener("scroll", function () { if (jump && atBottom()) jump.hidden = true; }, { passive: true });
    body.addEventListener("message-sent", function () { toNewest(false); });
  }

  // A conversation whose other person deleted their account: said in words, draft kept.
  body.addEventListener("htmx:responseError", function (evt) {
    if (!list || evt.detail.xhr.status !== 404) return;
    var notice = document.getElementById("conversation-gone");
    if (notice) notice.hidden = false;
    var sync = document.getElementById("conversation-sync");
    if (sync) sync.removeAttribute("data-live"), sync.remove();
    var form = document.getElementById("send-form");
    if (form) Array.prototype.forEach.call(form.querySelectorAll("textarea, button"), function (e) { e.disabled = true; });
  });

  // --- The reader's time zone and fresh relative times --------------------------------------
  try {
    // The profile's zone (Settings) wins over the browser's once it is set.
    var zone = body.getAttribute("data-profile-tz") || Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: times stay in UTC, which the tooltips say */ }
  var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat("en", { numeric: "auto" }) : null;
  function refreshTimes() {
    if (!relative) return;
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("time[data-relative]"), function (time) {
      var seconds = Math.round((new Date(time.getAttribute("datetime")).getTime() - now) / 1000);
      var steps = [[60, "second"], [3600, "minute", 60], [86400, "hour", 3600], [604800, "day", 86400]];
      if (Math.abs(seconds) < 45) { time.textContent = "just now"; return; }
      for (var i = 1; i < steps.length; i++) {
        if (Math.abs(seconds) < steps[i][0]) { time.textContent = relative.format(Math.round(seconds / steps[i][2]), steps[i][1]); return; }
      }
    });
  }
  window.setInterval(function () { if (!document.hidden) refreshTimes(); }, 30000);
  htmx.onLoad(function () { refreshTimes(); });  // what a swap brought in reads like the rest

  // --- Focus lands where a keyboard user expects ---------------------------------------------
  var drawerOpener = null;
  body.addEventListener("htmx:beforeRequest", function (evt) {
    if (evt.detail.elt.matches && evt.detail.elt.matches("[data-history-link]")) drawerOpener = evt.detail.elt;
  });
  var drawer = document.getElementById("history-drawer");
  if (drawer) drawer.addEventListener("hidden.bs.offcanvas", function () {
    if (drawerOpener && document.body.contains(drawerOpener)) drawerOpener.focus();
  });
  // Decided before the swap (what was acted on is still in the page), done once it has settled.
  function focusLater(find) {
    var before = document.activeElement;
    window.setTimeout(function () {
      // Not when the person has gone on meanwhile (typing in another field): theirs wins.
      var now = document.activeElement;
      if (now && now !== before && now !== body && now.matches("input, textarea, select")) return;
      var elt = find();
      if (elt && document.body.contains(elt)) elt.focus();
    }, 80);
  }
  body.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    var target = evt.detail.target;
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (!elt || !target || elt.hasAttribute("data-live")) return;
    var targetId = target.id;
    var byId = function () { return targetId ? document.getElementById(targetId) : null; };
    if (status === 422 || status === 429) {
      // A form sent back with errors: the first field that needs attention.
      focusLater(function () {
        var form = byId() || target;
        return form && (form.querySelector(".is-invalid") || form.querySelector("textarea, input:not([type=hidden])"));
      });
    } else if (elt.hasAttribute("data-load-more")) {
      // "Load more" / "Load older": the first of what came in.
      focusLater(function () {
        var first = document.querySelector("[data-first-loaded]");
        if (first) first.removeAttribute("data-first-loaded");
        return first;
      });
    } else if (/^message-\d+$/.test(targetId) && (elt.matches("form") || elt.hasAttribute("data-cancel"))) {
      // A message saved or put back after an edit: its Edit link.
      var pk = targetId.slice("message-".length);
      focusLater(function () { return document.getElementById("edit-link-" + pk); });
    } else if (/^message-\d+$/.test(targetId) && elt.matches("[hx-post$='/delete/']")) {
      // A message deleted: the next one, or the box.
      var next = target.nextElementSibling;
      focusLater(function () {
        return (next && document.body.contains(next) && next.matches("article")) ? next : document.querySelector("#send-form textarea");
      });
    } else if (target.classList.contains("reply-slot") && elt.matches("form") && status < 300) {
      // A reply sent: back on the Reply link it was written under.
      var opener = target.previousElementSibling && target.previousElementSibling.matches('a[href*="/reply/"]')
        ? target.previousElementSibling : target.parentElement.querySelector("[id^=reply-link-]");
      var openerId = opener && opener.id;  // a redraw of the message may replace the link itself
      focusLater(function () { return (openerId && document.getElementById(openerId)) || opener; });
    } else if (/^notification-\d+$/.test(targetId)) {
      // A notification marked read: its link.
      focusLater(function () { var item = byId(); return item && item.querySelector("a"); });
    }
  });

  // --- "To" suggestions: arrows move through them, Enter picks one ---------------------------
  document.addEventListener("keydown", function (evt) {
    var picks = Array.prototype.slice.call(document.querySelectorAll("[data-pick-username]"));
    if (!picks.length) return;
    var field = document.getElementById("id_to");
    var at = picks.indexOf(document.activeElement);
    if (evt.target === field && evt.key === "ArrowDown") { evt.preventDefault(); picks[0].focus(); return; }
    if (at === -1) return;
    if (evt.key === "ArrowDown") { evt.preventDefault(); picks[Math.min(at + 1, picks.length - 1)].focus(); }
    if (evt.key === "ArrowUp") { evt.preventDefault(); (at === 0 ? field : picks[at - 1]).focus(); }
    if (evt.key === "Escape") { evt.preventDefault(); field.focus(); }
  });
})();
