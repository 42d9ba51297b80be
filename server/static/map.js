"use strict";
// The map page: the zone over the server's base layers, a patrol's routes, photo points and
// captures laid where they saw the ground, and the objects found (click one to review it).

const map = baseMap("map");
// Captures lie over the base layers (tile pane, z-index 200) and under the vectors (400).
map.createPane("captures").style.zIndex = 350;
const layers = {
  sites: L.layerGroup().addTo(map),
  noFly: L.layerGroup().addTo(map),
  obstacles: L.layerGroup().addTo(map),
  routes: L.layerGroup().addTo(map),
  photos: L.layerGroup().addTo(map),
  rgb: L.layerGroup(),
  thermal: L.layerGroup(),
  objects: L.layerGroup().addTo(map),
  live: L.layerGroup().addTo(map),
};
const liveFlights = new Map();
const SEVERITY_RADIUS = { low: 6, medium: 8, high: 10 };

async function loadSites() {
  const sites = await api("/sites");
  const isNoFly = (f) => f.properties.kind === "no_fly";
  layers.sites.clearLayers();
  layers.noFly.clearLayers();
  const layer = siteLayer({ ...sites, features: sites.features.filter((f) => !isNoFly(f)) }).addTo(layers.sites);
  // a click opens the site's page: its patrols over time and its case files
  layer.eachLayer((l) => l.bindPopup(`<b>${esc(l.feature.properties.id)}</b> ${esc(l.feature.properties.name || "")}<br>
    <a href="/sites/${encodeURIComponent(l.feature.properties.id)}">site page</a>`));
  siteLayer({ ...sites, features: sites.features.filter(isNoFly) }).addTo(layers.noFly);
  layers.obstacles.clearLayers();
  obstacleLayer(sites).addTo(layers.obstacles);
  if (sites.features.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
}

// Planned patrols, then flights recorded without a plan (a patrol of their own name, as their
// objects are named), so every flight's captures can be shown.
async function loadPatrols() {
  const [patrols, flights] = await Promise.all([api("/patrols"), api("/flights?limit=200")]);
  const select = document.getElementById("patrol-select");
  const names = new Set();
  const add = (value, label) => {
    if (names.has(value)) return;
    names.add(value);
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.appendChild(option);
  };
  for (const p of patrols) add(p.name, `${p.name} (${p.sorties} sorties)`);
  for (const f of flights.data) if (!f.mission_id && f.name) add(f.name, `${f.name} (flown, unplanned)`);
  if (select.options.length > 1) { select.value = select.options[1].value; await showPatrol(select.value); }
  select.addEventListener("change", () => showPatrol(select.value));
}

const ROUTE_COLOURS = ["#0b6efd", "#e83e8c", "#20c997", "#fd7e14", "#6f42c1", "#17a2b8"];

async function showPatrol(name) {
  for (const key of ["routes", "photos", "rgb", "thermal"]) layers[key].clearLayers();
  const summary = document.getElementById("patrol-summary");
  summary.textContent = "";
  if (!name) return;
  const [fc, rgb, thermal] = await Promise.all([
    api(`/patrols/${encodeURIComponent(name)}/geojson`).catch(() => ({ type: "FeatureCollection", features: [] })),
    api(`/patrols/${encodeURIComponent(name)}/capture-layer?kind=rgb`),
    api(`/patrols/${encodeURIComponent(name)}/capture-layer?kind=thermal`),
  ]);
  const colour = (f) => ROUTE_COLOURS[f.properties.sortie_index % ROUTE_COLOURS.length];
  for (const f of fc.features) {
    const target = f.properties.layer === "photos" ? layers.photos : layers.routes;
    L.geoJSON(f, {
      style: () => ({ color: colour(f), weight: 2.5, dashArray: "6 3" }),
      pointToLayer: (_p, latlng) => L.circleMarker(latlng, { radius: 2.5, weight: 0, fillOpacity: 0.9, fillColor: colour(f) }),
      onEachFeature: (_p, layer) => layer.bindTooltip(esc(f.properties.mission_name)),
    }).addTo(target);
  }
  // Each capture on its footprint, laid by showCaptures while its layer is on and it is in view.
  for (const [kind, overlays] of [["rgb", rgb], ["thermal", thermal]]) {
    captureOverlays[kind] = overlays.map((o) => L.imageOverlay(o.url, o.bounds, {
      pane: "captures", className: `capture-overlay capture-${o.kind}`, alt: "",
    }));
  }
  const routes = fc.features.filter((f) => f.geometry.type === "LineString").length;
  const report = fc.features.length ? ` · <a href="/api/v1/patrols/${encodeURIComponent(name)}/report" target="_blank">patrol report</a>` : "";
  summary.innerHTML = `${routes} route(s) · ${rgb.length} visible and ${thermal.length} thermal capture(s)${report}
    <span id="captures-hint" class="muted"></span>`;
  showCaptures();
}

// A sortie takes hundreds of captures, each an image the server warps onto its footprint, and
// neighbours along a leg overlap by two thirds or more. So only those in view are laid (only
// those are fetched), thinned to one per patch of about a third of a footprint (the rest
// would lie under it), and none while more than CAPTURES_IN_VIEW would be: zoom in instead.
const CAPTURES_IN_VIEW = 60;
const captureOverlays = { rgb: [], thermal: [] };

function thinned(overlays) {
  const kept = [];
  for (const o of overlays) {
    const b = o.getBounds();
    const centre = map.latLngToContainerPoint(b.getCenter());
    const diagonal = map.latLngToContainerPoint(b.getNorthEast())
      .distanceTo(map.latLngToContainerPoint(b.getSouthWest()));
    if (kept.every((k) => k.centre.distanceTo(centre) >= diagonal / 3)) kept.push({ o, centre });
  }
  return kept.map((k) => k.o);
}

function showCaptures() {
  const view = map.getBounds().pad(0.1);
  const notes = [];
  for (const kind of ["rgb", "thermal"]) {
    const group = layers[kind];
    if (!map.hasLayer(group)) continue;
    const inView = captureOverlays[kind].filter((o) => view.intersects(o.getBounds()));
    const laid = thinned(inView);
    const shown = new Set(laid.length > CAPTURES_IN_VIEW ? [] : laid);
    group.eachLayer((o) => { if (!shown.has(o)) group.removeLayer(o); });
    for (const o of shown) if (!group.hasLayer(o)) group.addLayer(o);
    const name = kind === "rgb" ? "visible" : "thermal";
    if (!shown.size && inView.length) notes.push(`zoom in to see the ${inView.length} ${name} captures in view`);
    else if (shown.size < inView.length) notes.push(`${shown.size} of the ${inView.length} ${name} captures in view (overlaps thinned)`);
  }
  const hint = document.getElementById("captures-hint");
  if (hint) hint.textContent = notes.length ? ` · ${notes.join(" · ")}` : "";
}

function objectMarker(o) {
  return L.circleMarker([o.lat, o.lon], {
    radius: SEVERITY_RADIUS[o.severity] || 7, color: "#fff", weight: 1.5,
    fillColor: STATUS_COLOURS[o.status] || "#999", fillOpacity: 0.95, className: "object-marker",
  });
}

function objectPopup(o) {
  const captures = o.summary?.captures ?? o.finding_count;
  const img = o.best_finding_id ? `<img src="/api/v1/findings/${o.best_finding_id}/thumbnail" alt="best view">` : "";
  return `<b>${esc(o.kind)}</b> <span class="chip ${esc(o.status)}">${esc(o.status)}</span> <span class="chip sev-${esc(o.severity)}">${esc(o.severity)}</span><br>
    site ${esc(o.site_id || "–")}${o.source_id ? ` · source ${esc(o.source_id)}` : ""}${o.height_agl_m != null ? ` · ${fmt(o.height_agl_m)} m above ground` : ""}
    · seen in ${esc(captures)} capture(s)${o.change ? ` · ${esc(o.change)}` : ""}
    ${img}<br><a class="open-object" href="/review?object=${encodeURIComponent(o.id)}">open</a>`;
}

async function loadObjects() {
  const status = document.getElementById("status-filter").value;
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
    .map((v, i) => Math.max(i % 2 ? -90 : -180, Math.min(i % 2 ? 90 : 180, v)).toFixed(6)).join(",");
  const params = new URLSearchParams({ limit: "500", bbox });
  if (status) params.set("status", status);
  const page = await api(`/objects?${params}`);
  layers.objects.clearLayers();
  const list = document.getElementById("objects-list");
  list.innerHTML = "";
  document.getElementById("objects-count").textContent = `${page.count} in view${page.count > page.data.length ? ` (showing ${page.data.length})` : ""}`;
  for (const o of page.data) {
    const marker = objectMarker(o).addTo(layers.objects);
    marker.bindPopup(objectPopup(o));
    const li = document.createElement("li");
    li.innerHTML = `<span class="chip ${esc(o.status)}">${esc(o.status)}</span> <span class="chip sev-${esc(o.severity)}">${esc(o.severity)}</span> ${esc(o.kind)} <span class="muted small">${esc(o.source_id || o.site_id || "")}</span>`;
    li.addEventListener("click", () => { map.setView([o.lat, o.lon], Math.max(map.getZoom(), 17)); marker.openPopup(); });
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

// Base tile maps are exclusive (radio buttons); everything else lies over them.
async function addLayersControl() {
  const base = await map.baseLayers;
  const none = L.layerGroup();
  if (!Object.keys(base.tiles).length) none.addTo(map);
  L.control.layers({ ...base.tiles, "No base map": none }, {
    ...base.orthophotos,
    "Visible captures": layers.rgb,
    "Thermal captures": layers.thermal,
    Sites: layers.sites,
    "No-fly zones": layers.noFly,
    "Obstacles (height)": layers.obstacles,
    Routes: layers.routes,
    "Photo points": layers.photos,
    Objects: layers.objects,
    "Live drone": layers.live,
  }, { collapsed: false }).addTo(map);
}

(async () => {
  await initHeader("map");
  await addLayersControl();
  document.getElementById("status-filter").addEventListener("change", loadObjects);
  await loadSites();
  await loadPatrols();
  await loadObjects();
  map.on("moveend", loadObjects);
  map.on("moveend overlayadd", showCaptures);
  await watchFlights();
  setInterval(watchFlights, 5000);
  document.body.dataset.ready = "1";
})().catch((err) => toast(err.message, true));
