"use strict";
// The inspector's queue: one finding at a time, its capture with the box drawn, its place, its history.

const state = { queue: [], index: 0, me: null, capture: null, previousId: null };
const miniMap = L.map("mini-map", { attributionControl: false, zoomControl: false });
const miniLayer = L.layerGroup().addTo(miniMap);
let sitesLoaded = false;

async function loadQueue(focusId) {
  const pendingOnly = document.getElementById("only-pending").checked;
  const params = new URLSearchParams({ limit: "200", order: "score" });
  if (pendingOnly) params.set("status", "pending");
  const page = await api(`/findings?${params}`);
  state.queue = page.data;
  if (focusId && !state.queue.some((f) => f.id === focusId)) {
    try { state.queue.unshift(await api(`/findings/${focusId}`)); } catch { /* gone: ignore */ }
  }
  state.index = Math.max(0, focusId ? state.queue.findIndex((f) => f.id === focusId) : 0);
  await show();
}

function current() { return state.queue[state.index]; }

// The stack or outfall a finding is attributed to, and how far from its mouth (in the air) or foot.
function sourceText(f) {
  if (!f.source_id) return "–";
  return f.source_distance_m != null ? `${f.source_id} (${fmt(f.source_distance_m)} m from it)` : f.source_id;
}

async function show() {
  const f = current();
  const empty = document.getElementById("viewer-empty");
  const img = document.getElementById("capture-img");
  const svg = document.getElementById("capture-overlay");
  document.getElementById("queue-pos").textContent = state.queue.length ? `${state.index + 1} / ${state.queue.length}` : "empty";
  for (const id of ["btn-confirm", "btn-reject", "btn-duplicate", "btn-next", "btn-prev"]) {
    document.getElementById(id).disabled = !f;
  }
  if (!f) {
    empty.textContent = "Nothing to review. 🎉";
    empty.hidden = false; img.hidden = true; svg.hidden = true;
    document.getElementById("f-kind").textContent = "";
    document.getElementById("f-status").className = "chip";
    document.getElementById("f-status").textContent = "";
    document.getElementById("f-details").innerHTML = "";
    document.getElementById("audit").innerHTML = "";
    return;
  }
  document.getElementById("btn-duplicate").disabled = !state.previousId || state.previousId === f.id;
  document.getElementById("f-kind").textContent = f.kind;
  const chip = document.getElementById("f-status");
  chip.className = `chip ${f.status}`;
  chip.textContent = f.status;
  const rows = [
    ["site", f.site_id || "–"], ["source", sourceText(f)], ["score", fmt(f.score, 2)], ["severity", f.severity],
    ["position", `${f.lat.toFixed(6)}, ${f.lon.toFixed(6)}${f.position_error_m != null ? ` ± ${fmt(f.position_error_m)} m` : ""}`],
    ...(f.height_agl_m != null ? [["in the air", `${fmt(f.height_agl_m)} m above ground (${fmt(f.alt_amsl_m)} m AMSL)`]] : []),
    ["area", f.area_m2 != null ? `${fmt(f.area_m2)} m²` : "–"],
    ["detector", `${f.detector} ${f.detector_version}`],
    ["recorded", new Date(f.created_at).toLocaleString()],
  ];
  const measured = Object.entries(f.measurements || {}).filter(([, v]) => v !== null && v !== "");
  document.getElementById("f-details").innerHTML = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")
    + (measured.length ? `<dt>measured</dt><dd><details><summary>${measured.length} values</summary><dl class="kv">${
      measured.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(typeof v === "number" ? fmt(v, 2) : String(v))}</dd>`).join("")
    }</dl></details></dd>` : "");
  showOnMap(f);
  await Promise.all([showCapture(f), showAudit(f)]);
}

async function showCapture(f) {
  const img = document.getElementById("capture-img");
  const svg = document.getElementById("capture-overlay");
  const empty = document.getElementById("viewer-empty");
  state.capture = await api(`/captures/${f.capture_id}`).catch(() => null);
  img.onload = () => { empty.hidden = true; img.hidden = false; fit(); drawBox(f); };
  img.onerror = () => {
    img.hidden = true; svg.hidden = true; empty.hidden = false;
    empty.textContent = "The capture image is not available on the server.";
  };
  img.src = `/api/v1/captures/${f.capture_id}/image?max_px=1600`;
}

// Scale the preview to fill the viewer (small thermal frames included), keeping its aspect.
function fit() {
  const img = document.getElementById("capture-img");
  const host = img.parentElement.getBoundingClientRect();
  const k = Math.min(host.width / img.naturalWidth, host.height / img.naturalHeight) * 0.96;
  img.style.width = `${img.naturalWidth * k}px`;
  img.style.height = `${img.naturalHeight * k}px`;
}

function drawBox(f) {
  const img = document.getElementById("capture-img");
  const svg = document.getElementById("capture-overlay");
  if (!f.pixel_box || f.pixel_box.length !== 4) { svg.hidden = true; return; }
  // The preview may be scaled down from the original the detector measured.
  const originalWidth = (state.capture && state.capture.width) || img.naturalWidth;
  const k = img.naturalWidth / originalWidth;
  const [x0, y0, x1, y1] = f.pixel_box.map((v) => v * k);
  const rect = img.getBoundingClientRect();
  const host = img.parentElement.getBoundingClientRect();
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
  Object.assign(svg.style, { left: `${rect.left - host.left}px`, top: `${rect.top - host.top}px`, width: `${rect.width}px`, height: `${rect.height}px` });
  const colour = STATUS_COLOURS[f.status] || "#ff0";
  svg.innerHTML = `<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="${colour}" stroke-width="${Math.max(2, img.naturalWidth / 300)}"/>`;
  svg.hidden = false;
}

async function showOnMap(f) {
  if (!sitesLoaded) {
    sitesLoaded = true;
    siteLayer(await api("/sites")).addTo(miniMap);
  }
  miniLayer.clearLayers();
  if (f.ground_polygon) L.geoJSON(f.ground_polygon, { style: { color: STATUS_COLOURS[f.status], weight: 2 } }).addTo(miniLayer);
  findingMarker(f).addTo(miniLayer);
  miniMap.setView([f.lat, f.lon], 17);
}

async function showAudit(f) {
  const trail = await api(`/findings/${f.id}/reviews`);
  document.getElementById("audit").innerHTML = trail.data.length
    ? trail.data.map((r) => `<li>${new Date(r.created_at).toLocaleString()} · <b>${esc(r.username)}</b> ${esc(r.decision)}${r.comment ? ` – “${esc(r.comment)}”` : ""}</li>`).join("")
    : '<li class="muted">no decisions yet</li>';
}

async function decide(decision) {
  const f = current();
  if (!f) return;
  if (state.me.role === "operator") { toast("operators cannot review findings", true); return; }
  const body = { decision, comment: document.getElementById("comment").value };
  if (decision === "duplicate") {
    if (!state.previousId || state.previousId === f.id) { toast("no earlier finding to mark this a duplicate of", true); return; }
    body.duplicate_of = state.previousId;
  }
  try {
    await api(`/findings/${f.id}/reviews`, { method: "POST", json: body });
  } catch (err) { toast(err.message, true); return; }
  f.status = { confirm: "confirmed", reject: "rejected", duplicate: "duplicate" }[decision];
  document.getElementById("comment").value = "";
  toast(`${f.kind}: ${f.status}`);
  state.previousId = f.id;
  if (document.getElementById("only-pending").checked) {
    state.queue.splice(state.index, 1);
    state.index = Math.min(state.index, Math.max(0, state.queue.length - 1));
  } else {
    step(1);
    return;
  }
  await show();
}

function step(delta) {
  if (!state.queue.length) return;
  const f = current();
  if (f) state.previousId = f.id;
  state.index = (state.index + delta + state.queue.length) % state.queue.length;
  show();
}

document.addEventListener("keydown", (e) => {
  if (e.target.matches("textarea, input, select") || e.ctrlKey || e.metaKey || e.altKey) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const actions = {
    c: () => decide("confirm"), r: () => decide("reject"), d: () => decide("duplicate"),
    j: () => step(1), ArrowRight: () => step(1), n: () => step(1),
    k: () => step(-1), ArrowLeft: () => step(-1), p: () => step(-1),
    "/": () => document.getElementById("comment").focus(),
  };
  const action = actions[e.key];
  if (action) { e.preventDefault(); action(); }
});
document.getElementById("btn-confirm").addEventListener("click", () => decide("confirm"));
document.getElementById("btn-reject").addEventListener("click", () => decide("reject"));
document.getElementById("btn-duplicate").addEventListener("click", () => decide("duplicate"));
document.getElementById("btn-next").addEventListener("click", () => step(1));
document.getElementById("btn-prev").addEventListener("click", () => step(-1));
document.getElementById("only-pending").addEventListener("change", () => loadQueue());
window.addEventListener("resize", () => { if (current()) { fit(); drawBox(current()); } });

(async () => {
  state.me = await initHeader("review");
  await loadQueue(new URLSearchParams(location.search).get("finding"));
  document.body.dataset.ready = "1";
})().catch((err) => toast(err.message, true));
