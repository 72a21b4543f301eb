// The shmq dashboard: polls the JSON API every second and redraws the tables and charts.
// Everything comes from this server; names are set as text, never as HTML.
"use strict";

const POLL_MS = 1000;
const HISTORY_SECONDS = 300;
// ?filter=TEXT shows only the queues and topics whose name contains TEXT.
const FILTER = new URLSearchParams(window.location.search).get("filter") || "";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function num(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v !== "number") return String(v);
  return v >= 1e6 ? (v / 1e6).toFixed(2) + "M" : v >= 1e4 ? (v / 1e3).toFixed(1) + "k" : String(v);
}

function rate(v) {
  return v === undefined ? "-" : v >= 1e6 ? (v / 1e6).toFixed(2) + "M" : v >= 1e4 ? (v / 1e3).toFixed(1) + "k" : v.toFixed(v < 10 ? 1 : 0);
}

// Messages that participants whose process is gone took and did not give back.
function heldByDead(q) {
  let held = 0;
  for (const p of q.participant_list || [])
    if (p.alive === false) held += Math.max(0, p.popped - p.acked - p.nacked);
  return held;
}

function lastOf(series, key) {
  const a = series && series[key];
  return a && a.length ? a[a.length - 1] : undefined;
}

function depthBar(depth, capacity) {
  const pct = capacity ? Math.min(100, (100 * depth) / capacity) : 0;
  const fill = el("div");
  fill.style.width = pct.toFixed(1) + "%";
  return el("div", { class: "bar", title: depth + " of " + capacity }, fill, el("span", {}, num(depth) + " / " + num(capacity)));
}

function queueRow(q, series) {
  if (q.error !== undefined) {
    const tr = el("tr", { class: "unreadable", "data-queue": q.name }, el("td", { class: "name" }, q.name));
    tr.append(el("td", { class: "text", colSpan: 10 }, "cannot read: " + q.error));
    return tr;
  }
  const held = heldByDead(q);
  const tr = el("tr", { "data-queue": q.name, class: held > 0 ? "held" : "" });
  tr.append(el("td", { class: "name" }, q.name));
  tr.append(el("td", { class: "text" }, q.kind));
  const depth = el("td", { class: "depth", "data-depth": q.depth }, depthBar(q.depth, q.capacity));
  tr.append(depth);
  tr.append(el("td", { class: "in-rate" }, rate(lastOf(series, "in_rate"))));
  tr.append(el("td", { class: "out-rate" }, rate(lastOf(series, "out_rate"))));
  tr.append(el("td", {}, num(q.in_flight)));
  tr.append(el("td", {}, num(q.participants)));
  const dead = el("td", { class: q.dead ? "alert" : "" }, num(q.dead));
  if (held > 0) dead.append(el("span", { class: "badge", title: "messages held by dead participants: POST /api/queues/" + q.name + "/repair or 'shmq repair " + q.name + "' gives them back" }, held + " held"));
  tr.append(dead);
  tr.append(el("td", { class: q.dead_lettered ? "alert" : "" }, num(q.dead_lettered)));
  tr.append(el("td", {}, num(q.recovered)));
  tr.append(el("td", {}, num(q.expired)));
  return tr;
}

function topicRows(t, series) {
  const rows = [];
  const head = el("tr", { class: "topic", "data-topic": t.name });
  head.append(el("td", { class: "name" }, t.name));
  head.append(el("td", { class: "text" }, t.policy));
  head.append(el("td", {}, num(t.published)));
  head.append(el("td", {}, rate(lastOf(series, "in_rate"))));
  head.append(el("td", {}, num(t.members)));
  head.append(el("td", {}, num(t.max_lag)));
  head.append(el("td", { class: t.lost ? "alert" : "" }, num(t.lost)));
  head.append(el("td", { class: t.dead ? "alert" : "" }, num(t.dead)));
  rows.push(head);
  for (const g of t.group_list || []) {
    const tr = el("tr", { class: "group", "data-topic": t.name, "data-group": g.group });
    tr.append(el("td", { class: "name" }, g.group));
    tr.append(el("td", { class: "text" }, g.pattern));
    tr.append(el("td", {}, num(g.delivered)));
    tr.append(el("td", {}, ""));
    tr.append(el("td", {}, num(g.members)));
    tr.append(el("td", { class: "lag", "data-lag": g.lag }, num(g.lag)));
    tr.append(el("td", { class: g.lost ? "alert" : "" }, num(g.lost)));
    tr.append(el("td", {}, g.gating ? "gating" : ""));
    rows.push(tr);
  }
  return rows;
}

