// patchflow studio: the page over the studio's JSON API (docs/guide/studio.md). No libraries, no other hosts.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
let macroFor = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function show(panel) {
  document.querySelectorAll(".panel").forEach((p) => p.classList.toggle("active", p.id === `panel-${panel}`));
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.panel === panel));
  if (panel === "explore") loadMap();
}

async function loadInfo() {
  info = await (await fetch("/api/info")).json();
  $("info").textContent = `${info.synth} · ${info.model} · ${info.run}`;
  $("limits").textContent = `up to ${Math.round(info.max_upload_bytes / 1e6)} MB and ${info.max_seconds} s; ` +
    `${info.budget} s of refinement; the ${info.top} best candidates`;
}

// ------------------------------------------------------------------ match
function card(title, id, { target = false, distance = null, preset = false } = {}) {
  const c = el("div", { class: target ? "card target" : "card", "data-id": id });
  c.append(el("h3", {}, title + (distance === null ? "" : ` · ${distance.toFixed(3)}`)));
  c.append(el("img", { src: `/api/spectrogram/${id}.png`, alt: `spectrogram of ${title}` }));
  c.append(el("audio", { controls: "", preload: "auto", src: `/api/audio/${id}.wav` }));
  if (preset) {
    const links = el("div");
    links.append(el("a", { href: `/api/preset/${id}${info.preset_suffix}`, download: "" }, `download ${info.preset_suffix}`));
    links.append(el("button", { onclick: () => openMacro(id, title) }, "macro-knobs"));
    c.append(links);
  }
  return c;
}

async function match(file) {
  $("stages").replaceChildren();
  $("results").replaceChildren();
  const status = $("match-status");
  status.className = "";
  status.textContent = `matching ${file.name}...`;
  const form = new FormData();
  form.append("audio", file);
  const started = performance.now();
  const response = await fetch("/api/match", { method: "POST", body: form });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ error: response.statusText }));
    status.className = "error";
    status.textContent = `${response.status}: ${body.error}`;
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 1);
      if (line) handle(JSON.parse(line), started);
    }
    if (done) break;
  }
}

function handle(event, started) {
  const status = $("match-status");
  if (event.event === "stage") {
    $("stages").append(el("li", {}, event.text));
  } else if (event.event === "error") {
    status.className = "error";
    status.textContent = event.error;
  } else if (event.event === "result") {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    status.textContent = `done in ${seconds} s: ${event.metric} ${event.candidates[0].distance.toFixed(3)}, ` +
      `played at MIDI note ${event.note}`;
    $("stages").replaceChildren(...event.stages.map((s) =>
      el("li", {}, `${s.stage}: ${event.metric} ${s.distance.toFixed(4)} (${s.renders} renders, ${s.seconds.toFixed(1)} s)`)));
    const results = $("results");
    results.append(card("target", event.target.id, { target: true }));
    for (const c of event.candidates) {
      results.append(card(`#${c.rank} ${c.name} (${c.origin})`, c.id, { distance: c.distance, preset: true }));
    }
    document.body.dataset.matched = "1";
  }
}

function setupDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => e.target.files[0] && match(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) match(e.dataTransfer.files[0]);
  });
}

// ------------------------------------------------------------------ macro-knobs
async function openMacro(id, title) {
  show("macro");
  macroFor = id;
  const status = $("macro-status");
  status.className = "";
  status.textContent = `ranking the latent dimensions by audible change for ${title}...`;
  $("macro-knobs").replaceChildren();
  const response = await fetch(`/api/macro/${id}`);
  const body = await response.json();
  if (!response.ok) { status.className = "error"; status.textContent = body.error; return; }
  status.textContent = `${title}: dimensions ranked by audible change (encoded by ${body.encoded_by}); ` +
    "release a knob to hear a 2 s preview";
  for (const d of body.dimensions) {
    const out = el("span", {}, d.value.toFixed(2));
    // the prior is a standard normal, but a preset's own code (through the inverse flow) may lie further out
    const low = Math.floor(Math.min(-3, d.value - 3)), high = Math.ceil(Math.max(3, d.value + 3));
    const slider = el("input", { type: "range", min: String(low), max: String(high), step: "0.05",
      value: String(d.value),
      "data-dim": String(d.dim) });
    slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(2); });
    slider.addEventListener("change", () => renderMacro());
    $("macro-knobs").append(el("div", { class: "knob" },
      el("label", { title: d.moving.join(", ") }, `${d.label} (${d.audio_variance.toFixed(1)} dB²)`), slider, out));
  }
}

