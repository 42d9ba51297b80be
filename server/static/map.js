"use strict";
// The map page: the zone over the server's base layers, a patrol's routes, photo points and
// captures laid where they saw the ground, its flights' gas tracks and the sources they point
// to, and the objects found (click one to review it).

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
  gas: L.layerGroup().addTo(map),
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
  for (const key of ["routes", "photos", "rgb", "thermal", "gas"]) layers[key].clearLayers();
  gasLegend.show([], []);
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
  await showGas(name).catch((err) => toast(`gas: ${err.message}`, true));
}

// Gas: each flight's readings as circle markers coloured by concentration (one sequential scale
// per pollutant and unit, over every flight shown), at most GAS_POINTS in all (the server keeps
// the highest reading of each run it thins), and where the source can be had (the wind given by
// the mission's alert), its estimate with a circle of its one-sigma radius.
const GAS_POINTS = 2000;
const GAS_RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]; // viridis
const gasKey = (pollutant, unit) => `${pollutant} ${unit}`;

function gasColour(value, range) {
  const t = range.max > range.min ? Math.min(1, Math.max(0, (value - range.min) / (range.max - range.min))) : 1;
  const at = t * (GAS_RAMP.length - 1);
  const i = Math.min(GAS_RAMP.length - 2, Math.floor(at));
  const [a, b] = [GAS_RAMP[i], GAS_RAMP[i + 1]].map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * (at - i))).join(",")})`;
}

function gasPopup(p) {
  return `<b>${fmt(p.value, 2)} ${esc(p.unit)}</b> ${esc(p.pollutant)}<br>${esc(p.time_utc)}<br>` +
    `${p.height_agl_m == null ? "height above ground unknown" : `${fmt(p.height_agl_m)} m above ground`} · ${fmt(p.alt_amsl_m)} m AMSL`;
}

async function showGas(patrol) {
  const flights = (await api(`/flights?patrol=${encodeURIComponent(patrol)}&limit=100`)).data;
  if (!flights.length) return;
  const each = Math.max(50, Math.floor(GAS_POINTS / flights.length));
  const tracks = (await Promise.all(flights.map((f) => api(`/flights/${f.id}/gas?max_points=${each}`)
    .then((t) => ({ ...t, name: f.name })).catch(() => null)))).filter((t) => t && t.features.length);
  const ranges = new Map();
  for (const t of tracks) {
    for (const r of t.ranges) {
      const key = gasKey(r.pollutant, r.unit);
      const seen = ranges.get(key);
      ranges.set(key, seen ? { ...seen, min: Math.min(seen.min, r.min), max: Math.max(seen.max, r.max) } : { ...r });
    }
  }
  for (const t of tracks) {
    for (const f of t.features) {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      L.circleMarker([lat, lon], {
        radius: 4, weight: 0, fillOpacity: 0.9, className: "gas-marker",
        fillColor: gasColour(p.value, ranges.get(gasKey(p.pollutant, p.unit))),
      }).bindPopup(gasPopup(p)).addTo(layers.gas);
    }
  }
  const notes = await Promise.all(tracks.map(showGasSource));
  gasLegend.show([...ranges.values()], notes);
}

// The flight's source, for its most-read pollutant; the reason when it cannot be had.
async function showGasSource(track) {
  const main = track.ranges.reduce((a, b) => (b.count > a.count ? b : a));
  const query = new URLSearchParams({ pollutant: main.pollutant, unit: main.unit });
  let s;
  try {
    s = await api(`/flights/${track.flight_id}/gas/source?${query}`);
  } catch (err) {
    return `${track.name}: no source (${err.message})`;
  }
  const named = s.stack_id ? `stack ${s.stack_id} (${s.site_id})` : s.site_id ? `site ${s.site_id}` : "no stack or site within 50 m";
  if (s.uncertainty_m != null) {
    L.circle([s.lat, s.lon], { radius: s.uncertainty_m, color: "#d7263d", weight: 1.5, fillOpacity: 0.08, className: "gas-source-circle" }).addTo(layers.gas);
  }
  L.circleMarker([s.lat, s.lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#d7263d", fillOpacity: 1, className: "gas-source" })
    .bindTooltip(esc(s.stack_id || s.site_id || "source?"), { permanent: true, direction: "right", offset: [8, 0], className: "gas-source-label" })
    .bindPopup(`<b>${esc(s.pollutant)} source</b> · ${esc(named)}${s.distance_m != null ? `, ${fmt(s.distance_m)} m away` : ""}<br>` +
      `${s.uncertainty_m == null ? "position not pinned down" : `± ${fmt(s.uncertainty_m)} m (one sigma)`} · release ${fmt(s.height_m)} m above ground` +
      `${s.emission_g_s != null ? ` · ${fmt(s.emission_g_s, 2)} g/s` : ""}<br>` +
      `wind from ${fmt(s.wind_from_deg, 0)}° at ${fmt(s.wind_speed_m_s)} m/s (${s.wind_source === "alert" ? `station ${esc(s.station_id)}` : "given"}), class ${esc(s.stability)} · ${s.n_samples} readings`)
    .addTo(layers.gas);
  return `${track.name}: source at ${named}`;
}

// The legend: each pollutant's scale with its unit and range, and what became of each source.
const gasLegend = L.control({ position: "bottomright" });
gasLegend.onAdd = () => {
  const div = L.DomUtil.create("div", "gas-legend leaflet-control");
  div.hidden = true;
  return div;
};
gasLegend.show = (ranges, notes) => {
  const div = gasLegend.getContainer();
  if (!div) return;
  div.hidden = !ranges.length || !map.hasLayer(layers.gas);
  div.innerHTML = "<b>Gas</b>" + ranges.map((r) => `<div class="gas-scale" data-key="${esc(gasKey(r.pollutant, r.unit))}">
      <span>${esc(r.pollutant)} (${esc(r.unit)})</span><i class="gas-ramp"></i>
      <span class="gas-range"><span class="gas-min">${fmt(r.min, 2)}</span><span class="gas-max">${fmt(r.max, 2)}</span></span></div>`).join("") +
    notes.map((n) => `<div class="gas-note small">${esc(n)}</div>`).join("");
  gasLegend.ranges = ranges;
};
gasLegend.addTo(map);
map.on("overlayadd overlayremove", () => {
  const div = gasLegend.getContainer();
  if (div) div.hidden = !(gasLegend.ranges || []).length || !map.hasLayer(layers.gas);
});

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
  const running = page.data.filter((f) => f.live && !FLIGHT_ENDED.includes(f.status));
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
    Gas: layers.gas,
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
