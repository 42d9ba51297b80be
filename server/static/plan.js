"use strict";
// The operator's page: plan a patrol over the stored sites, launch a sortie, watch and control it.

const map = baseMap("map");
const routeLayer = L.layerGroup().addTo(map);
const liveLayer = L.layerGroup().addTo(map);
const ROUTE_COLOURS = ["#0b6efd", "#e83e8c", "#20c997", "#fd7e14", "#6f42c1", "#17a2b8"];
let flight = null;
let live = null;

async function loadSites() {
  const sites = await api("/sites");
  const layer = siteLayer(sites).addTo(map);
  obstacleLayer(sites).addTo(map);
  if (sites.features.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  const box = document.getElementById("targets");
  box.innerHTML = sites.features
    .filter((f) => ["enterprise", "river"].includes(f.properties.kind))
    .map((f) => `<label class="row"><input type="checkbox" value="${esc(f.properties.id)}"> ${esc(f.properties.id)} <span class="muted">${esc(f.properties.name || f.properties.kind)}</span></label>`)
    .join("");
}

async function loadPatrolNames() {
  const select = document.getElementById("patrol-select");
  select.querySelectorAll("option:not(:first-child)").forEach((o) => o.remove());
  for (const p of await api("/patrols")) {
    const option = document.createElement("option");
    option.value = option.textContent = p.name;
    select.appendChild(option);
  }
}

async function showPatrol(name) {
  routeLayer.clearLayers();
  const [fc, missions] = await Promise.all([
    api(`/patrols/${encodeURIComponent(name)}/geojson`),
    api(`/missions?patrol_name=${encodeURIComponent(name)}&limit=100`),
  ]);
  const layer = L.geoJSON(fc, {
    style: (f) => ({ color: ROUTE_COLOURS[f.properties.sortie_index % ROUTE_COLOURS.length], weight: 3, opacity: 0.85 }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 2.5, weight: 0, fillOpacity: 0.9, fillColor: ROUTE_COLOURS[f.properties.sortie_index % ROUTE_COLOURS.length] }),
    onEachFeature: (f, l) => l.bindTooltip(esc(f.properties.mission_name)),
  }).addTo(routeLayer);
  if (fc.features.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  const box = document.getElementById("sorties");
  box.classList.remove("muted");
  box.innerHTML = "";
  for (const m of missions.data.sort((a, b) => a.sortie_index - b.sortie_index)) {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.sortie = m.sortie_index;
    card.innerHTML = `<div class="row" style="justify-content:space-between"><b style="color:${ROUTE_COLOURS[m.sortie_index % ROUTE_COLOURS.length]}">Sortie ${m.sortie_index}</b>
      <button class="primary fly">Fly</button></div>
      ${esc((m.targets || []).join(", "))}<br><span class="muted">${(m.length_m / 1000).toFixed(2)} km · ${Math.round(m.duration_s / 60)} min · ${m.photo_count} photos</span>
      <br><a href="${API}/exports/missions/${encodeURIComponent(m.id)}/wpml.kmz" download title="DJI WPML route for DJI Docks, Pilot 2 and FlightHub 2 (no geofence: see the plan)">DJI route (.kmz)</a>`;
    card.querySelector(".fly").addEventListener("click", () => launch(m));
    box.appendChild(card);
  }
}

async function plan(event) {
  event.preventDefault();
  const status = document.getElementById("plan-status");
  const button = document.getElementById("plan-submit");
  const targets = [...document.querySelectorAll("#targets input:checked")].map((i) => i.value);
  const body = {
    patrol_name: document.getElementById("patrol-name").value.trim(),
    camera: document.getElementById("camera").value,
    altitude_m: Number(document.getElementById("altitude").value),
    front_overlap: Number(document.getElementById("front").value),
    side_overlap: Number(document.getElementById("side").value),
  };
  if (targets.length) body.targets = targets;
  button.disabled = true;
  status.textContent = "planning…";
  try {
    const result = await api("/plans", { method: "POST", json: body });
    const refused = Object.entries(result.refused);
    status.textContent = `${result.sorties.length} sorties, ${(result.length_m / 1000).toFixed(1)} km, ${result.photo_count} photos`
      + (refused.length ? `; refused: ${refused.map(([k, v]) => `${k} (${v})`).join("; ")}` : "");
    await loadPatrolNames();
    document.getElementById("patrol-select").value = result.patrol_name;
    await showPatrol(result.patrol_name);
  } catch (err) {
    status.textContent = "";
    toast(err.message, true);
  } finally {
    button.disabled = false;
  }
}

async function launch(mission) {
  const target = document.querySelector('input[name="target"]:checked').value;
  const body = { mission_id: mission.id };
  if (target === "sitl") body.sitl = true; else body.connection = document.getElementById("connection").value.trim();
  try {
    flight = await api("/flights", { method: "POST", json: body });
  } catch (err) { toast(err.message, true); return; }
  toast(`launching ${mission.name}`);
  watch(flight);
}

function watch(f) {
  live?.remove();
  const box = document.getElementById("live");
  box.classList.remove("muted");
  live = new LiveFlight(liveLayer, f.id, (s) => {
    box.innerHTML = `${esc(f.name)}<br>${describeState(s)}`;
    const flying = !FLIGHT_ENDED.includes(s.status);
    document.getElementById("btn-pause").disabled = !flying || s.status !== "flying" || s.paused;
    document.getElementById("btn-resume").disabled = !flying || !s.paused;
    document.getElementById("btn-abort").disabled = !flying || s.status !== "flying";
    document.getElementById("btn-process").disabled = flying;
  });
}

async function control(verb) {
  if (!flight) return;
  try { await api(`/flights/${flight.id}/${verb}`, { method: "POST" }); toast(verb); } catch (err) { toast(err.message, true); }
}

async function processPhotos() {
  if (!flight) return;
  try {
    await api(`/flights/${flight.id}/process`, { method: "POST" });
  } catch (err) { toast(err.message, true); return; }
  const box = document.getElementById("live");
  box.classList.remove("muted");
  showProcessing(box, flight.id);
}

async function uploadPhotos() {
  // the manifest first, so each photo is queued with its pose from it
  const files = [...document.getElementById("upload-files").files]
    .sort((a, b) => (b.name.endsWith(".jsonl") ? 1 : 0) - (a.name.endsWith(".jsonl") ? 1 : 0));
  const name = document.getElementById("upload-name").value.trim() || "uploaded flight";
  const status = document.getElementById("upload-status");
  if (!files.length) { toast("choose the photos first", true); return; }
  const button = document.getElementById("btn-upload");
  button.disabled = true;
  try {
    flight = await api("/flight-records", { method: "POST", json: { name } });
    let done = 0;
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      status.textContent = `uploading ${done + 1}/${files.length}: ${file.name}`;
      await api(`/flights/${flight.id}/uploads`, { method: "POST", body: form });
      done += 1;
    }
    status.textContent = `${done} file(s) uploaded to “${name}”`;
    const box = document.getElementById("live");
    box.classList.remove("muted");
    showProcessing(box, flight.id);
    document.getElementById("btn-process").disabled = false;
  } catch (err) {
    toast(err.message, true);
    status.textContent = "";
  } finally {
    button.disabled = false;
  }
}

