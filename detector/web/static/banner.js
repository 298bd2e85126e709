/* outage-detector in-app banner. Embed:
     <script src="https://status.example/banner.js" async></script>
   Optional attributes: data-lang="fr" (default: the page's lang), data-poll="60" (seconds, 0 off).
   Shows a dismissible banner during an incident (with its next update) and around planned
   maintenance; text is set with textContent, never as HTML. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !me.src) return;
  var base = new URL(".", me.src).href;
  var lang = me.getAttribute("data-lang") || document.documentElement.lang || "";
  var poll = parseFloat(me.getAttribute("data-poll") || "60");
  var KEY = "outage-detector-dismissed";
  var box = null;

  function dismissed(b) {
    try { return sessionStorage.getItem(KEY) === b.id + "|" + b.subject; } catch (e) { return false; }
  }

  function remove() { if (box) { box.remove(); box = null; } }

  function show(b) {
    remove();
    if (!b || !b.id || dismissed(b)) return;
    box = document.createElement("div");
    box.setAttribute("role", "status");
    box.setAttribute("lang", b.lang || "en");
    box.setAttribute("dir", b.dir || "ltr");
    box.className = "outage-detector-banner";
    box.style.cssText = "position:fixed;inset-inline:0;top:0;z-index:2147483647;display:flex;" +
      "gap:1rem;align-items:center;padding:.75rem 1rem;font:15px/1.4 system-ui,sans-serif;" +
      "color:#fff;background:" + ({major_outage: "#cf222e", partial_outage: "#bc4c00", maintenance: "#0550ae"}[b.severity] || "#9a6700");
    var text = document.createElement("span");
    text.style.flex = "1";
    text.textContent = b.subject || b.title;
    [b.next_update, b.maintenance].forEach(function (line) {
      if (!line) return;
      var more = document.createElement("span");
      more.style.cssText = "display:block;font-size:.9em;opacity:.9";
      more.textContent = line;
      text.appendChild(more);
    });
    box.appendChild(text);
    if (/^https?:\/\//i.test(b.url || "")) {
      var a = document.createElement("a");
      a.href = b.url;
      a.textContent = b.more || "Details";
      a.style.color = "#fff";
      box.appendChild(a);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "\u00d7";
    close.setAttribute("aria-label", b.dismiss || "Dismiss");
    close.style.cssText = "background:none;border:0;color:#fff;font-size:1.5rem;cursor:pointer";
    close.onclick = function () {
      try { sessionStorage.setItem(KEY, b.id + "|" + b.subject); } catch (e) { /* private mode */ }
      remove();
    };
    box.appendChild(close);
    document.body.appendChild(box);
  }

  function load() {
    var url = base + "api/v1/banner" + (lang ? "?lang=" + encodeURIComponent(lang) : "");
    fetch(url, {credentials: "omit"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (b) { if (b) show(b); })
      .catch(function () { /* the status service itself may be down: stay quiet */ });
  }

  if (document.body) load(); else document.addEventListener("DOMContentLoaded", load);
  if (poll > 0) setInterval(load, Math.max(poll, 5) * 1000);
})();
