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
