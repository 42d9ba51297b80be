"use strict";

const map = baseMap("map");
const layers = {
  sites: L.layerGroup().addTo(map),
  obstacles: L.layerGroup().addTo(map),
  routes: L.layerGroup().addTo(map),
  findings: L.layerGroup().addTo(map),
  live: L.layerGroup().addTo(map),
};
const liveFlights = new Map();

async function loadSites() {
  const sites = await api("/sites");
  layers.sites.clearLayers();
  const layer = siteLayer(sites).addTo(layers.sites);
  layers.obstacles.clearLayers();
  obstacleLayer(sites).addTo(layers.obstacles);
  if (sites.features.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
}

async function loadPatrols() {
  const patrols = await api("/patrols");
  const select = document.getElementById("patrol-select");
  for (const p of patrols) {
    const option = document.createElement("option");
    option.value = p.name;
    option.textContent = `${p.name} (${p.sorties} sorties)`;
    select.appendChild(option);
  }
  if (patrols.length) { select.value = patrols[0].name; await showPatrol(select.value); }
  select.addEventListener("change", () => showPatrol(select.value));
}

const ROUTE_COLOURS = ["#0b6efd", "#e83e8c", "#20c997", "#fd7e14", "#6f42c1", "#17a2b8"];

async function showPatrol(name) {
  layers.routes.clearLayers();
  const summary = document.getElementById("patrol-summary");
  summary.textContent = "";
  if (!name) return;
  const fc = await api(`/patrols/${encodeURIComponent(name)}/geojson`);
  L.geoJSON(fc, {
    style: (f) => ({ color: ROUTE_COLOURS[f.properties.sortie_index % ROUTE_COLOURS.length], weight: 2.5, dashArray: "6 3" }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: 2.5, weight: 0, fillOpacity: 0.9,
      fillColor: ROUTE_COLOURS[f.properties.sortie_index % ROUTE_COLOURS.length],
    }),
    onEachFeature: (f, layer) => layer.bindTooltip(esc(f.properties.mission_name)),
  }).addTo(layers.routes);
  const routes = fc.features.filter((f) => f.geometry.type === "LineString").length;
  summary.innerHTML = `${routes} route(s) · <a href="/api/v1/patrols/${encodeURIComponent(name)}/report" target="_blank">patrol report</a>`;
}

async function loadFindings() {
  const status = document.getElementById("status-filter").value;
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
    .map((v, i) => Math.max(i % 2 ? -90 : -180, Math.min(i % 2 ? 90 : 180, v)).toFixed(6)).join(",");
  const params = new URLSearchParams({ limit: "500", order: "score", bbox });
  if (status) params.set("status", status);
  const page = await api(`/findings?${params}`);
  layers.findings.clearLayers();
  const list = document.getElementById("findings-list");
  list.innerHTML = "";
  document.getElementById("findings-count").textContent = `${page.count} in view${page.count > page.data.length ? ` (showing ${page.data.length})` : ""}`;
  for (const f of page.data) {
    const marker = findingMarker(f).addTo(layers.findings);
    const img = f.has_thumbnail ? `<img src="/api/v1/findings/${f.id}/thumbnail" alt="">` : "";
    marker.bindPopup(`<b>${esc(f.kind)}</b> <span class="chip ${f.status}">${f.status}</span><br>
      site ${esc(f.site_id || "–")}${f.source_id ? ` · source ${esc(f.source_id)}` : ""}${f.height_agl_m != null ? ` · ${fmt(f.height_agl_m)} m up` : ""} · score ${fmt(f.score, 2)}${f.area_m2 != null ? ` · ${fmt(f.area_m2)} m²` : ""}
      ${img}<br><a href="/review?finding=${f.id}">open in review</a>`);
    const li = document.createElement("li");
    li.innerHTML = `<span class="chip ${f.status}">${f.status}</span> ${esc(f.kind)} <span class="muted small">${esc(f.source_id || f.site_id || "")}</span>`;
    li.addEventListener("click", () => { map.setView([f.lat, f.lon], Math.max(map.getZoom(), 17)); marker.openPopup(); });
    list.appendChild(li);
  }
}

async function watchFlights() {
  const page = await api("/flights?limit=20");
  const running = page.data.filter((f) => f.live && !["landed", "aborted", "failed"].includes(f.status));
  const box = document.getElementById("live-flights");
  if (!running.length) box.textContent = "none";
  for (const flight of running) {
    if (liveFlights.has(flight.id)) continue;
    box.textContent = "";
    const line = document.createElement("div");
    line.className = "card live";
    box.appendChild(line);
    liveFlights.set(flight.id, new LiveFlight(layers.live, flight.id, (s) => {
      line.innerHTML = `${esc(flight.name)}<br>${describeState(s)}`;
    }));
  }
}

function toggle(id, layer) {
  document.getElementById(id).addEventListener("change", (e) => {
    if (e.target.checked) layer.addTo(map); else layer.remove();
  });
}

(async () => {
  await initHeader("map");
  toggle("show-sites", layers.sites);
  toggle("show-obstacles", layers.obstacles);
  toggle("show-routes", layers.routes);
  toggle("show-findings", layers.findings);
  toggle("show-live", layers.live);
  document.getElementById("status-filter").addEventListener("change", loadFindings);
  await loadSites();
  await loadPatrols();
  await loadFindings();
  map.on("moveend", loadFindings);
  await watchFlights();
  setInterval(watchFlights, 5000);
  document.body.dataset.ready = "1";
})().catch((err) => toast(err.message, true));
