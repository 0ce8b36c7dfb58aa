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
  $("bank").replaceChildren();
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
    $("bank").replaceChildren(el("a", { href: `/api/bank/${event.bank.id}${info.preset_suffix}`, download: "" },
      `download the ${event.bank.count} candidates as one bank (${info.preset_suffix})`));
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

// The microphone: Web Audio captures the samples, the page writes them as a 16-bit WAV (any browser's
// MediaRecorder gives compressed audio the server does not decode), and the WAV is matched like a chosen file.
let recording = null;

function wavFile(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * length, true);
  let at = 44;
  for (const c of chunks) for (const v of c) { view.setInt16(at, Math.max(-1, Math.min(1, v)) * 32767, true); at += 2; }
  return new File([view.buffer], "recording.wav", { type: "audio/wav" });
}

async function toggleRecord() {
  const button = $("record");
  if (recording) { recording.stop(); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    $("match-status").className = "error";
    $("match-status").textContent = `no microphone: ${e.message}`;
    return;
  }
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const tap = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  const limit = Math.min(info.max_seconds, 30) * context.sampleRate;
  let kept = 0;
  tap.onaudioprocess = (e) => {
    const samples = new Float32Array(e.inputBuffer.getChannelData(0));
    chunks.push(samples);
    kept += samples.length;
    if (kept >= limit && recording) recording.stop();
  };
  source.connect(tap);
  tap.connect(context.destination);
  const timer = setTimeout(() => recording && recording.stop(), 60_000);
  recording = {
    stop: () => {
      clearTimeout(timer);
      recording = null;
      source.disconnect(); tap.disconnect();
      stream.getTracks().forEach((t) => t.stop());
      context.close();
      button.textContent = "record from the microphone";
      document.body.dataset.recorded = String(kept / context.sampleRate);
      match(wavFile(chunks, context.sampleRate));
    },
  };
  button.textContent = "stop recording and match";
  $("match-status").className = "";
  $("match-status").textContent = "recording... (press again to stop)";
}

// ------------------------------------------------------------------ macro-knobs
function setDownload(id) {
  const link = $("macro-download");
  link.href = `/api/preset/${id}${info.preset_suffix}`;
  link.hidden = false;
}

async function openPresetFile(file) {
  const form = new FormData();
  form.append("preset", file);
  const index = Math.max(0, Math.floor(Number($("preset-index").value) || 0));
  const response = await fetch(`/api/preset?index=${index}`, { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) {
    $("macro-status").className = "error";
    $("macro-status").textContent = `${response.status}: ${body.error}`;
    return;
  }
  openMacro(body.id, `${body.name} (voice ${body.index} of ${body.voices.length} in ${file.name})`);
}

async function openMacro(id, title) {
  show("macro");
  macroFor = id;
  setDownload(id);
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
  setDownload(body.id);
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
let tagPairs = [];
let colourOf = () => "#7fa8d8";
let ends = [];  // the chosen presets A and B of the latent path
let lastClicked = null;
const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
  "#bcf60c", "#fabebe"];

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
  tagPairs = body.tag_pairs || [];
  const select = $("map-colour");
  tagPairs.forEach((pair, k) => select.append(el("option", { value: `tag:${k}` }, `tag ${pair}`)));
  drawMap(null);
}

