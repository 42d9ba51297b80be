"use strict";
// The inspector's queue of objects: one thing seen at one place on one patrol, however many
// captures saw it. Its best capture large with its outline, every capture in a strip, its
// measurements across captures, its place and its history; one decision covers every capture.

const state = {
  queue: [], // ObjectPublic (ObjectDetail once shown), in the API's order: severity, then site
  index: 0,
  more: 0, // objects beyond the loaded page
  me: null,
  detail: null, // ObjectDetail of the object shown
  shown: 0, // index in detail.findings of the capture shown large (0: the best)
  previous: null, // the object shown before this one: what D marks this one a duplicate of
  splitIndex: 0,
  seq: 0, // bumped by every show(): an answer for an object already left is dropped
};
const DECIDED = { confirm: "confirmed", reject: "rejected", duplicate: "duplicate" };
const sizes = new Map(); // capture id -> Promise of the original's {width, height} in pixels
const miniMap = L.map("mini-map", { attributionControl: false, zoomControl: false });
const miniLayer = L.layerGroup().addTo(miniMap);
const $ = (id) => document.getElementById(id);
let sitesLoaded = false;

const pendingOnly = () => $("only-pending").checked;
const current = () => state.queue[state.index];
const kindText = (o) => o.kind.replaceAll("_", " ");
const label = (o) => `${o.severity} ${kindText(o)}${o.site_id ? ` at ${o.site_id}` : ""}`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const previewUrl = (captureId, maxPx) => `${API}/captures/${captureId}/image?max_px=${maxPx}`;

// `focus`: {object} opens that object, {finding} the object it belongs to, that capture shown.
async function loadQueue(focus = {}) {
  const params = new URLSearchParams({ limit: "200" });
  if (pendingOnly()) params.set("status", "pending");
  const page = await api(`/objects?${params}`);
  state.queue = page.data;
  state.more = page.count - page.data.length;
  let objectId = focus.object || null;
  if (focus.finding) {
    const finding = await api(`/findings/${focus.finding}`).catch(() => null);
    if (finding && finding.object_id) objectId = finding.object_id;
    else toast("that finding is not in the queue", true);
  }
  if (objectId && !state.queue.some((o) => o.id === objectId)) {
    try { state.queue.unshift(await api(`/objects/${objectId}`)); } catch { toast("no such object", true); }
  }
  state.index = Math.max(0, state.queue.findIndex((o) => o.id === objectId));
  await show(focus.finding);
}

function renderQueue() {
  const n = state.queue.length;
  $("queue-pos").textContent = n ? `${state.index + 1} / ${n}${state.more > 0 ? ` · ${state.more} more` : ""}` : "empty";
  const list = $("queue-list");
  list.innerHTML = state.queue.map((o, i) => `<li data-index="${i}" data-id="${esc(o.id)}" class="${i === state.index ? "selected" : ""}">`
    + `<span class="chip sev-${esc(o.severity)}">${esc(o.severity)}</span> ${esc(kindText(o))} · ${esc(o.site_id || "no site")}`
    + ` · ${plural(o.finding_count, "capture")}${pendingOnly() ? "" : ` <span class="chip ${esc(o.status)}">${esc(o.status)}</span>`}</li>`).join("");
  list.querySelector("li.selected")?.scrollIntoView({ block: "nearest" });
}

function setButtons(detail) {
  const none = !current();
  for (const id of ["btn-confirm", "btn-reject", "btn-next", "btn-prev"]) $(id).disabled = none;
  $("btn-split").disabled = !detail || detail.findings.length < 2;
  const target = state.previous;
  $("btn-duplicate").disabled = none || !target || target.id === current().id;
  $("btn-duplicate").title = target ? `Duplicate of the previous object: ${label(target)} (d)` : "No previous object yet (d)";
}

// Everything about the current object; `findingId` picks the capture shown large.
async function show(findingId = null) {
  const seq = ++state.seq;
  renderQueue();
  setButtons(null);
  const o = current();
  if (!o) { clearObject(); return; }
  let detail;
  try { detail = await api(`/objects/${o.id}`); } catch (err) { toast(err.message, true); return; }
  if (seq !== state.seq) return;
  state.queue[state.index] = detail;
  state.detail = detail;
  state.shown = Math.max(0, detail.findings.findIndex((f) => f.id === findingId));
  renderQueue();
  setButtons(detail);
  renderCard(detail);
  renderHistory(detail);
  renderAudit(detail.reviews);
  showOnMap(detail);
  renderStrip(detail);
  await showCapture();
  if (seq === state.seq) $("object-card").dataset.id = detail.id;
}

