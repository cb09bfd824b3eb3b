// Job og Familie: live updates of a family's timeline. The page works
// without this script; it only adds the entries applied after the page
// was made, each once and in the timeline's order, and says so in the
// polite live region without moving focus or scroll.
(function () {
  "use strict";
  var list = document.getElementById("tidslinje");
  var region = document.getElementById("live");
  if (!list || !region || !window.EventSource) { return; }
  var url = list.getAttribute("data-live");
  // A filtered page ("filter") or an older page ("page") is not added
  // to: the stream is the family's newest entries, unfiltered.
  var insert = !list.hasAttribute("data-static");
  var filtered = list.getAttribute("data-static") === "filter";
  var count = 0;
  // older counts the new entries whose place is on an older page of the
  // timeline: they are announced, but not added to this one.
  var older = 0;
  // Sequences counted already: a reconnect may send an entry again.
  var seen = {};
  // The stream resumes after what the page shows (its URL's ?after=, then
  // the browser's Last-Event-ID); an entry the page shows anyway is not
  // added again. last is the sequence of the last entry received: a stream
  // opened again resumes after it.
  var es = null, last = null, ended = false;
  // A hidden page (another tab, a minimized window) holds no stream: a
  // browser keeps at most 6 connections to a host over HTTP/1.1, so six
  // family tabs would otherwise block every other page of the app. The
  // stream is opened again when the page is visible, after the last entry
  // received, so nothing is missed or added twice.
  function connect() {
    if (es || ended || document.visibilityState === "hidden") { return; }
    var u = url;
    if (last !== null) {
      u = /[?&]after=\d+/.test(url) ? url.replace(/([?&]after=)\d+/, "$1" + last) :
        url + (url.indexOf("?") < 0 ? "?" : "&") + "after=" + last;
    }
    es = new EventSource(u);
    es.onopen = function () { list.setAttribute("data-live-open", "1"); };
    es.addEventListener("entry", onEntry);
    // The server ends the stream with a reason: the session ended (logout,
    // idle, lifetime), or the person is no longer assigned to the family.
    es.addEventListener("expired", function () {
      stop("Din session er udløbet. Genindlæs siden for at logge ind igen.");
    });
    es.addEventListener("forbidden", function () {
      stop("Du har ikke længere adgang til familien, og siden opdateres ikke længere. Gå til Mine familier.");
    });
    // The stream was replaced and the timeline read again from it on the
    // server: what the page shows, and the position it resumes after, are
    // of the old one, and nothing more comes on this view.
    es.addEventListener("reset", function () {
      stop("Tidslinjen er indlæst forfra på serveren, og siden opdateres ikke længere. Genindlæs siden for at se den.");
    });
    // After a dropped stream the browser reconnects by itself
    // (CONNECTING). It gives up (CLOSED) when a reconnect is refused: 401
    // once the session has ended, 403, an error page. The page is then no
    // longer live.
    es.onerror = function () {
      if (es && es.readyState === EventSource.CLOSED) {
        stop("Siden opdateres ikke længere. Genindlæs siden for at se nye hændelser.");
      }
    };
  }
  function disconnect() {
    if (!es) { return; }
    es.close();
    es = null;
    list.removeAttribute("data-live-open");
  }
  // stop ends the live view for good and says so in the live region: the
  // page still shows what it showed, but nothing new comes.
  function stop(text) {
    ended = true;
    disconnect();
    region.textContent = text;
  }
  // key is an entry's place in the timeline, which is sorted by time, then
  // sequence, newest first.
  function key(li) {
    var tm = li.querySelector("time");
    return { t: tm ? Date.parse(tm.getAttribute("datetime")) : NaN, s: Number(li.id.slice(1)) };
  }
  function newer(a, b) { return a.t > b.t || (a.t === b.t && a.s > b.s); }
  // place inserts li where the timeline's order puts it; false when that is
  // below the page's last entry while older pages exist (it is on those).
  function place(li, k) {
    var items = list.children, before = null, shown = 0;
    for (var i = 0; i < items.length; i++) {
      if (!/^e\d+$/.test(items[i].id)) { continue; }
      shown++;
      if (newer(k, key(items[i]))) { before = items[i]; break; }
    }
    if (!before && shown > 0 && document.querySelector('.pager a[rel="next"]')) { return false; }
    // The "no entries" line goes once there is one.
    for (var j = items.length - 1; j >= 0; j--) {
      if (!items[j].id) { list.removeChild(items[j]); }
    }
    // Keep what the reader looks at in place while the list grows above.
    var y = window.scrollY, h = document.documentElement.scrollHeight;
    list.insertBefore(li, before);
    if (li.getBoundingClientRect().top + window.scrollY < y) {
      window.scrollTo(0, y + document.documentElement.scrollHeight - h);
    }
    return true;
  }
  function onEntry(ev) {
    var e;
    try { e = JSON.parse(ev.data); } catch (err) { return; }
    if (typeof e.sequence === "number" && (last === null || e.sequence > last)) { last = e.sequence; }
    if (seen[e.sequence] || document.getElementById("e" + e.sequence)) { return; }
    seen[e.sequence] = true;
    count++;
    if (insert) {
      var li = document.createElement("li");
      li.id = "e" + e.sequence;
      li.className = "new";
      var t = document.createElement("p");
      t.className = "t";
      t.textContent = e.title + " ";
      var b = document.createElement("span");
      b.className = "badge";
      b.textContent = "Ny";
      t.appendChild(b);
      var m = document.createElement("p");
      m.className = "meta";
      var tm = document.createElement("time");
      tm.setAttribute("datetime", e.datetime);
      tm.textContent = e.time;
      m.appendChild(document.createTextNode(e.department + " · "));
      m.appendChild(tm);
      li.appendChild(t);
      li.appendChild(m);
      if (!place(li, { t: Date.parse(e.datetime), s: e.sequence })) { older++; }
    }
    var text = count === 1 ? "1 ny hændelse" : count + " nye hændelser";
    if (!insert) {
      text += filtered ? " – nulstil filteret for at se dem" : " – vis de nyeste for at se dem";
    } else if (older > 0) {
      text += count === 1 ? " – den står på en ældre side af tidslinjen" :
        " – " + (older === 1 ? "1 af dem står" : older + " af dem står") + " på en ældre side af tidslinjen";
    }
    region.textContent = text;
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { disconnect(); } else { connect(); }
  });
  // Leaving the page (also into the back/forward cache) ends the stream; a
  // page shown again from that cache opens it again.
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) { connect(); } });
  connect();
})();
