/* The testimony form, better with JavaScript: drafts saved as one types. The form works without it
   (the WebVTT text is what it sends either way). */
(function () {
  "use strict";

  var form = document.getElementById("testimony-form");
  if (!form) return;

  // --- autosave: the form as typed so far becomes the user's draft (never a version) ---------------
  var status = document.getElementById("autosave-status");
  var token = form.querySelector("input[name=csrf_token]");
  var AFTER_TYPING_MS = 3000;
  var timer = null;
  var sending = false;
  var again = false;
  var submitted = false;

  function show(message, link, label) {
    status.replaceChildren(document.createTextNode(message));
    if (link) {
      var a = document.createElement("a");
      a.href = link;
      a.textContent = label;
      status.append(" ", a);
    }
  }

  function saveDraft() {
    if (submitted) return;
    if (sending) { again = true; return; }
    sending = true;
    var data = new FormData(form);
    data.delete("vtt_file");
    data.delete("csrf_token");
    data.delete("action");
    fetch(form.dataset.autosave, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": token ? token.value : "" },
    })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.error) {
          show(body.error.message, body.sign_in || body.reload, body.sign_in ? form.dataset.signIn : form.dataset.reload);
        } else {
          show(body.message);
        }
      })
      .catch(function () { show(form.dataset.unsaved); })
      .then(function () {
        sending = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(saveDraft, AFTER_TYPING_MS);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", function () { submitted = true; clearTimeout(timer); });
  // The segment editor below writes into the text area and says so with this event.
  form.addEventListener("transcript-changed", schedule);
})();

/* The segment editor: the WebVTT text read as segments, one edited at a time beside the recording,
   and written back into the text (in the form the server writes it) whenever a segment changes. */
