// The web desk's only script: instant filtering of the units' table (status, and a search
// that ignores Vietnamese accents) and sorting by a column header without a reload. The
// same filters work without JavaScript through the form's query parameters.
"use strict";
(function () {
  function fold(s) {
    return s.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .replace(/đ/g, "d").replace(/\s+/g, " ").trim();
  }
  document.querySelectorAll("select.autosubmit").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
  // The legal clocks of the cases board: counted down from the server's now (data-now), so a
  // wrong clock on the office computer does not change them.
  var board = document.getElementById("board");
  if (board && board.dataset.now) {
    var offset = Date.parse(board.dataset.now) - Date.now();
    var tick = function () {
      board.querySelectorAll(".countdown").forEach(function (el) {
        var ms = Date.parse(el.dataset.due) - (Date.now() + offset);
        var s = Math.floor(Math.abs(ms) / 1000);
        var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
        var pad = function (n) { return n < 10 ? "0" + n : String(n); };
        el.textContent = (ms < 0 ? "−" : "") + h + ":" + pad(m) + ":" + pad(s % 60);
        el.classList.toggle("overdue", ms < 0);
      });
    };
    tick();
    setInterval(tick, 1000);
  }
  // Announcements: the delivery counts refresh by themselves while the page is open.
  var deliveries = document.getElementById("deliveries");
  if (deliveries && window.fetch) {
    var poll = function () {
      fetch(deliveries.dataset.poll, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : {}; })
        .then(function (counts) {
          deliveries.querySelectorAll("tr[data-batch]").forEach(function (row) {
            var c = counts[row.dataset.batch];
            if (!c) return;
            row.querySelectorAll("[data-k]").forEach(function (cell) {
              cell.textContent = String(c[cell.dataset.k]);
            });
          });
        })
        .catch(function () {});
    };
    setInterval(poll, 5000);
  }
  // Compiled files of a whole province take seconds: with JavaScript a button starts a job
  // and shows its progress (units read, then rows or pages written), then downloads the
  // file; without it the same buttons are plain links.
  var downloads = document.getElementById("downloads");
  var dlState = document.getElementById("dl-state");
  if (downloads && dlState && window.fetch) {
    var bar = document.getElementById("dl-progress");
    var text = document.getElementById("dl-text");
    var busy = false;
    var show = function (phase, done, total) {
      dlState.hidden = false;
      text.textContent = dlState.dataset[phase] + (total ? " " + done + "/" + total : "");
      if (total) { bar.max = total; bar.value = done; } else { bar.removeAttribute("value"); }
    };
    downloads.querySelectorAll("a.download").forEach(function (link) {
      link.addEventListener("click", function (ev) {
        ev.preventDefault();
        if (busy) return;
        busy = true;
        var body = new URLSearchParams({ csrf: downloads.dataset.csrf, unit: downloads.dataset.unit,
          period: downloads.dataset.period, fmt: link.dataset.fmt, chart: link.dataset.chart || "" });
        show("gather", 0, 0);
        fetch("/web/files/jobs", { method: "POST", body: body, credentials: "same-origin" })
          .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
          .then(function (started) {
            var timer = setInterval(function () {
              fetch("/web/files/jobs/" + started.job, { credentials: "same-origin" })
                .then(function (r) { return r.json(); })
                .then(function (st) {
                  if (st.phase === "done") {
                    clearInterval(timer); busy = false; show("done", 0, 0);
                    bar.max = 1; bar.value = 1;
                    window.location.href = "/web/files/jobs/" + started.job + "/file";
                  } else if (st.phase === "gather" || st.phase === "render") {
                    show(st.phase, st.done, st.total);
                  } else {
                    clearInterval(timer); busy = false; show("failed", 0, 0);
                  }
                });
            }, 400);
          })
          .catch(function () { busy = false; window.location.href = link.href; });
      });
    });
  }
  var table = document.getElementById("units");
  if (!table) return;
  var body = table.tBodies[0];
  var q = document.getElementById("q");
  var status = document.getElementById("status");
  var shown = document.getElementById("shown");
  function apply() {
    var text = fold(q.value), st = status.value, n = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var ok = (!st || row.dataset.status === st) && (!text || row.dataset.fold.indexOf(text) >= 0);
      row.hidden = !ok;
      if (ok) n += 1;
    });
    shown.textContent = String(n);
  }
  q.addEventListener("input", apply);
  status.addEventListener("change", apply);
  var order = { on_time: 0, late: 1, missing: 2 };
  table.querySelectorAll("a.sort").forEach(function (link) {
    link.addEventListener("click", function (ev) {
      ev.preventDefault();
      var key = link.dataset.key;
      var asc = link.dataset.dir !== "asc";
      table.querySelectorAll("a.sort").forEach(function (l) { delete l.dataset.dir; });
      link.dataset.dir = asc ? "asc" : "desc";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x, y;
        if (key === "status") { x = order[a.dataset.status]; y = order[b.dataset.status]; }
        else if (key === "version") { x = Number(a.dataset.version || 0); y = Number(b.dataset.version || 0); }
        else { var k = key === "name" ? "fold" : key; x = a.dataset[k] || ""; y = b.dataset[k] || ""; }
        var c = x < y ? -1 : x > y ? 1 : 0;
        if (c === 0) c = a.dataset.fold < b.dataset.fold ? -1 : 1;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  apply();
})();