// A chart of depth (left axis) and in/out rates (right axis) over the kept history.
function drawChart(canvas, s) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 360, h = canvas.clientHeight || 140;
  canvas.width = w * ratio;
  canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  const pad = { l: 44, r: 44, t: 6, b: 16 };
  const t = s.t;
  if (!t.length) return;
  const t0 = t[0], t1 = Math.max(t[t.length - 1], t0 + 1);
  const maxDepth = Math.max(1, ...s.depth);
  const maxRate = Math.max(1, ...s.in_rate, ...s.out_rate);
  const x = (v) => pad.l + ((v - t0) / (t1 - t0)) * (w - pad.l - pad.r);
  const y = (v, max) => h - pad.b - (v / max) * (h - pad.t - pad.b);
  g.strokeStyle = "#dde1e8";
  g.lineWidth = 1;
  g.beginPath();
  for (let i = 0; i <= 4; i++) {
    const yy = pad.t + (i * (h - pad.t - pad.b)) / 4;
    g.moveTo(pad.l, yy);
    g.lineTo(w - pad.r, yy);
  }
  g.stroke();
  const line = (vals, max, color) => {
    g.strokeStyle = color;
    g.lineWidth = 1.6;
    g.beginPath();
    vals.forEach((v, i) => (i ? g.lineTo(x(t[i]), y(v, max)) : g.moveTo(x(t[i]), y(v, max))));
    g.stroke();
  };
  line(s.in_rate, maxRate, "#2e9d4f");
  line(s.out_rate, maxRate, "#ef8a17");
  line(s.depth, maxDepth, "#3b6fd8");
  g.fillStyle = "#6b7385";
  g.font = "10px sans-serif";
  g.textAlign = "right";
  g.fillText(num(maxDepth), pad.l - 4, pad.t + 8);
  g.fillText("0", pad.l - 4, h - pad.b);
  g.textAlign = "left";
  g.fillText(rate(maxRate) + "/s", w - pad.r + 4, pad.t + 8);
  g.fillText(Math.round((t1 - t0) / 1000) + " s", pad.l, h - 3);
}

const charts = new Map();

// At most MAX_CHARTS charts: queues whose dead participants hold messages first, then the
// busiest (rates over the history, then depth); the others are in the table only.
const MAX_CHARTS = 30;

function activity(q, s) {
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  return [heldByDead(q) > 0 ? 1 : 0, sum(s.in_rate) + sum(s.out_rate), q.depth];
}

function updateCharts(queues, history) {
  const box = document.getElementById("charts");
  const seen = new Set();
  const ranked = queues
    .filter((q) => q.error === undefined && history.has(q.name))
    .map((q) => [q, activity(q, history.get(q.name))])
    .sort((a, b) => b[1][0] - a[1][0] || b[1][1] - a[1][1] || b[1][2] - a[1][2] || (a[0].name < b[0].name ? -1 : 1));
  document.getElementById("chart-count").textContent =
    ranked.length > MAX_CHARTS ? "(the " + MAX_CHARTS + " busiest of " + ranked.length + ")" : "";
  for (const [q] of ranked.slice(0, MAX_CHARTS)) {
    const s = history.get(q.name);
    seen.add(q.name);
    let c = charts.get(q.name);
    if (!c) {
      const canvas = el("canvas", {});
      const title = el("h3", {}, q.name);
      c = { div: el("div", { class: "chart", "data-queue": q.name }, title, canvas), canvas, title };
      charts.set(q.name, c);
      box.append(c.div);
    }
    c.div.classList.toggle("held", heldByDead(q) > 0);
    c.title.textContent = q.name + "  depth " + q.depth + ", in " + rate(lastOf(s, "in_rate")) + "/s, out " + rate(lastOf(s, "out_rate")) + "/s";
    drawChart(c.canvas, s);
  }
  for (const [name, c] of charts)
    if (!seen.has(name)) {
      c.div.remove();
      charts.delete(name);
    }
  for (const name of [...seen].sort()) box.append(charts.get(name).div); // by name
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    let [queues, topics, hist] = await Promise.all([
      getJSON("/api/queues"), getJSON("/api/topics"), getJSON("/api/history?seconds=" + HISTORY_SECONDS)]);
    queues = queues.filter((q) => q.name.includes(FILTER));
    topics = topics.filter((t) => t.name.includes(FILTER));
    const history = new Map(hist.series.map((s) => [s.name, s]));
    const qb = document.querySelector("#queues tbody");
    qb.replaceChildren(...queues.map((q) => queueRow(q, history.get(q.name))));
    document.getElementById("no-queues").hidden = queues.length > 0;
    document.getElementById("queue-count").textContent = "(" + queues.length + ")";
    const tb = document.querySelector("#topics tbody");
    tb.replaceChildren(...topics.flatMap((t) => topicRows(t, history.get(t.name))));
    document.getElementById("no-topics").hidden = topics.length > 0;
    document.getElementById("topic-count").textContent = "(" + topics.length + ")";
    updateCharts(queues, history);
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.classList.remove("error");
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (e) {
    status.textContent = "cannot reach the server: " + e.message;
    status.classList.add("error");
  }
}

if (FILTER) document.getElementById("filter").textContent = "showing names with \u201c" + FILTER + "\u201d";
refresh();
setInterval(refresh, POLL_MS);
