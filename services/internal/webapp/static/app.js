// Job og Familie: live updates of a family's timeline. The page works
// without this script; it only adds entries that arrive while it is open,
// and says so in the polite live region without moving focus or scroll.
(function () {
  "use strict";
  var list = document.getElementById("tidslinje");
  var region = document.getElementById("live");
  if (!list || !region || !window.EventSource) { return; }
  var url = list.getAttribute("data-live");
  var prepend = !list.hasAttribute("data-static");
  var count = 0;
  var es = new EventSource(url);
  es.onopen = function () { list.setAttribute("data-live-open", "1"); };
  es.addEventListener("entry", function (ev) {
    var e;
    try { e = JSON.parse(ev.data); } catch (err) { return; }
    if (document.getElementById("e" + e.sequence)) { return; }
    count++;
    if (prepend) {
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
      // Keep what the reader looks at in place while the list grows above.
      var y = window.scrollY, h = document.documentElement.scrollHeight;
      list.insertBefore(li, list.firstChild);
      if (y > list.offsetTop) { window.scrollTo(0, y + document.documentElement.scrollHeight - h); }
    }
    region.textContent = count === 1 ? "1 ny hændelse" : count + " nye hændelser";
    if (!prepend) { region.textContent += " – vis de nyeste for at se dem"; }
  });
  es.addEventListener("expired", function () {
    es.close();
    region.textContent = "Din session er udløbet. Genindlæs siden for at logge ind igen.";
  });
})();