function clearObject() {
  state.detail = null;
  $("viewer-empty").textContent = "Nothing to review. 🎉";
  $("viewer-empty").hidden = false;
  $("capture-view").toggleAttribute("hidden", true); // an SVG element has no .hidden property
  for (const id of ["o-kind", "capture-caption", "strip", "o-details", "audit", "history"]) $(id).innerHTML = "";
  $("o-status").className = "chip";
  $("o-status").textContent = "";
  $("o-change").hidden = true;
  $("object-card").dataset.id = "";
  miniLayer.clearLayers();
}

// The stack or outfall the object is attributed to, and how far its best capture's finding
// is from the source's mouth (in the air) or foot (on the ground).
function sourceText(o) {
  if (!o.source_id) return "–";
  const d = o.findings[0]?.source_distance_m;
  return d != null ? `${o.source_id} (${fmt(d)} m from it)` : o.source_id;
}

// Peaks across captures, from the object's summary (only what the detectors measured).
function peakRows(s) {
  if (!s) return [];
  const rows = [];
  if (s.rise_max != null) rows.push(["peak rise", s.rise_units === "K" ? `${fmt(s.rise_max)} K` : `${fmt(s.rise_max)} (raw counts)`]);
  if (s.delta_e_max != null) rows.push(["colour difference", `ΔE ${fmt(s.delta_e_max)}`]);
  if (s.colour) rows.push(["colour", s.colour]);
  rows.push(["peak score", fmt(s.score_max, 2)]);
  rows.push(["largest area", s.area_m2_max != null ? `${fmt(s.area_m2_max)} m²` : "–"]);
  return rows;
}

function renderCard(o) {
  $("o-kind").textContent = kindText(o);
  $("o-status").className = `chip ${o.status}`;
  $("o-status").textContent = o.status;
  $("o-change").hidden = !o.change;
  $("o-change").textContent = o.change || "";
  const captures = o.summary?.captures ?? o.finding_count;
  const rows = [
    ["severity", o.severity], ["patrol", o.patrol_name || "–"], ["site", o.site_id || "–"], ["source", sourceText(o)],
    ["position", `${o.lat.toFixed(6)}, ${o.lon.toFixed(6)}${o.position_error_m != null ? ` ± ${fmt(o.position_error_m)} m` : ""}`],
    ...(o.height_agl_m != null ? [["in the air", `${fmt(o.height_agl_m)} m above ground (${fmt(o.alt_amsl_m)} m AMSL)`]] : []),
    ["seen in", plural(captures, "capture")],
    ...peakRows(o.summary),
    ...(o.split_from ? [["split", "off another object by an inspector"]] : []),
    ["recorded", new Date(o.created_at).toLocaleString()],
  ];
  $("o-details").innerHTML = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
}

function reviewText(r) {
  return `${new Date(r.created_at).toLocaleString()} · <b>${esc(r.username)}</b> ${esc(r.decision)}`
    + `${r.reason ? ` (${esc(r.reason)})` : ""}${r.comment ? ` – “${esc(r.comment)}”` : ""}`;
}

function renderAudit(reviews) {
  $("audit").innerHTML = reviews.length
    ? reviews.map((r) => `<li>${reviewText(r)}</li>`).join("")
    : '<li class="muted">no decisions yet</li>';
}

// Was it there on the previous patrol of its site, and what did inspectors decide then?
function renderHistory(o) {
  const el = $("history");
  const prev = o.previous;
  if (!prev) {
    el.innerHTML = o.change === "new"
      ? "History: <b>new</b>, not seen on the previous patrol of this site."
      : '<span class="muted">History: no earlier patrol of this site to compare with.</span>';
    return;
  }
  const p = prev.object;
  el.innerHTML = `<div class="history-row"><img class="history-thumb" alt="" src="${API}/findings/${esc(p.best_finding_id)}/thumbnail">`
    + `<div><b>Recurring</b>: seen on ${esc(p.patrol_name || "the previous patrol")} `
    + `<span class="chip ${esc(p.status)}">${esc(p.status)}</span><br>${esc(plural(p.finding_count, "capture"))}`
    + `${p.summary?.rise_max != null ? `, peak rise ${esc(fmt(p.summary.rise_max))}${p.summary.rise_units === "K" ? " K" : " (raw)"}` : ""}</div></div>`
    + `<ul class="list">${prev.reviews.length ? prev.reviews.map((r) => `<li>${reviewText(r)}</li>`).join("") : '<li class="muted">no decisions then</li>'}</ul>`;
  el.querySelector(".history-thumb").addEventListener("error", (e) => e.target.remove());
}

