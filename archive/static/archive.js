/* Small enhancements; every page works without them. */
(function () {
  "use strict";

  // The staff's menu: on a narrow screen one "Menu" button opens and closes it (Escape closes it
  // and goes back to the button); on a wide one the button is hidden by the stylesheet.
  var toggle = document.querySelector(".menu-toggle");
  if (toggle) {
    var menu = document.getElementById(toggle.getAttribute("aria-controls"));
    var setOpen = function (open) { toggle.setAttribute("aria-expanded", open ? "true" : "false"); };
    toggle.hidden = false;
    toggle.addEventListener("click", function () { setOpen(toggle.getAttribute("aria-expanded") !== "true"); });
    menu.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
      setOpen(false);
      toggle.focus();
    });
  }

  // Autocomplete: fill a search box's <datalist> from /search/suggest as the reader types.
  document.querySelectorAll("input[data-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = "";
    if (!list) return;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var prefix = input.value.trim().split(/\s+/).pop() || "";
      if (prefix.length < 2 || prefix === asked) return;
      timer = setTimeout(function () {
        asked = prefix;
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(prefix), { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (words) {
            var head = input.value.slice(0, input.value.lastIndexOf(prefix));
            list.replaceChildren.apply(list, words.map(function (w) {
              var option = document.createElement("option");
              option.value = head + w;
              return option;
            }));
          })
          .catch(function () {});
      }, 150);
    });
  });

  // A testimony opened at ?t=… without a #fragment (or with one naming no segment) still scrolls
  // to that moment.
  var current = document.querySelector(".segment.current");
  if (current && !document.getElementById(location.hash.slice(1))) {
    current.scrollIntoView({ block: "start" });
  }

  // With a recording on the page, a timecode plays it from that moment instead of reloading.
  var player = document.querySelector("[data-player][data-main]");
  if (player) {
    var start = parseFloat(player.dataset.start || "0");
    if (start > 0) {
      player.addEventListener("loadedmetadata", function () { player.currentTime = start; }, { once: true });
    }
    document.querySelectorAll(".segments a.timecode, .passages a.timecode, .segment-change a.timecode").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var ms = new URL(link.href, location.href).searchParams.get("t");
        if (ms === null) return;
        event.preventDefault();
        player.currentTime = parseInt(ms, 10) / 1000;
        player.play().catch(function () {});
        history.replaceState(null, "", link.href);
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      });
    });
  }

  // Following a timecode link marks that segment as the current one.
  window.addEventListener("hashchange", function () {
    var target = document.getElementById(location.hash.slice(1));
    if (!target || !target.classList.contains("segment")) return;
    document.querySelectorAll(".segment.current").forEach(function (el) {
      el.classList.remove("current");
      el.removeAttribute("aria-current");
    });
    target.classList.add("current");
    target.setAttribute("aria-current", "true");
  });
})();