async function renderMacro() {
  const values = {};
  document.querySelectorAll("#macro-knobs input").forEach((s) => { values[s.dataset.dim] = Number(s.value); });
  const started = performance.now();
  const response = await fetch(`/api/macro/${macroFor}/render`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ values }) });
  const body = await response.json();
  if (!response.ok) { $("macro-latency").textContent = body.error; return; }
  const audio = $("macro-audio");
  audio.src = `/api/audio/${body.id}.wav`;
  audio.addEventListener("canplay", () => {
    const total = performance.now() - started;
    $("macro-latency").textContent = `render ${body.render_ms.toFixed(0)} ms; release to playable ${total.toFixed(0)} ms`;
    document.body.dataset.macroMs = total.toFixed(0);
    audio.play().catch(() => {});
  }, { once: true });
}

// ------------------------------------------------------------------ explore
let points = null;
let bounds = null;

async function loadMap() {
  if (points) return;
  const body = await (await fetch("/api/map")).json();
  points = body.points;
  if (!points.length) { $("explore-status").textContent = `no map: ${body.reason}`; return; }
  const pct = body.explained_variance.map((v) => `${(100 * v).toFixed(0)}%`).join(" + ");
  $("explore-status").textContent = `${points.length} training presets on the first two principal components of ` +
    `their latent codes (PCA, ${pct} of the variance). Hover names a preset; click plays it.`;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  bounds = { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
  drawMap(null);
}

function place(p, canvas) {
  const pad = 16;
  const sx = (canvas.width - 2 * pad) / ((bounds.x1 - bounds.x0) || 1);
  const sy = (canvas.height - 2 * pad) / ((bounds.y1 - bounds.y0) || 1);
  return [pad + (p.x - bounds.x0) * sx, canvas.height - pad - (p.y - bounds.y0) * sy];
}

function drawMap(hot) {
  const canvas = $("map");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  for (const p of points) {
    const [x, y] = place(p, canvas);
    g.fillStyle = p === hot ? "#f0a030" : "#7fa8d8";
    g.beginPath();
    g.arc(x, y, p === hot ? 5 : 3, 0, 2 * Math.PI);
    g.fill();
  }
}

function nearest(event) {
  const canvas = $("map");
  const rect = canvas.getBoundingClientRect();
  const mx = (event.clientX - rect.left) * canvas.width / rect.width;
  const my = (event.clientY - rect.top) * canvas.height / rect.height;
  let best = null, bestD = 100;
  for (const p of points || []) {
    const [x, y] = place(p, canvas);
    const d = (x - mx) ** 2 + (y - my) ** 2;
    if (d < bestD) { best = p; bestD = d; }
  }
  return [best, mx, my];
}

function setupMap() {
  const canvas = $("map"), tip = $("map-tip");
  canvas.addEventListener("mousemove", (e) => {
    const [p, mx, my] = nearest(e);
    if (!points || !points.length) return;
    drawMap(p);
    tip.style.display = p ? "block" : "none";
    if (p) { tip.textContent = p.name; tip.style.left = `${mx + 10}px`; tip.style.top = `${my - 10}px`; }
  });
  canvas.addEventListener("click", (e) => {
    const [p] = nearest(e);
    if (!p) return;
    const audio = $("explore-audio");
    audio.src = `/api/store/${p.row}.wav`;
    audio.play().catch(() => {});
    $("explore-status").dataset.playing = p.name;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.panel)));
  setupDrop();
  setupMap();
  loadInfo();
});