(async () => {
  const me = await initHeader("plan");
  if (me.role === "inspector") {
    document.querySelector("main").innerHTML = '<p style="padding:2rem">Inspectors do not plan or fly patrols.</p>';
    return;
  }
  initSchedules().catch((err) => toast(err.message, true));
  document.getElementById("patrol-name").value = `patrol-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-")}`;
  document.getElementById("plan-form").addEventListener("submit", plan);
  document.getElementById("patrol-select").addEventListener("change", (e) => e.target.value && showPatrol(e.target.value));
  document.getElementById("btn-pause").addEventListener("click", () => control("pause"));
  document.getElementById("btn-resume").addEventListener("click", () => control("resume"));
  document.getElementById("btn-abort").addEventListener("click", () => control("abort"));
  document.getElementById("btn-process").addEventListener("click", processPhotos);
  document.getElementById("btn-upload").addEventListener("click", uploadPhotos);
  await loadSites();
  await loadPatrolNames();
  // a patrol opened from elsewhere (the alerts page): /plan?patrol=<name>
  const wanted = new URLSearchParams(location.search).get("patrol");
  if (wanted) {
    document.getElementById("patrol-select").value = wanted;
    await showPatrol(wanted).catch((err) => toast(`patrol ${wanted}: ${err.message}`, true));
  }
  const running = (await api("/flights?limit=10")).data.find((f) => f.live && !FLIGHT_ENDED.includes(f.status));
  if (running) { flight = running; watch(running); }
  document.body.dataset.ready = "1";
})().catch((err) => toast(err.message, true));