// Colours: a tag pair's sides (and unknown), or the most common source folders or files (the rest "other").
function recolour() {
  const how = $("map-colour").value;
  const legend = $("map-legend");
  legend.replaceChildren();
  const swatch = (colour, label) => legend.append(el("span", { class: "swatch" },
    el("i", { style: `background:${colour}` }), label));
  if (!how) {
    colourOf = () => "#7fa8d8";
  } else if (how.startsWith("tag:")) {
    const k = Number(how.slice(4));
    const [first, second] = tagPairs[k].split("/").map((s) => s.trim());  // +1 is the first side, -1 the second
    const colours = { "1": "#ff9f40", "-1": "#4aa3ff", "0": "#666" };
    colourOf = (p) => colours[String(p.tags[k])];
    swatch(colours["1"], first || "+1"); swatch(colours["-1"], second || "-1"); swatch(colours["0"], "unknown");
  } else {
    const counts = new Map();
    for (const p of points) counts.set(p[how], (counts.get(p[how]) || 0) + 1);
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, PALETTE.length - 1).map((e) => e[0]);
    const index = new Map(top.map((name, i) => [name, i]));
    colourOf = (p) => (index.has(p[how]) ? PALETTE[index.get(p[how])] : "#888");
    top.forEach((name, i) => swatch(PALETTE[i], name || "(none)"));
    if (counts.size > top.length) swatch("#888", "other");
  }
  document.body.dataset.colouredBy = how;
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
    g.fillStyle = p === hot ? "#ffffff" : colourOf(p);
    g.beginPath();
    g.arc(x, y, p === hot ? 5 : 3, 0, 2 * Math.PI);
    g.fill();
  }
  g.font = "bold 13px system-ui, sans-serif";
  g.strokeStyle = g.fillStyle = "#ffffff";
  if (ends.length === 2) {  // the path is straight in the latent space, not necessarily on this projection
    g.setLineDash([4, 4]);
    g.beginPath();
    g.moveTo(...place(ends[0], canvas));
    g.lineTo(...place(ends[1], canvas));
    g.stroke();
    g.setLineDash([]);
  }
  ends.forEach((p, k) => {
    const [x, y] = place(p, canvas);
    g.beginPath();
    g.arc(x, y, 7, 0, 2 * Math.PI);
    g.stroke();
    g.fillText(k ? "B" : "A", x > canvas.width - 30 ? x - 20 : x + 9, y - 7);
  });
}

function choose(p) {
  ends = ends.length === 2 ? [p] : [...ends, p];
  const names = ends.map((e, k) => `${k ? "B" : "A"}: ${e.name}`).join(" · ");
  $("path-ends").textContent = ends.length === 2 ? `${names}. Move the slider: release renders and plays the step.`
    : `${names}. Click a second preset for B.`;
  $("path-t").disabled = ends.length !== 2;
}

async function renderPath() {
  const [a, b] = ends;
  const t = Number($("path-t").value);
  $("path-value").textContent = t.toFixed(2);
  const started = performance.now();
  const response = await fetch("/api/path", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ a: a.row, b: b.row, t }) });
  const body = await response.json();
  if (!response.ok) { $("path-latency").textContent = body.error; return; }
  const audio = $("path-audio");
  audio.src = `/api/audio/${body.id}.wav`;
  audio.addEventListener("canplay", () => {
    const total = performance.now() - started;
    $("path-latency").textContent = `step ${t.toFixed(2)} of ${a.name} -> ${b.name}: render ` +
      `${body.render_ms.toFixed(0)} ms; release to playable ${total.toFixed(0)} ms`;
    document.body.dataset.pathMs = total.toFixed(0);
    document.body.dataset.pathId = body.id;
    audio.play().catch(() => {});
  }, { once: true });
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
    lastClicked = p;
    $("map-macro").disabled = false;
    choose(p);
    drawMap(p);
  });
  $("map-colour").addEventListener("change", recolour);
  $("path-t").addEventListener("input", () => { $("path-value").textContent = Number($("path-t").value).toFixed(2); });
  $("path-t").addEventListener("change", renderPath);
  $("map-macro").addEventListener("click", async () => {
    const p = lastClicked;
    const response = await fetch(`/api/store/${p.row}`, { method: "POST" });
    const body = await response.json();
    if (response.ok) openMacro(body.id, `${body.name} (store preset ${body.row})`);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.panel)));
  setupDrop();
  setupMap();
  $("record").addEventListener("click", toggleRecord);
  $("preset-file").addEventListener("change", (e) => e.target.files[0] && openPresetFile(e.target.files[0]));
  loadInfo();
});