// The original's size in pixels: pixel_box is in the original's pixels (x right, y down),
// the previews are scaled down from it. Unknown size: the large preview's is taken for it.
function captureSize(captureId) {
  if (!sizes.has(captureId)) {
    sizes.set(captureId, api(`/captures/${captureId}`).catch(() => null).then((c) => (
      c && c.width && c.height ? { width: c.width, height: c.height } : naturalSize(previewUrl(captureId, 1600)))));
  }
  return sizes.get(captureId);
}


function naturalSize(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => resolve(null);
    img.src = url;
  });
}

// The capture's preview with the finding's own outline, both in the original's pixel frame.
function drawCapture(svg, finding, size, url, colour) {
  const { width, height } = size;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  let html = `<image href="${esc(url)}" x="0" y="0" width="${width}" height="${height}" preserveAspectRatio="none"/>`;
  if (finding.pixel_box && finding.pixel_box.length === 4) {
    const [x0, y0, x1, y1] = finding.pixel_box;
    const pad = Math.max(2, width / 200); // keep the outline off the thing itself
    html += `<rect class="outline" x="${x0 - pad}" y="${y0 - pad}" width="${x1 - x0 + 2 * pad}" height="${y1 - y0 + 2 * pad}"`
      + ` fill="none" stroke="${colour}" stroke-width="2.5" vector-effect="non-scaling-stroke"/>`; // screen px
  }
  svg.innerHTML = html;
}

async function showCapture() {
  const o = state.detail;
  const f = o && o.findings[state.shown];
  const svg = $("capture-view");
  const empty = $("viewer-empty");
  if (!f) {
    svg.toggleAttribute("hidden", true); empty.hidden = false;
    empty.textContent = o ? "No capture is left in this object." : "";
    return;
  }
  document.querySelectorAll("#strip .strip-item").forEach((el, i) => el.classList.toggle("selected", i === state.shown));
  const url = previewUrl(f.capture_id, 1600);
  const size = await captureSize(f.capture_id);
  if (state.detail !== o || o.findings[state.shown] !== f) return;
  $("capture-caption").textContent = `capture ${state.shown + 1} of ${o.findings.length}${state.shown === 0 ? " · best" : ""}`
    + ` · score ${fmt(f.score, 2)}${f.position_error_m != null ? ` · ± ${fmt(f.position_error_m)} m` : ""}`;
  if (!size) {
    svg.toggleAttribute("hidden", true); empty.hidden = false;
    empty.textContent = "The capture image is not available on the server.";
    return;
  }
  drawCapture(svg, f, size, url, STATUS_COLOURS[o.status] || "#ff0");
  svg.querySelector("image").addEventListener("error", () => {
    svg.toggleAttribute("hidden", true); empty.hidden = false;
    empty.textContent = "The capture image is not available on the server.";
  });
  empty.hidden = true;
  svg.toggleAttribute("hidden", false);
}

// Every capture that saw the object, each with its own outline; click to show it large.
function renderStrip(o) {
  const strip = $("strip");
  const colour = STATUS_COLOURS[o.status] || "#ff0";
  strip.innerHTML = o.findings.map((f, i) => `<figure class="strip-item" data-finding="${esc(f.id)}" title="capture ${i + 1}: show it large">`
    + `<svg preserveAspectRatio="xMidYMid meet"></svg><figcaption><span>${i === 0 ? "best · " : ""}score ${fmt(f.score, 2)}</span>`
    + `<button type="button" class="split" title="split this capture off into an object of its own"${o.findings.length < 2 ? " disabled" : ""}>split off</button></figcaption></figure>`).join("");
  strip.querySelectorAll(".strip-item").forEach((item, i) => {
    const f = o.findings[i];
    const url = previewUrl(f.capture_id, 256);
    captureSize(f.capture_id).then((size) => { if (size) drawCapture(item.querySelector("svg"), f, size, url, colour); });
    item.addEventListener("click", (e) => {
      if (e.target.closest("button.split")) { askSplit(i); return; }
      state.shown = i;
      showCapture();
      showOnMap(o);
    });
  });
}

