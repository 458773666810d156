/**
 * The live status page served at `/`: one self-contained HTML document (inline style and script, no build
 * step, no dependency) that reads `/events` (server-sent events) and, after each, `/status` and `/health`.
 * Every value goes into the page as text (`textContent`), never as markup. States are words and symbols,
 * so the page reads the same without colour; tables have headers and the summary is a live region.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ordo status</title>
<style>
:root { color-scheme: light dark; --fg: #111; --bg: #fff; --muted: #4a4a4a; --line: #c8c8c8;
  --ok: #0b6b2f; --bad: #a30d0d; --run: #0b4f8a; --warn: #7a4b00; }
@media (prefers-color-scheme: dark) { :root { --fg: #f2f2f2; --bg: #111; --muted: #c4c4c4; --line: #555;
  --ok: #7ee2a0; --bad: #ff9a9a; --run: #9cc9ff; --warn: #ffd27a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 72rem; margin: 0 auto; padding: 0.75rem 1rem; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.3rem; margin: 0; } h2 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
#connection { color: var(--muted); margin: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; } td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td[class^="s-"] { white-space: nowrap; }
code { font: 0.9em ui-monospace, monospace; overflow-wrap: anywhere; }
.s-committed, .s-completed, .s-succeeded { color: var(--ok); }
.s-failed { color: var(--bad); font-weight: 600; }
.s-running, .s-claimed { color: var(--run); }
.s-cancelled, .s-skipped, .s-warning, .s-critical, .s-emergency { color: var(--warn); }
.empty { color: var(--muted); }
a:focus-visible, button:focus-visible { outline: 3px solid var(--run); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
</style>
</head>
<body>
<header>
  <h1>ordo</h1>
  <p id="connection" role="status">connecting…</p>
</header>
<main>
  <section aria-labelledby="feature-heading">
    <h2 id="feature-heading">Feature</h2>
    <dl id="summary" aria-live="polite">
      <dt>Name</dt><dd id="f-name" class="empty">nothing has run yet</dd>
      <dt>State</dt><dd id="f-state">–</dd>
      <dt>Tasks</dt><dd id="f-tasks">–</dd>
      <dt>Duration</dt><dd id="f-duration">–</dd>
      <dt>Trace digest</dt><dd><code id="f-digest">–</code></dd>
    </dl>
  </section>
  <section aria-labelledby="system-heading">
    <h2 id="system-heading">Memory and queue</h2>
    <dl>
      <dt>Memory</dt><dd id="m-level">–</dd>
      <dt>Queue depth</dt><dd id="q-depth">–</dd>
    </dl>
  </section>
  <section aria-labelledby="levels-heading">
    <h2 id="levels-heading">Levels</h2>
    <table id="levels"><thead><tr><th scope="col">Level</th><th scope="col">State</th>
      <th scope="col">Tasks done</th><th scope="col">Duration</th></tr></thead><tbody></tbody></table>
  </section>
  <section aria-labelledby="tasks-heading">
    <h2 id="tasks-heading">Tasks</h2>
    <table id="tasks"><thead><tr><th scope="col">Task</th><th scope="col">Level</th><th scope="col">State</th>
      <th scope="col">Duration</th><th scope="col">Worker</th><th scope="col">Error</th></tr></thead><tbody></tbody></table>
  </section>
  <section aria-labelledby="workers-heading">
    <h2 id="workers-heading">Workers</h2>
    <table id="workers"><thead><tr><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Uptime</th>
      <th scope="col">Tasks done</th><th scope="col">Failed</th><th scope="col">Mean task</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
var SYMBOL = { committed: "✓", completed: "✓", succeeded: "✓", failed: "✗", running: "▶", claimed: "▶",
  waiting: "…", pending: "…", skipped: "↷", cancelled: "⊘", normal: "✓", warning: "!", critical: "!!",
  emergency: "!!!", exited: "■", alive: "▶" };
function dict() { return Object.create(null); }
var state = { feature: null, status: null, digest: null, levels: dict(), tasks: dict(), order: [], memory: null,
  startedAt: null };
var metrics = null, health = null, pending = false, frame = 0;

function el(id) { return document.getElementById(id); }
function text(node, value, cls) { node.textContent = value; if (cls !== undefined) node.className = cls; }
function label(s) { return (SYMBOL[s] ? SYMBOL[s] + " " : "") + s; }
function ms(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1000) return Math.round(value) + " ms";
  if (value < 60000) return (value / 1000).toFixed(1) + " s";
  return Math.floor(value / 60000) + " min " + Math.round((value % 60000) / 1000) + " s";
}
function task(id, level) {
  if (!state.tasks[id]) { state.tasks[id] = { id: id, level: level, state: "waiting", worker: null,
    error: null, durationMs: null }; state.order.push(id); }
  return state.tasks[id];
}

function apply(ev) {
  switch (ev.type) {
    case "feature-start":
      state = { feature: ev.feature, status: "running", digest: null, levels: dict(), tasks: dict(), order: [],
        memory: state.memory, startedAt: Date.now() };
      break;
    case "level-start":
      state.levels[ev.level] = { state: "running" };
      ev.tasks.forEach(function (id) { task(id, ev.level); });
      break;
    case "task-start": var t = task(ev.taskId, ev.level); t.state = "running"; t.worker = ev.workerId; break;
    case "task-committed": var c = task(ev.taskId, ev.level); c.state = "committed"; c.durationMs = ev.durationMs; break;
    case "task-failed":
      var f = task(ev.taskId, ev.level);
      f.state = ev.code === "TASK_CANCELLED" ? "cancelled" : "failed";
      f.error = { code: ev.code, message: ev.message };
      break;
    case "task-skipped": var k = task(ev.taskId, ev.level); k.state = "skipped"; k.error = { code: ev.reason, message: "" }; break;
    case "level-end": state.levels[ev.level] = { state: ev.status }; break;
    case "feature-end": state.status = ev.status; state.digest = ev.traceDigest; break;
  }
}

function row(tbody, cells) {
  var tr = document.createElement("tr");
  cells.forEach(function (cell, i) {
    var td = document.createElement(i === 0 ? "th" : "td");
    if (i === 0) td.scope = "row";
    if (cell.code) { var code = document.createElement("code"); code.textContent = cell.code; td.appendChild(code);
      if (cell.title) { td.appendChild(document.createTextNode(" " + cell.title)); } }
    else td.textContent = cell.text === undefined ? String(cell) : cell.text;
    if (cell.cls) td.className = cell.cls;
    tr.appendChild(td);
  });
  tbody.appendChild(tr);
}
function replaceBody(table) { var old = table.tBodies[0]; var body = document.createElement("tbody");
  table.replaceChild(body, old); return body; }

function render() {
  var m = metrics;
  var name = state.feature || (m && m.feature) || null;
  text(el("f-name"), name || "nothing has run yet", name ? "" : "empty");
  var status = state.status || (m ? (m.completedAt ? "completed" : "running") : null);
  text(el("f-state"), status ? label(status) : "–", status ? "s-" + status : "");
  if (m) text(el("f-tasks"), m.completedTasks + " of " + m.totalTasks + " done, " + m.failedTasks + " failed, "
    + m.runningTasks + " running");
  text(el("f-duration"), m ? ms(m.durationMs) : "–");
  text(el("f-digest"), state.digest || "–");
  var mem = state.memory;
  var level = (health && health.memory && health.memory.level) || (mem && mem.level) || null;
  var fraction = (health && health.memory && health.memory.fractionOfLimit);
  if (fraction === undefined && mem) fraction = mem.fractionOfLimit;
  text(el("m-level"), level ? label(level) + (typeof fraction === "number" ? " (" + Math.round(fraction * 100)
    + " % of the limit)" : "") : "–", level ? "s-" + level : "");
  var depth = health && health.queue ? health.queue.depth : null;
  text(el("q-depth"), depth === null || depth === undefined ? "–" : String(depth));

  var levelRows = replaceBody(el("levels"));
  var fromMetrics = dict();
  (m ? m.levels : []).forEach(function (l) { fromMetrics[l.level] = l; });
  var levelIds = Object.keys(state.levels).concat(Object.keys(fromMetrics))
    .filter(function (v, i, a) { return a.indexOf(v) === i; }).map(Number).sort(function (a, b) { return a - b; });
  levelIds.forEach(function (id) {
    var l = fromMetrics[id]; var s = state.levels[id] ? state.levels[id].state : (l ? l.status : "pending");
    row(levelRows, [String(id), { text: label(s), cls: "s-" + s }, l ? l.completed + " of " + l.taskCount : "–",
      { text: l ? ms(l.durationMs) : "–", cls: "num" }]);
  });

  var taskRows = replaceBody(el("tasks"));
  var byId = dict();
  (m ? m.tasks : []).forEach(function (t) { byId[t.taskId] = t; if (!state.tasks[t.taskId]) { task(t.taskId, t.level).state =
    t.status === "completed" ? "committed" : t.status; state.tasks[t.taskId].worker = t.workerId; } });
  state.order.forEach(function (id) {
    var t = state.tasks[id]; var mt = byId[id];
    var duration = t.durationMs !== null ? t.durationMs : (mt ? mt.executionMs : null);
    var error = t.error ? { code: t.error.code, title: t.error.message } : "";
    row(taskRows, [id, String(t.level), { text: label(t.state), cls: "s-" + t.state },
      { text: ms(duration), cls: "num" }, t.worker || (mt && mt.workerId) || "–", error]);
  });

  var workerRows = replaceBody(el("workers"));
  (m ? m.workers : []).forEach(function (w) {
    var s = w.exitedAt ? "exited" : "alive";
    row(workerRows, [w.workerId, { text: label(s), cls: "s-" + s }, { text: ms(w.uptimeMs), cls: "num" },
      { text: String(w.tasksCompleted), cls: "num" }, { text: String(w.tasksFailed), cls: "num" },
      { text: ms(w.avgTaskMs), cls: "num" }]);
  });
}

/** Renders at most once a frame, however many events arrive (a page that opens late replays a whole run). */
function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(function () { frame = 0; render(); });
}

function getJson(path) {
  return fetch(path, { headers: { accept: "application/json" } }).then(function (r) {
    return r.status === 404 ? null : r.json(); }).catch(function () { return null; });
}
function refresh() {
  if (pending) return;
  pending = true;
  setTimeout(function () {
    Promise.all([getJson("status"), getJson("health")]).then(function (both) {
      pending = false; metrics = both[0]; health = both[1]; schedule();
    });
  }, 150);
}

var source = new EventSource("events");
source.addEventListener("open", function () { text(el("connection"), "live"); });
source.addEventListener("error", function () { text(el("connection"), "reconnecting…"); });
source.addEventListener("feature", function (e) { apply(JSON.parse(e.data)); schedule(); refresh(); });
source.addEventListener("memory", function (e) { state.memory = JSON.parse(e.data); schedule(); refresh(); });
refresh();
</script>
</body>
</html>
`;