(function () {
  "use strict";

  var editor = document.getElementById("segment-editor");
  var text = document.getElementById("vtt");
  var form = document.getElementById("testimony-form");
  if (!editor || !text || !form) return;

  var PER_PAGE = 25;
  var BACK_MS = 5000;
  var KEYWORDS_NOTE = "NOTE keywords:";
  var player = document.getElementById("editor-player");
  var textMode = document.getElementById("vtt-text-mode");
  var toSegments = document.getElementById("to-segments");
  var list = document.getElementById("segment-list");
  var pageLabel = document.getElementById("seg-page-label");
  var legend = document.getElementById("segment-current-legend");
  var speakers = document.getElementById("speakers");
  var inputs = {
    start: document.getElementById("seg-start"),
    end: document.getElementById("seg-end"),
    speaker: document.getElementById("seg-speaker"),
    text: document.getElementById("seg-text"),
    keywords: document.getElementById("seg-keywords"),
  };
  var segments = [];
  var current = 0;
  var page = 0;
  var writeTimer = null;
  var changed = false;

  // --- reading and writing WebVTT, as archive/media/transcripts.py does -----------------------------
  function parseTime(value) {
    value = (value || "").trim();
    if (/^\d+$/.test(value)) return parseInt(value, 10);
    var m = /^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$/.exec(value);
    if (!m) return null;
    var ms = parseInt((m[4] || "0").padEnd(3, "0"), 10);
    return ((parseInt(m[1] || "0", 10) * 60 + parseInt(m[2], 10)) * 60 + parseInt(m[3], 10)) * 1000 + ms;
  }

  function pad(n, width) { return String(n).padStart(width, "0"); }

  function stamp(ms) {
    var h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
    return pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2) + "." + pad(ms % 1000, 3);
  }

  function shortTime(ms) {
    if (ms === null || isNaN(ms)) return "";
    var h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
    var out = (h ? h + ":" + pad(m, 2) : String(m)) + ":" + pad(s, 2);
    return ms % 1000 ? out + "." + pad(ms % 1000, 3) : out;
  }

  function unescapeText(value) {
    return value.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&nbsp;/g, " ").replace(/&amp;/g, "&");
  }

  function escapeText(value) {
    return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function parse(vtt) {
    var lines = vtt.replace(/^\ufeff/, "").replace(/\r\n?/g, "\n").split("\n");
    if (!/^WEBVTT/.test(lines[0] || "")) return vtt.trim() ? null : [];
    var blocks = lines.join("\n").split(/\n\s*\n/).slice(1);
    var out = [];
    var keywords = [];
    for (var i = 0; i < blocks.length; i++) {
      var block = blocks[i].split("\n").filter(function (l) { return l.trim(); });
      if (!block.length) continue;
      if (block[0].indexOf(KEYWORDS_NOTE) === 0) {
        keywords = block.join(" ").slice(KEYWORDS_NOTE.length).split(",")
          .map(function (w) { return w.trim(); }).filter(Boolean);
        continue;
      }
      if (/^(NOTE|STYLE|REGION)/.test(block[0])) continue;
      var at = block[0].indexOf("-->") >= 0 ? 0 : (block[1] && block[1].indexOf("-->") >= 0 ? 1 : -1);
      if (at < 0) return null;
      var times = block[at].split("-->");
      var start = parseTime(times[0]);
      var end = parseTime((times[1] || "").trim().split(/\s+/)[0]);
      if (start === null || end === null) return null;
      var body = block.slice(at + 1);
      var speaker = "";
      var voice = /^<v(?:\.[^\s>]*)?\s+([^>]*)>/.exec(body[0] || "");
      if (voice) speaker = unescapeText(voice[1].trim());
      var words = body.map(function (l) { return l.replace(/<[^>]*>/g, "").trim(); }).filter(Boolean).join(" ");
      out.push({ start: start, end: end, speaker: speaker, text: unescapeText(words), keywords: keywords });
      keywords = [];
    }
    return out;
  }

  function write() {
    var parts = ["WEBVTT\n"];
    segments.forEach(function (s) {
      var lines = s.text.split("\n").map(function (l) { return escapeText(l.trim()); }).filter(Boolean);
      var speaker = s.speaker.split(/\s+/).filter(Boolean).join(" ");
      if (speaker && lines.length) lines[0] = "<v " + escapeText(speaker) + ">" + lines[0];
      var cue = [stamp(s.start) + " --> " + stamp(s.end)].concat(lines).join("\n");
      var words = s.keywords.map(function (w) { return w.replace(/,/g, " ").split(/\s+/).filter(Boolean).join(" "); })
        .filter(Boolean);
      if (words.length) cue = KEYWORDS_NOTE + " " + words.join(", ") + "\n\n" + cue;
      parts.push("\n" + cue + "\n");
    });
    text.value = parts.join("");
    changed = false;
    form.dispatchEvent(new Event("transcript-changed"));
  }

  function changedNow() {
    changed = true;
    clearTimeout(writeTimer);
    writeTimer = setTimeout(write, 300);
  }

  // --- showing them ----------------------------------------------------------------------------
  function label(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, key) { return values[key]; });
  }

  function refreshSpeakers() {
    var names = {};
    segments.forEach(function (s) { if (s.speaker) names[s.speaker] = true; });
    speakers.replaceChildren.apply(speakers, Object.keys(names).sort().map(function (name) {
      var option = document.createElement("option");
      option.value = name;
      return option;
    }));
  }

  function renderList() {
    var first = page * PER_PAGE;
    var shown = segments.slice(first, first + PER_PAGE);
    list.start = first + 1;
    list.replaceChildren.apply(list, shown.map(function (s, k) {
      var index = first + k;
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "segment-pick" + (index === current ? " current" : "");
      button.dataset.index = String(index);
      if (index === current) button.setAttribute("aria-current", "true");
      button.textContent = shortTime(s.start) + "  " + (s.speaker ? s.speaker + ": " : "") + s.text;
      item.append(button);
      return item;
    }));
    pageLabel.textContent = segments.length
      ? label(editor.dataset.pageLabel, { first: first + 1, last: first + shown.length, total: segments.length })
      : editor.dataset.noSegments;
  }

  function show(index) {
    if (!segments.length) {
      segments.push({ start: 0, end: 1000, speaker: "", text: "", keywords: [] });
    }
    current = Math.max(0, Math.min(index, segments.length - 1));
    page = Math.floor(current / PER_PAGE);
    var s = segments[current];
    inputs.start.value = shortTime(s.start);
    inputs.end.value = shortTime(s.end);
    inputs.speaker.value = s.speaker;
    inputs.text.value = s.text;
    inputs.keywords.value = s.keywords.join(", ");
    legend.textContent = label(editor.dataset.currentLabel, { n: current + 1, total: segments.length });
    renderList();
  }

  // --- editing --------------------------------------------------------------------------------
  function playerMs() {
    return player ? Math.round(player.currentTime * 1000) : null;
  }

  function setStartFromPlayer() {
    var at = playerMs();
    if (at === null) return;
    segments[current].start = at;
    var before = segments[current - 1];
    if (before && before.end > at) before.end = at;
    inputs.start.value = shortTime(at);
    changedNow();
    renderList();
  }

  function split() {
    var s = segments[current];
    var cut = inputs.text.selectionStart || s.text.length;
    var at = playerMs();
    if (at === null || at <= s.start || at >= s.end) at = Math.round((s.start + s.end) / 2);
    var after = { start: at, end: s.end, speaker: s.speaker, text: s.text.slice(cut).trim(), keywords: [] };
    s.text = s.text.slice(0, cut).trim();
    s.end = at;
    segments.splice(current + 1, 0, after);
    changedNow();
    show(current + 1);
    inputs.text.focus();
  }

  function join() {
    var s = segments[current], next = segments[current + 1];
    if (!next) return;
    s.text = (s.text + " " + next.text).trim();
    s.end = next.end;
    next.keywords.forEach(function (w) { if (s.keywords.indexOf(w) < 0) s.keywords.push(w); });
    segments.splice(current + 1, 1);
    changedNow();
    show(current);
    inputs.text.focus();
  }

  function add() {
    var s = segments[current];
    var next = segments[current + 1];
    var end = next ? next.start : s.end + 5000;
    segments.splice(current + 1, 0, { start: s.end, end: Math.max(end, s.end + 1), speaker: s.speaker, text: "", keywords: [] });
    changedNow();
    show(current + 1);
    inputs.text.focus();
  }

  function playOrPause() {
    if (!player) return;
    if (player.paused) player.play().catch(function () {}); else player.pause();
  }

  function back() {
    if (player) player.currentTime = Math.max(0, player.currentTime - BACK_MS / 1000);
  }

  var ACTIONS = { start: setStartFromPlayer, play: playOrPause, back: back, split: split, join: join, add: add };
  var KEYS = { t: "start", k: "play", j: "back", x: "split", m: "join" };

  editor.addEventListener("keydown", function (event) {
    // Enter in a one-line field of a segment must not send the whole form.
    if (event.key === "Enter" && event.target.tagName === "INPUT") event.preventDefault();
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    var key = event.key.toLowerCase();
    if (KEYS[key]) {
      event.preventDefault();
      ACTIONS[KEYS[key]]();
    } else if (key === "arrowdown" || key === "arrowup") {
      event.preventDefault();
      var focused = document.activeElement;
      show(current + (key === "arrowdown" ? 1 : -1));
      if (focused && editor.contains(focused)) focused.focus();
    }
  });

  editor.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.action) ACTIONS[button.dataset.action]();
    else if (button.dataset.index) { show(parseInt(button.dataset.index, 10)); inputs.text.focus(); }
  });

  Object.keys(inputs).forEach(function (name) {
    inputs[name].addEventListener("input", function (event) {
      event.stopPropagation();  // the autosave hears of it once the text is written
      var s = segments[current];
      if (name === "start" || name === "end") {
        var ms = parseTime(inputs[name].value);
        if (ms === null) return;
        s[name] = ms;
      } else if (name === "keywords") {
        s.keywords = inputs.keywords.value.split(",").map(function (w) { return w.trim(); }).filter(Boolean);
      } else {
        s[name] = inputs[name].value;
      }
      changedNow();
      if (name === "speaker") refreshSpeakers();
    });
  });

  document.getElementById("seg-prev-page").addEventListener("click", function () {
    if (page > 0) { page -= 1; renderList(); }
  });
  document.getElementById("seg-next-page").addEventListener("click", function () {
    if ((page + 1) * PER_PAGE < segments.length) { page += 1; renderList(); }
  });

  // --- the two modes ----------------------------------------------------------------------------
  function toSegmentMode() {
    var read = parse(text.value);
    if (read === null) {
      window.alert(editor.dataset.unreadable);
      return;
    }
    segments = read;
    editor.hidden = false;
    textMode.hidden = true;
    toSegments.hidden = true;
    refreshSpeakers();
    show(0);
    inputs.text.focus();
  }

  function toTextMode() {
    if (changed) { clearTimeout(writeTimer); write(); }
    editor.hidden = true;
    textMode.hidden = false;
    toSegments.hidden = false;
    text.focus();
  }

  document.getElementById("to-text").addEventListener("click", toTextMode);
  toSegments.addEventListener("click", toSegmentMode);
  form.addEventListener("submit", function () {
    if (changed) { clearTimeout(writeTimer); write(); }
  });
  toSegments.hidden = false;
})();