async function showOnMap(o) {
  if (!sitesLoaded) {
    sitesLoaded = true;
    siteLayer(await api("/sites")).addTo(miniMap);
  }
  miniLayer.clearLayers();
  const colour = STATUS_COLOURS[o.status] || "#999";
  const shown = o.findings[state.shown];
  if (shown && shown.ground_polygon) L.geoJSON(shown.ground_polygon, { style: { color: colour, weight: 2 } }).addTo(miniLayer);
  if (o.position_error_m) L.circle([o.lat, o.lon], { radius: o.position_error_m, color: colour, weight: 1, fillOpacity: 0.1 }).addTo(miniLayer);
  o.findings.forEach((f, i) => {
    L.circleMarker([f.lat, f.lon], {
      radius: i === state.shown ? 5 : 3, color: colour, weight: 1.5, fillColor: "#fff", fillOpacity: 0.9, className: "capture-point",
    }).bindTooltip(`capture ${i + 1}`).on("click", () => { state.shown = i; showCapture(); showOnMap(o); }).addTo(miniLayer);
  });
  findingMarker(o).bindTooltip(label(o)).addTo(miniLayer);
  const points = [[o.lat, o.lon], ...o.findings.map((f) => [f.lat, f.lon])];
  miniMap.fitBounds(L.latLngBounds(points).pad(0.5), { maxZoom: 18, animate: false });
}

async function decide(decision, reason = null) {
  const o = state.detail;
  if (!o || o.id !== current()?.id) return;
  if (state.me.role === "operator") { toast("operators cannot review objects", true); return; }
  const body = { decision, comment: $("comment").value };
  if (reason) body.reason = reason;
  if (decision === "duplicate") {
    if (!state.previous || state.previous.id === o.id) { toast("no earlier object to mark this a duplicate of", true); return; }
    body.duplicate_of = state.previous.id;
  }
  try {
    await api(`/objects/${o.id}/reviews`, { method: "POST", json: body });
  } catch (err) { toast(err.message, true); return; }
  $("comment").value = "";
  toast(`${label(o)}: ${DECIDED[decision]}, ${plural(o.finding_count, "capture")}`);
  state.previous = o;
  if (pendingOnly()) {
    state.queue.splice(state.index, 1);
    state.index = Math.min(state.index, Math.max(0, state.queue.length - 1));
  } else {
    state.queue[state.index] = { ...o, status: DECIDED[decision] };
    state.index = (state.index + 1) % state.queue.length;
  }
  await show();
}

function step(delta) {
  if (!state.queue.length) return;
  if (state.detail) state.previous = state.detail;
  state.index = (state.index + delta + state.queue.length) % state.queue.length;
  show();
}

function goTo(index) {
  if (index === state.index || !state.queue[index]) return;
  if (state.detail) state.previous = state.detail;
  state.index = index;
  show();
}

function otherCapture(delta) {
  const o = state.detail;
  if (!o || o.findings.length < 2) return;
  state.shown = (state.shown + delta + o.findings.length) % o.findings.length;
  showCapture();
  showOnMap(o);
}

// --- reject: a reason from the short list (keys 1-8) or free text (9) -----------------------

async function loadReasons() {
  const reasons = await api("/objects/reject-reasons");
  $("reject-reasons").innerHTML = reasons.slice(0, 8).map((r, i) => `<li><label class="reason">`
    + `<input type="radio" name="reason" value="${esc(r)}"> <kbd>${i + 1}</kbd> ${esc(r)}</label></li>`).join("");
}

function askReject() {
  if (!state.detail || state.detail.id !== current()?.id) return;
  if (state.me.role === "operator") { toast("operators cannot review objects", true); return; }
  document.querySelectorAll("#reject-reasons input").forEach((r) => { r.checked = false; });
  $("reject-other").value = "";
  $("reject-dialog").showModal();
  document.querySelector("#reject-reasons input")?.focus();
}

