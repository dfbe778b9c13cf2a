/* A background job's page: moves the progress bar by polling the job's JSON, and reloads the page
   when the job ends so its report shows. Without this script, reloading the page does the same. */
(function () {
  "use strict";
  var box = document.querySelector("[data-job-progress]");
  if (!box) return;
  var bar = box.querySelector("progress");
  var count = box.querySelector("[data-job-count]");
  var POLL_MS = 1000;

  function poll() {
    fetch(box.dataset.jobProgress, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (job) {
        if (job.total) {
          bar.max = job.total;
          bar.value = job.done;
        }
        count.textContent = job.text;
        if (job.finished) {
          window.location.reload();
        } else {
          setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () { setTimeout(poll, POLL_MS * 5); });
  }
  setTimeout(poll, POLL_MS / 2);
})();
