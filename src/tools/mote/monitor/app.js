// The fleet monitor's page (served as it is by src/tools/mote/monitor.ts). Two views: the fleet
// (#/, a virtualized table: only the rows in sight are in the DOM) and one board (#/board/<base>).
// State comes from /events (Server-Sent Events: a snapshot, then batched changes); actions are POSTs.
"use strict";
(function () {
  var ROW_H = 28;            // px, the same as .row in style.css
  var MAX_POINTS = 1000;     // per chart on the page (the monitor keeps its own bound)
  var rows = new Map();      // base -> row (fleet.ts Row)
  var order = [];            // rows filtered and sorted, as shown
  var sortKey = "trouble", sortAsc = false;
  var remote = { available: false, why: "" };
  var boardIds = [];
  var es = null, current = null; // EventSource, base of the board view (null: fleet view)
  var board = null;          // the board view's detail
  var charts = {};           // sensor name -> { u: uPlot, data: [[t], [v]] }
  var pendingCmd = {};       // actuator name -> value sent, not echoed yet
  var collator = new Intl.Collator(undefined, { numeric: true });
  var $ = function (id) { return document.getElementById(id); };
  window.__mote = { charts: charts, rows: rows };

  // ------------------------------------------------------------------------------ live updates
  function connect() {
    if (es) es.close();
    var url = "/events" + (current ? "?board=" + encodeURIComponent(current) : "");
    es = new EventSource(url);
    live("connecting…", "");
    es.addEventListener("snapshot", function (e) {
      var s = JSON.parse(e.data);
      live("live", "ok");
      remote = s.remote; boardIds = s.boards || [];
      brokerState(s.broker);
      rows.clear();
      s.rows.forEach(function (r) { rows.set(r.base, r); });
      refreshFleet();
      if (current) showBoard(s.board, true);
    });
    es.addEventListener("rows", function (e) {
      JSON.parse(e.data).forEach(function (r) { rows.set(r.base, r); });
      refreshFleet();
    });
    es.addEventListener("board", function (e) { if (current) showBoard(JSON.parse(e.data), false); });
    es.addEventListener("broker", function (e) { brokerState(JSON.parse(e.data)); });
    es.addEventListener("remote", function (e) { remoteEvent(JSON.parse(e.data)); });
    es.onerror = function () {
      live("reconnecting…", "bad");
      // A refused or broken stream ends the EventSource for good: start a new one.
      if (es.readyState == EventSource.CLOSED) setTimeout(connect, 1000);
    };
  }
  function live(text, cls) { var el = $("live"); el.textContent = text; el.className = "pill " + cls; }
  function brokerState(b) {
    var el = $("broker");
    el.textContent = "broker " + b.url + (b.connected ? "" : " (not connected" + (b.error ? ": " + b.error : "") + ")");
    el.className = "pill " + (b.connected ? "ok" : "bad");
  }

  // ------------------------------------------------------------------------------ fleet view
  var refreshQueued = false;
  function refreshFleet() {
    if (refreshQueued) return;
    refreshQueued = true;
    requestAnimationFrame(function () { refreshQueued = false; sortAndFilter(); renderRows(true); });
  }

  function sortAndFilter() {
    var text = $("filter").value.trim().toLowerCase(), st = $("state-filter").value, out = [], counts = {};
    rows.forEach(function (r) {
      counts[r.state] = (counts[r.state] || 0) + 1;
      if (st == "trouble" ? r.trouble < 1 : st && r.state != st) return;
      if (text && [r.base, r.id, r.name, r.fw, r.hash, r.board, r.lastError].join(" ").toLowerCase().indexOf(text) < 0) return;
      out.push(r);
    });
    var k = sortKey, dir = sortAsc ? 1 : -1;
    out.sort(function (a, b) {
      var x = a[k], y = b[k];
      if (x === y) return collator.compare(a.base, b.base);
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      if (typeof x == "string") return collator.compare(x, y) * dir; // fleet/2 before fleet/10
      return (x < y ? -1 : 1) * dir;
    });
    order = out;
    $("shown").textContent = out.length + " of " + rows.size + " boards";
    $("counts").textContent = Object.keys(counts).sort().map(function (s) { return counts[s] + " " + s; }).join(" · ");
    $("vt-space").style.height = out.length * ROW_H + "px";
  }

  var pool = [];
  function renderRows() {
    if (current) return;
    var body = $("vt-body"), top = body.scrollTop, h = body.clientHeight || 600;
    var first = Math.max(0, Math.floor(top / ROW_H) - 5), last = Math.min(order.length, Math.ceil((top + h) / ROW_H) + 5);
    var n = last - first, i;
    while (pool.length < n) {
      var el = document.createElement("div");
      el.className = "row";
      for (i = 0; i < 8; i++) el.appendChild(document.createElement("span"));
      el.addEventListener("click", function () { location.hash = "#/board/" + encodeURIComponent(this.dataset.base); });
      body.appendChild(el);
      pool.push(el);
    }
    var now = Date.now();
    for (i = 0; i < pool.length; i++) {
      var el2 = pool[i];
      if (i >= n) { el2.style.display = "none"; continue; }
      var r = order[first + i];
      el2.style.display = "";
      el2.style.top = (first + i) * ROW_H + "px";
      el2.dataset.base = r.base;
      fillRow(el2.children, r, now);
    }
  }

  function fillRow(c, r, now) {
    c[0].innerHTML = "";
    c[0].appendChild(stateBadge(r.state));
    c[1].textContent = r.base + (r.name && r.name != r.id ? " · " + r.name : "");
    c[1].title = r.id ? "client id " + r.id : "";
    c[2].textContent = ago(r.lastSeen, now);
    c[3].textContent = r.fw ? r.fw + " " + (r.hash || "").slice(0, 8) : "—";
    c[3].title = r.hash || "";
    if (r.varsFree !== undefined && r.varsTotal) {
      var f = r.varsFree / r.varsTotal;
      c[4].innerHTML = '<span class="bar' + (f < 0.2 ? " low" : "") + '"><i style="width:' + Math.round(f * 100) + '%"></i></span>';
      c[4].appendChild(document.createTextNode(r.varsFree + "/" + r.varsTotal));
    } else c[4].textContent = "—";
    c[5].textContent = r.rssi === undefined || r.rssi === null ? "—" : r.rssi;
    c[6].textContent = r.reconnects === undefined ? "—" : r.reconnects;
    c[7].textContent = r.state == "rolled back" && r.why ? "rolled back: " + r.why : r.lastError || "";
    c[7].className = r.lastError || r.why ? "err" : "";
  }

  function stateBadge(s) {
    var b = document.createElement("span");
    b.className = "state " + String(s).replace(" ", "-");
    b.textContent = s;
    return b;
  }
  function ago(t, now) {
    if (!t) return "—";
    var s = Math.max(0, Math.round((now - t) / 1000));
    return s < 60 ? s + " s ago" : s < 3600 ? Math.floor(s / 60) + " min ago" : Math.floor(s / 3600) + " h ago";
  }

  $("vt-body").addEventListener("scroll", function () { renderRows(); }, { passive: true });
  window.addEventListener("resize", function () { renderRows(); });
  $("filter").addEventListener("input", refreshFleet);
  $("state-filter").addEventListener("change", refreshFleet);
  Array.prototype.forEach.call(document.querySelectorAll("#vt-head span"), function (h) {
    h.addEventListener("click", function () {
      var k = h.dataset.sort;
      if (k == sortKey) sortAsc = !sortAsc; else { sortKey = k; sortAsc = k == "base" || k == "fw" || k == "lastError"; }
      document.querySelectorAll("#vt-head span").forEach(function (x) { x.className = ""; });
      h.className = "sorted" + (sortAsc ? " asc" : "");
      refreshFleet();
    });
  });
  document.querySelector('#vt-head span[data-sort="trouble"]').className = "sorted";
  setInterval(function () { if (!current) renderRows(); else ages(); }, 1000);

  // ------------------------------------------------------------------------------ board view
  function showBoard(d, full) {
    if (!d) { $("b-missing").hidden = false; return; }
    $("b-missing").hidden = true;
    board = d;
    var r = d.row;
    $("b-title").textContent = d.base + (r.name && r.name != r.id ? " · " + r.name : "");
    var st = $("b-state");
    st.className = "state " + r.state.replace(" ", "-");
    st.textContent = r.state;
    facts($("b-identity"), d.info ? [
      ["client id", d.info.id], ["firmware", d.info.fw], ["hash", d.info.alg + " " + d.info.hash], ["board", d.info.board],
      ["boot", d.info.boot + (d.info.why ? ": " + d.info.why : "")], ["config hash", d.info.cfg], ["storage free", d.info.free + " bytes"],
      ["remote", d.info.remote ? "takes commands" : "no"], ["status topic", d.statusTopic],
    ] : [["identity", "no <base>/info yet"], ["status topic", d.statusTopic]]);
    var g = d.diag;
    facts($("b-diag"), g ? [
      ["free variables", g.vars_free + " of " + g.vars_total], ["uptime", g.uptime + " s"], ["RSSI", g.rssi === null ? "—" : g.rssi + " dBm"],
      ["reconnects", g.reconnects], ["sent / received", g.sent + " / " + g.received], ["dropped / oversize", g.dropped + " / " + g.oversize],
      ["storage free", g.storage_free + " bytes"], ["last error", g.last_error || "none"], ["diag", ago(d.diagAt, Date.now())],
    ] : [["diagnostics", "no <base>/diag yet"]]);
    var errs = [];
    if (d.configErrors) errs.push("config errors:\n" + d.configErrors);
    if (d.rejected) errs.push("command rejected: " + d.rejected.text);
    $("b-errors").hidden = !errs.length;
    $("b-errors").textContent = errs.join("\n");
    sensors(d, full);
    actuators(d);
    configPanel(d);
  }

  function facts(dl, list) {
    dl.innerHTML = "";
    list.forEach(function (p) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = p[0]; dd.textContent = p[1] === undefined ? "—" : p[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
  }

  function card(container, attr, name) {
    var el = container.querySelector("[" + attr + '="' + CSS.escape(name) + '"]');
    if (!el) {
      el = document.createElement("div");
      el.className = "card";
      el.setAttribute(attr, name);
      container.appendChild(el);
    }
    return el;
  }

  function sensors(d, full) {
    var box = $("b-sensors");
    if (full) { box.innerHTML = ""; for (var k in charts) { charts[k].u.destroy(); delete charts[k]; } }
    // An echo seen before the discovery looked like a sensor: once the board says it is an actuator, its
    // card goes from here.
    d.actuators.forEach(function (a) {
      var el = box.querySelector('[data-sensor="' + CSS.escape(a.name) + '"]');
      if (el) { if (charts[a.name]) { charts[a.name].u.destroy(); delete charts[a.name]; } el.remove(); }
    });
    if (!d.sensors.length) box.textContent = "none seen yet";
    else if (box.firstChild && box.firstChild.nodeType == 3) box.textContent = "";
    d.sensors.forEach(function (s) {
      var el = card(box, "data-sensor", s.name), c = charts[s.name];
      if (!c) {
        el.innerHTML = '<div class="name"></div><div class="value"></div><div class="age"></div><div class="chart"></div>';
        el.querySelector(".name").textContent = s.name;
        var data = [[], []];
        if (s.history) { data[0] = s.history[0].map(function (t) { return t / 1000; }); data[1] = s.history[1]; }
        var u = new uPlot({
          width: 320, height: 130, legend: { show: false }, cursor: { show: false },
          // One point alone would stretch the time axis over years: show a minute around it.
          // No point yet: the last minute.
          scales: { x: { time: true, range: function (u, min, max) {
            if (min == null || max == null) { var t = Date.now() / 1000; return [t - 60, t]; }
            return min == max ? [min - 30, max + 30] : [min, max];
          } } },
          series: [{}, { label: s.name, stroke: "#2f6fd1", width: 1.5, points: { show: false } }],
          axes: [{ size: 28 }, { size: 44 }],
        }, data, el.querySelector(".chart"));
        c = charts[s.name] = { u: u, data: data };
      }
      if (s.points) {
        for (var i = 0; i < s.points[0].length; i++) { c.data[0].push(s.points[0][i] / 1000); c.data[1].push(s.points[1][i]); }
        if (c.data[0].length > MAX_POINTS) { c.data[0].splice(0, c.data[0].length - MAX_POINTS); c.data[1].splice(0, c.data[1].length - MAX_POINTS); }
        c.u.setData(c.data);
      }
      el.querySelector(".value").textContent = s.text === undefined ? "—" : s.text + (s.unit ? " " + s.unit : "");
      el.dataset.at = s.at || "";
    });
    ages();
  }

  function ages() {
    var now = Date.now();
    document.querySelectorAll("[data-sensor], [data-actuator]").forEach(function (el) {
      var a = el.querySelector(".age");
      if (a) a.textContent = el.dataset.at ? ago(+el.dataset.at, now) : "no value yet";
    });
  }

  function actuators(d) {
    var box = $("b-actuators");
    if (!d.actuators.length) { box.textContent = "none known yet (from Home Assistant discovery, or once commanded)"; return; }
    if (box.firstChild && box.firstChild.nodeType == 3) box.textContent = "";
    d.actuators.forEach(function (a) {
      var el = card(box, "data-actuator", a.name);
      if (!el.firstChild) {
        el.innerHTML = '<div class="name"></div><div class="control"></div><div class="echo"></div><div class="age"></div>';
        el.querySelector(".name").textContent = a.name + " (" + a.type + ")";
        var ctl = el.querySelector(".control");
        if (a.type == "pwm") {
          ctl.innerHTML = '<input type="range" min="0" max="1" step="0.01"> <output></output>';
          var range = ctl.querySelector("input");
          range.addEventListener("input", function () { ctl.querySelector("output").textContent = range.value; });
          range.addEventListener("change", function () { command(a.name, range.value); });
        } else if (a.type == "digital") {
          ctl.innerHTML = '<button class="toggle"></button>';
          ctl.querySelector("button").addEventListener("click", function () { command(a.name, this.classList.contains("on") ? "0" : "1"); });
        } else {
          ctl.innerHTML = '<input type="text" size="8" placeholder="value"> <button>send</button>';
          ctl.querySelector("button").addEventListener("click", function () { command(a.name, ctl.querySelector("input").value); });
        }
      }
      var on = a.text !== undefined && Number(a.text) > 0;
      var btn = el.querySelector("button.toggle");
      if (btn) { btn.classList.toggle("on", on); btn.textContent = a.text === undefined ? "?" : on ? "ON" : "OFF"; }
      var range2 = el.querySelector("input[type=range]");
      if (range2 && document.activeElement != range2 && a.text !== undefined) { range2.value = a.text; el.querySelector("output").textContent = a.text; }
      if (pendingCmd[a.name] !== undefined && a.at && a.at >= pendingCmd[a.name].at) delete pendingCmd[a.name];
      el.querySelector(".echo").textContent = "echoed state: " + (a.text === undefined ? "none yet" : a.text) +
        (pendingCmd[a.name] !== undefined ? " (sent " + pendingCmd[a.name].value + ", waiting for the echo)" : "");
      el.dataset.at = a.at || "";
      el.dataset.state = a.text === undefined ? "" : a.text;
    });
  }

  function post(url, body, raw) {
    return fetch(url, { method: "POST", headers: { "content-type": raw ? "application/octet-stream" : "application/json" }, body: raw ? body : JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || (j.errors || []).join("; ") || r.statusText); return j; }); });
  }

  function command(name, value) {
    pendingCmd[name] = { value: value, at: Date.now() };
    post("/api/set", { base: current, name: name, value: String(value) }).catch(function (e) { pendingCmd[name] = undefined; alert(e.message); });
    if (board) actuators(board);
  }

  // ------------------------------------------------------------------------------ config and OTA
  var validateTimer = null, configOk = false, validation = 0, configShown = false;
  function configPanel(d) {
    var why = remote.available ? "" : "Config push and OTA are unavailable: " + remote.why + ". Edit and validate here; nothing is sent.";
    if (remote.available && !(d.info && d.info.remote)) why = "This board does not take remote commands (mote.json has no \"remote\").";
    $("config-note").textContent = why;
    $("ota-note").textContent = why;
    var usable = remote.available && d.info && d.info.remote;
    $("config-load").disabled = !usable;
    $("ota-start").disabled = !usable;
    $("config-push").dataset.usable = usable ? "1" : "";
    // A starting point the first time (the board's own config comes with "Load from board").
    if (!$("config-text").value && !configShown) {
      $("config-text").value = JSON.stringify({ wifi: { ssid: "", password: "" }, mqtt: { host: "" }, base: d.base, sensors: [], actuators: [] }, null, 2);
      configShown = true;
      validate();
    } else pushState();
  }
  function validate() {
    var text = $("config-text").value, list = $("config-errors"), cfg, mine = ++validation;
    list.innerHTML = "";
    configOk = false;
    try { cfg = JSON.parse(text); } catch (e) { item(list, "not JSON: " + e.message); return pushState(); }
    post("/api/validate", { config: cfg, board: board && board.info ? board.info.board : undefined }).then(function (r) {
      if (mine != validation) return; // the text changed since: a newer answer is coming
      list.innerHTML = "";
      r.errors.forEach(function (e) { item(list, e); });
      configOk = !r.errors.length;
      $("config-state").textContent = configOk ? "valid for " + (board && board.info ? board.info.board : "any board") : "";
      pushState();
    }).catch(function (e) { item(list, "cannot validate: " + e.message); });
  }
  function pushState() { $("config-push").disabled = !(configOk && $("config-push").dataset.usable); }
  function item(list, text) { var li = document.createElement("li"); li.textContent = text; list.appendChild(li); }
  $("config-text").addEventListener("input", function () { clearTimeout(validateTimer); validateTimer = setTimeout(validate, 300); });
  $("config-load").addEventListener("click", function () {
    fetch("/api/config?base=" + encodeURIComponent(current) + "&key=" + encodeURIComponent($("key").value))
      .then(function (r) { return r.json(); })
      .then(function (j) { if (j.error) throw new Error(j.error); $("config-text").value = JSON.stringify(j.result, null, 2); validate(); })
      .catch(function (e) { $("config-state").textContent = "load failed: " + e.message; });
  });
  $("config-push").addEventListener("click", function () {
    $("config-state").textContent = "sending…";
    post("/api/config", { base: current, config: JSON.parse($("config-text").value), key: $("key").value || undefined })
      .then(function () { $("config-state").textContent = "pushed"; })
      .catch(function (e) { $("config-state").textContent = "push failed: " + e.message; });
  });
  $("ota-start").addEventListener("click", function () {
    var f = $("ota-file").files[0];
    if (!f) { $("ota-state").textContent = "choose a bundle (firmware/mote.js) first"; return; }
    $("ota-progress").value = 0;
    $("ota-state").textContent = "starting…";
    f.arrayBuffer().then(function (buf) {
      return post("/api/ota?base=" + encodeURIComponent(current) + "&key=" + encodeURIComponent($("key").value), buf, true);
    }).then(function () { $("ota-state").textContent = "done"; }).catch(function (e) { $("ota-state").textContent = "failed: " + e.message; });
  });
  function remoteEvent(r) {
    if (r.op == "ota" && r.total) { $("ota-progress").value = r.done / r.total; $("ota-state").textContent = r.done + " / " + r.total + " bytes"; }
    else if (r.op == "config push" && r.state) $("config-state").textContent = r.state;
    if (r.finished && !r.ok) $(r.op == "ota" ? "ota-state" : "config-state").textContent = "failed: " + r.error;
  }

  // ------------------------------------------------------------------------------ routing
  function route() {
    var m = /^#\/board\/(.+)$/.exec(location.hash);
    var next = m ? decodeURIComponent(m[1]) : null;
    $("fleet-view").hidden = !!next;
    $("board-view").hidden = !next;
    if (next !== current) {
      current = next;
      board = null;
      pendingCmd = {};
      configShown = false;
      $("b-sensors").innerHTML = ""; $("b-actuators").innerHTML = ""; $("config-text").value = "";
      for (var k in charts) { charts[k].u.destroy(); delete charts[k]; }
      if (next) $("b-title").textContent = next;
      connect();
    }
    if (!next) refreshFleet();
  }
  window.addEventListener("hashchange", route);
  current = undefined;
  route();
})();