function chosenReason() {
  const picked = document.querySelector("#reject-reasons input:checked");
  return picked ? picked.value : $("reject-other").value.trim();
}

function sendReject() {
  const reason = chosenReason();
  if (!reason) { toast("pick a reason (1–8) or type one (9)", true); return; }
  $("reject-dialog").close();
  decide("reject", reason);
}

$("reject-dialog").addEventListener("keydown", (e) => {
  const inOther = e.target === $("reject-other");
  const radios = document.querySelectorAll("#reject-reasons input");
  if (e.key === "Enter" && e.target.tagName !== "BUTTON") { e.preventDefault(); sendReject(); return; }
  if (inOther) return;
  if (/^[1-8]$/.test(e.key) && radios[Number(e.key) - 1]) {
    e.preventDefault();
    radios[Number(e.key) - 1].checked = true;
    radios[Number(e.key) - 1].focus();
    $("reject-other").value = "";
  } else if (e.key === "9") {
    e.preventDefault();
    $("reject-other").focus();
  }
});
$("reject-other").addEventListener("input", () => {
  document.querySelectorAll("#reject-reasons input").forEach((r) => { r.checked = false; });
});
$("reject-send").addEventListener("click", sendReject);
$("reject-cancel").addEventListener("click", () => $("reject-dialog").close());

// --- split: a capture the grouping got wrong becomes an object of its own -------------------

function askSplit(i = state.shown) {
  const o = state.detail;
  if (!o || o.findings.length < 2) { toast("an object seen in one capture has nothing to split off", true); return; }
  if (state.me.role === "operator") { toast("operators cannot review objects", true); return; }
  state.splitIndex = i;
  $("split-text").textContent = `Capture ${i + 1} of ${o.findings.length} (score ${fmt(o.findings[i].score, 2)}) `
    + `leaves this ${kindText(o)} and becomes a new pending object; the other ${plural(o.findings.length - 1, "capture")} stay.`;
  $("split-dialog").showModal();
  $("split-send").focus();
}

async function sendSplit() {
  const o = state.detail;
  $("split-dialog").close();
  const f = o && o.findings[state.splitIndex];
  if (!f || o.id !== current()?.id) return;
  let created;
  try {
    created = await api(`/objects/${o.id}/split`, { method: "POST", json: { finding_ids: [f.id] } });
  } catch (err) { toast(err.message, true); return; }
  state.previous = o;
  state.queue.splice(state.index + 1, 0, created);
  state.index += 1;
  toast(`capture ${state.splitIndex + 1} is now an object of its own (K goes back)`);
  await show();
}

$("split-send").addEventListener("click", sendSplit);
$("split-cancel").addEventListener("click", () => $("split-dialog").close());

// --- keys and buttons -------------------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  if (document.querySelector("dialog[open]")) return; // the open dialog has the keys
  if (e.target.matches("textarea, input, select") || e.ctrlKey || e.metaKey || e.altKey) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const actions = {
    c: () => decide("confirm"), r: askReject, d: () => decide("duplicate"), s: () => askSplit(),
    j: () => step(1), ArrowRight: () => step(1), n: () => step(1),
    k: () => step(-1), ArrowLeft: () => step(-1), p: () => step(-1),
    "]": () => otherCapture(1), "[": () => otherCapture(-1),
    "/": () => $("comment").focus(),
  };
  const action = actions[e.key];
  if (action) { e.preventDefault(); action(); }
});
$("btn-confirm").addEventListener("click", () => decide("confirm"));
$("btn-reject").addEventListener("click", askReject);
$("btn-duplicate").addEventListener("click", () => decide("duplicate"));
$("btn-split").addEventListener("click", () => askSplit());
$("btn-next").addEventListener("click", () => step(1));
$("btn-prev").addEventListener("click", () => step(-1));
$("queue-list").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-index]");
  if (li) goTo(Number(li.dataset.index));
});
$("only-pending").addEventListener("change", () => loadQueue());

(async () => {
  state.me = await initHeader("review");
  const query = new URLSearchParams(location.search);
  await Promise.all([
    loadReasons(),
    loadQueue({ object: query.get("object"), finding: query.get("finding") }),
  ]);
  document.body.dataset.ready = "1";
})().catch((err) => toast(err.message, true));
