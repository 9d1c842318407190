/* qworker console: live counts and charts. No inline script anywhere (the CSP forbids it);
   this file is the console's only code besides the vendored htmx and uPlot.

   One poll every data-poll-ms (never under 1 s), paused while the tab is hidden:
   GET {base}/api/live?v=VERSION&since=T&charts=...&full=...
   Counts are written with textContent (never HTML), so names and numbers stay text. */
(function () {
  "use strict";
  var body = document.body;
  var base = body.getAttribute("data-base") || "";
  var pollMs = Math.max(1000, parseInt(body.getAttribute("data-poll-ms"), 10) || 2000);
  var version = null;
  var since = 0;
  var charts = new Map();   // queue name -> {el, plot, data, big}
  var visible = new Set();  // queue names whose chart is on screen
  var fresh = new Set();    // charts on screen that still need their whole history
  var rows = new Map();     // queue name -> element holding [data-field] cells

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "\u2014";
    var s = Math.floor(seconds);
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad(Math.floor(s % 3600 / 60)) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor(s % 86400 / 3600) + "h";
  }

  function setField(holder, field, text) {
    var cell = holder.querySelector('[data-field="' + field + '"]');
    if (cell && cell.textContent !== text) {
      cell.textContent = text;
      cell.classList.remove("changed");
      void cell.offsetWidth;
      cell.classList.add("changed");
    }
  }

  function applyRows(list) {
    var table = document.getElementById("queues");
    var notice = document.getElementById("queues-changed");
    if (table && notice) {  // a queue made or deleted since the page was rendered
      var names = new Set(list.map(function (r) { return r.name; }));
      var changed = list.length !== table.querySelectorAll("tr[data-queue]").length;
      rows.forEach(function (_, name) { if (!names.has(name)) changed = true; });
      notice.hidden = !changed;
    }
    list.forEach(function (r) {
      var holder = rows.get(r.name);
      if (!holder) return;
      setField(holder, "visible", String(r.visible));
      setField(holder, "in_flight", String(r.in_flight));
      setField(holder, "delayed", String(r.delayed));
      setField(holder, "oldest_age", age(r.oldest_age));
      if (r.dlq_depth !== null && r.dlq_depth !== undefined) setField(holder, "dlq_depth", String(r.dlq_depth));
    });
  }

  function chartSize(entry) {
    var width = Math.max(120, entry.el.clientWidth || 160);
    return entry.big ? {width: width, height: 220} : {width: width, height: 36};
  }

  function makePlot(entry) {
    var size = chartSize(entry);
    var opts = {
      width: size.width, height: size.height,
      legend: {show: entry.big},
      cursor: {show: entry.big},
      scales: {x: {time: true}, n: {auto: true}, r: {auto: true}},
      axes: entry.big ? [
        {},
        {scale: "n", label: "messages"},
        {scale: "r", side: 1, label: "processed/s", grid: {show: false}}
      ] : [{show: false}, {show: false, scale: "n"}, {show: false, scale: "r"}],
      series: [
        {},
        {label: "waiting", scale: "n", stroke: "#2563eb", width: entry.big ? 2 : 1.5, fill: "rgba(37,99,235,0.10)", points: {show: entry.big}},
        {label: "in flight", scale: "n", stroke: "#a855f7", width: 1, show: entry.big},
        {label: "processed/s", scale: "r", stroke: "#16a34a", width: entry.big ? 2 : 1.5, points: {show: entry.big}}
      ]
    };
    entry.plot = new uPlot(opts, entry.data, entry.el);
  }

  function addPoints(name, columns, replace) {
    var entry = charts.get(name);
    if (!entry || !columns || !columns[0]) return;
    if (replace) {
      entry.data = columns;
    } else {
      for (var i = 0; i < columns.length; i++) entry.data[i] = entry.data[i].concat(columns[i]);
      var cut = entry.data[0].length - 400;
      if (cut > 0) entry.data = entry.data.map(function (c) { return c.slice(cut); });
    }
    if (!window.uPlot) return;
    if (!entry.plot) makePlot(entry); else entry.plot.setData(entry.data);
  }

  function url() {
    var params = new URLSearchParams();
    if (version !== null) params.set("v", version);
    params.set("since", String(since));
    var steady = [];
    visible.forEach(function (n) { if (!fresh.has(n)) steady.push(n); });
    if (steady.length) params.set("charts", steady.join(","));
    if (fresh.size) params.set("full", Array.from(fresh).join(","));
    return base + "/api/live?" + params.toString();
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, pollMs); return; }
    var asked = new Set(fresh);
    fetch(url(), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }  // logged out: to the login page
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data) return;
        if (data.rows) applyRows(data.rows);
        version = String(data.version);
        Object.keys(data.series || {}).forEach(function (name) {
          addPoints(name, data.series[name], asked.has(name));
          asked.has(name) && fresh.delete(name);
        });
        if (data.at) since = Math.max(since, data.at);
        var sampled = document.querySelector('[data-live="sampled"]');
        if (sampled && data.at) sampled.textContent = age(Date.now() / 1000 - data.at) + " ago";
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { setTimeout(poll, pollMs); });
  }

  function init() {
    document.querySelectorAll("tr[data-queue]").forEach(function (tr) { rows.set(tr.getAttribute("data-queue"), tr); });
    var counts = document.getElementById("counts");
    if (counts) rows.set(counts.getAttribute("data-queue"), counts);
    var table = document.getElementById("queues");
    if (table) { version = table.getAttribute("data-version"); }
    var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        var name = e.target.getAttribute("data-chart");
        if (e.isIntersecting) {
          visible.add(name);
          if (!charts.get(name).plot) fresh.add(name);
        } else {
          visible.delete(name);
        }
      });
    }) : null;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var name = el.getAttribute("data-chart");
      charts.set(name, {el: el, plot: null, data: [[], [], [], []], big: el.hasAttribute("data-big")});
      if (observer) observer.observe(el); else { visible.add(name); fresh.add(name); }
    });
    if (rows.size || charts.size) setTimeout(poll, 50);
    window.addEventListener("resize", function () {
      charts.forEach(function (entry) { if (entry.plot) entry.plot.setSize(chartSize(entry)); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
