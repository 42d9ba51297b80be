"use strict";
// The duty officer's page: an air-quality alert, the enterprises most likely behind it on the
// map (each with its modelled plume footprint), and a patrol over the top three in one click,
// reviewed and launched on the plan page.

const map = baseMap("map");
const layers = {
  sites: L.layerGroup().addTo(map),
  candidates: L.layerGroup().addTo(map),
  stations: L.layerGroup().addTo(map),
  findings: L.layerGroup().addTo(map),
};
// by rank; none of them the stations' blue
const RANK_COLOURS = ["#d7263d", "#f0a202", "#8e44ad", "#20c997", "#e83e8c", "#8d6e63", "#17a2b8"];
const FINDING_COLOUR = "#00c2ff";
const PATROL_TOP = 3;
const CANDIDATES_TOP = 5;
let sites = { type: "FeatureCollection", features: [] };
let selected = null; // the id of the alert shown; answers for another are dropped
let windControl = null;

const rankColour = (rank) => RANK_COLOURS[(rank - 1) % RANK_COLOURS.length];
// API times are UTC ISO 8601 ("2026-06-15T06:00:00Z"); shown as "2026-06-15 06:00"
const utc = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");
const stations = () => sites.features.filter((f) => f.properties.kind === "station");
const stationName = (id) => stations().find((f) => f.properties.id === id)?.properties.name || id;
const planHref = (patrolName) => `/plan?patrol=${encodeURIComponent(patrolName)}`;

async function loadSites() {
  sites = await api("/sites");
  layers.sites.clearLayers();
  const others = sites.features.filter((f) => !["station", "dock"].includes(f.properties.kind));
  const layer = siteLayer({ ...sites, features: others }).addTo(layers.sites);
  if (others.length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  drawStations(null, {});
}

// Every station of the zone; the alert's larger and red. `values` maps a station id to the
// reading the ranking used ({value, background, unit}).
function drawStations(alertStation, values) {
  layers.stations.clearLayers();
  for (const f of stations()) {
    const [lon, lat] = f.geometry.coordinates;
    const id = f.properties.id;
    const mine = id === alertStation;
    const marker = L.circleMarker([lat, lon], {
      radius: mine ? 10 : 6, weight: mine ? 3 : 1.5, color: "#fff", fillColor: mine ? "#d7263d" : "#0b6efd",
      fillOpacity: 0.95, className: mine ? "station alert-station" : "station",
    });
    const v = values[id];
    const reading = v ? `<br>${fmt(v.value)} ${esc(v.unit)} (background ${fmt(v.background)})` : "";
    marker.bindTooltip(`<b>${esc(id)}</b> · ${esc(f.properties.name || "station")}${reading}`);
    marker.addTo(layers.stations);
  }
}

async function loadAlerts() {
  const [open, closed] = await Promise.all([api("/alerts?open=true&limit=100"), api("/alerts?open=false&limit=50")]);
  const list = document.getElementById("alert-list");
  const alerts = [...open.data, ...closed.data];
  list.innerHTML = alerts.length ? "" : '<li class="muted">No alerts.</li>';
  for (const a of alerts) {
    const li = document.createElement("li");
    Object.assign(li.dataset, { id: a.id, station: a.station, pollutant: a.pollutant, state: a.open ? "open" : "closed" });
    const level = a.reason === "limit" ? "ambient limit" : "station baseline";
    const mean = a.averaging_h === 24 ? ", 24-h mean" : "";
    li.innerHTML = `<div class="row" style="justify-content:space-between"><b>${esc(a.pollutant)} · ${esc(stationName(a.station))}</b>
      <span class="chip ${a.open ? "alert-open" : "alert-closed"}">${a.open ? "open" : "closed"}</span></div>
      peak <b>${fmt(a.peak_value)}</b> ${esc(a.unit)} vs ${fmt(a.threshold)} (${level}${mean})<br>
      <span class="muted">opened ${utc(a.opened_at)}${a.closed_at ? ` · closed ${utc(a.closed_at)}` : ""}</span>`;
    li.addEventListener("click", () => selectAlert(a.id).catch((err) => toast(err.message, true)));
    list.appendChild(li);
  }
  return alerts;
}

async function selectAlert(id) {
  selected = id;
  document.getElementById("btn-patrol").disabled = false;
  document.querySelectorAll("#alert-list li").forEach((li) => li.classList.toggle("selected", li.dataset.id === id));
  history.replaceState(null, "", `/alerts?alert=${encodeURIComponent(id)}`);
  document.getElementById("patrol-result").textContent = "";
  const detail = await api(`/alerts/${id}`);
  if (selected !== id) return;
  showReadings(detail);
  showPatrolsAndFindings(detail);
  drawStations(detail.station, {});
  await showCandidates(detail);
}

function showReadings(alert) {
  document.getElementById("alert-detail").hidden = false;
  const where = `${esc(alert.station)} · ${esc(stationName(alert.station))}`;
  document.getElementById("alert-summary").innerHTML = `<b>${esc(alert.pollutant)}</b> at ${where}<br>
    <span class="muted">${alert.reason === "limit" ? "over the ambient limit" : "over the station's baseline"} of ${fmt(alert.threshold)} ${esc(alert.unit)}</span>`;
  document.getElementById("sparkline").innerHTML = sparkline(alert.readings, alert.threshold);
  document.querySelector("#readings tbody").innerHTML = alert.readings.map((r) => `<tr>
    <td>${utc(r.time)}</td><td class="n${r.value > alert.threshold ? " over" : ""}">${fmt(r.value)} ${esc(r.unit)}</td>
    <td>${r.wind_from_deg == null ? "–" : `${fmt(r.wind_from_deg, 0)}° at ${fmt(r.wind_speed_m_s)} m/s`}</td></tr>`).join("");
}

// The readings over time as a line, the alert's threshold dashed; an SVG string.
function sparkline(readings, threshold) {
  const w = 300, h = 70, pad = 6;
  if (!readings.length) return '<p class="muted">No readings.</p>';
  const times = readings.map((r) => Date.parse(r.time));
  const values = readings.map((r) => r.value);
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const top = Math.max(...values, threshold) * 1.1 || 1;
  const x = (t) => (t1 === t0 ? w / 2 : pad + ((t - t0) / (t1 - t0)) * (w - 2 * pad));
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  const points = readings.map((r, i) => `${x(times[i]).toFixed(1)},${y(r.value).toFixed(1)}`);
  const dots = readings.map((r, i) => `<circle cx="${x(times[i]).toFixed(1)}" cy="${y(r.value).toFixed(1)}" r="2.5"><title>${utc(r.time)}: ${fmt(r.value)}</title></circle>`);
  return `<svg class="sparkline" viewBox="0 0 ${w} ${h}" width="100%" height="${h}" role="img" aria-label="readings over time">
    <line class="threshold" x1="0" x2="${w}" y1="${y(threshold).toFixed(1)}" y2="${y(threshold).toFixed(1)}"><title>threshold ${fmt(threshold)}</title></line>
    <polyline points="${points.join(" ")}"/>${dots.join("")}</svg>`;
}

// The ranked enterprises: footprints and stacks on the map, the list beside it, the wind.
async function showCandidates(alert) {
  const status = document.getElementById("candidates-status");
  const list = document.getElementById("candidates");
  layers.candidates.clearLayers();
  windControl?.remove();
  list.innerHTML = "";
  status.classList.remove("error-text");
  status.textContent = "Ranking the enterprises…";
  delete status.dataset.state;
  let fc;
  try {
    fc = await api(`/alerts/${alert.id}/candidates?top=${CANDIDATES_TOP}`);
  } catch (err) {
    if (selected !== alert.id) return;
    status.textContent = err.status === 422 ? `Cannot rank the sources: ${err.message}` : err.message;
    status.classList.add("error-text");
    status.dataset.state = "refused";
    return;
  }
  if (selected !== alert.id) return;
  const values = Object.fromEntries((fc.readings || []).map((r) => [r.station_id, r]));
  drawStations(alert.station, values);
  const drawn = fc.features.map((f) => drawCandidate(f)).filter(Boolean);
  fc.features.forEach((f, i) => list.appendChild(candidateItem(f, drawn[i])));
  windControl = windArrow(fc.wind).addTo(map);
  status.innerHTML = `${esc(fc.pollutant)} at ${utc(fc.time)} UTC · stability ${esc(fc.stability)}.
    Score: the probability that the enterprise is the source, given the readings.${assumptions(fc.assumptions)}`;
  status.dataset.state = "ranked";
  const bounds = L.featureGroup(layers.candidates.getLayers()).getBounds();
  if (bounds.isValid()) map.fitBounds(bounds.extend(L.featureGroup(layers.stations.getLayers()).getBounds()), { padding: [20, 20] });
}

// One candidate's footprint (translucent) and stacks, in its rank's colour; the layer drawn.
function drawCandidate(f) {
  const p = f.properties;
  const colour = rankColour(p.rank);
  const group = L.featureGroup().addTo(layers.candidates);
  if (f.geometry) {
    L.geoJSON(f.geometry, {
      className: `candidate-footprint rank-${p.rank}`,
      style: () => ({ color: colour, weight: 1.5, fillColor: colour, fillOpacity: 0.2 }),
    }).bindTooltip(`#${p.rank} ${esc(p.name)}: modelled plume footprint (ground level over a tenth of its peak)`).addTo(group);
  }
  for (const [lon, lat] of p.stacks || []) {
    L.circleMarker([lat, lon], {
      radius: 6, color: "#fff", weight: 1.5, fillColor: colour, fillOpacity: 1, className: `candidate-stack rank-${p.rank}`,
    }).bindTooltip(`#${p.rank} ${esc(p.name)}: stack`).addTo(group);
  }
  return group;
}

function candidateItem(f, group) {
  const p = f.properties;
  const li = document.createElement("li");
  Object.assign(li.dataset, { rank: p.rank, site: p.site_id });
  li.innerHTML = `<div class="row" style="justify-content:space-between;flex-wrap:nowrap">
    <span><span class="rank-badge" style="background:${rankColour(p.rank)}">${p.rank}</span> <b class="name">${esc(p.name || p.site_id)}</b></span>
    <b class="score">${fmt(100 * p.score, 0)}%</b></div>
    <span class="muted">${esc(p.industry || "industry unknown")} · ${esc(p.site_id)}${p.emission_g_s == null ? "" : ` · <span title="the emission rate that best fits the readings">~${grams(p.emission_g_s)} g/s</span>`}</span>`;
  li.addEventListener("click", () => {
    const bounds = group.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [30, 30] });
  });
  return li;
}

// An emission rate to two significant figures (rates span orders of magnitude).
function grams(value) {
  return value >= 10 ? value.toFixed(0) : Number(value.toPrecision(2)).toString();
}

function assumptions(text) {
  return text ? `<details><summary>Assumptions</summary><p>${esc(text)}</p></details>` : "";
}

// A map control with an arrow pointing where the wind blows TO: the API gives the direction it
// blows FROM, degrees clockwise from true north; the map has true north up (Web Mercator), so
// the arrow, drawn pointing up, turns clockwise by from + 180.
function windArrow(wind) {
  const control = L.control({ position: "topright" });
  control.onAdd = () => {
    const div = L.DomUtil.create("div", "wind-arrow leaflet-bar");
    if (!wind || wind.from_deg == null) {
      div.textContent = "wind unknown";
      return div;
    }
    const toDeg = (wind.from_deg + 180) % 360;
    div.dataset.fromDeg = wind.from_deg;
    div.dataset.toDeg = toDeg;
    div.title = `Wind from ${fmt(wind.from_deg, 0)}° (clockwise from true north) at ${fmt(wind.speed_m_s)} m/s; the arrow points where it blows to (${fmt(toDeg, 0)}°).`;
    div.innerHTML = `<svg viewBox="-20 -20 40 40" width="40" height="40" aria-hidden="true"><g transform="rotate(${toDeg})">
      <line x1="0" y1="14" x2="0" y2="-8"/><path d="M0,-17 L-6,-6 L6,-6 Z"/></g></svg>
      <span>${fmt(wind.speed_m_s)} m/s</span>`;
    return div;
  };
  return control;
}

function showPatrolsAndFindings(alert) {
  const patrols = document.getElementById("alert-patrols");
  const list = alert.patrols || [];
  patrols.innerHTML = list.length ? list.map((p) => `<li data-patrol="${esc(p.name)}">
    <a href="${planHref(p.name)}">${esc(p.name)}</a> · ${p.mission_ids.length} sortie(s)</li>`).join("") : '<li class="muted">none</li>';
  layers.findings.clearLayers();
  const box = document.getElementById("alert-findings");
  const findings = alert.findings || [];
  box.innerHTML = findings.length ? "" : '<li class="muted">none</li>';
  for (const f of findings) {
    const marker = L.circleMarker([f.lat, f.lon], {
      radius: 7, color: "#fff", weight: 1.5, fillColor: FINDING_COLOUR, fillOpacity: 0.95, className: "alert-finding",
    }).bindTooltip(`${esc(f.kind)}${f.site_id ? ` at ${esc(f.site_id)}` : ""} · ${utc(f.captured_at)} UTC`).addTo(layers.findings);
    const li = document.createElement("li");
    li.dataset.id = f.id;
    li.innerHTML = `<b>${esc(f.kind)}</b>${f.site_id ? ` at ${esc(f.site_id)}` : ""} <span class="muted">${utc(f.captured_at)} · ${fmt(f.lat, 5)}, ${fmt(f.lon, 5)}</span>`;
    li.addEventListener("click", () => { map.setView(marker.getLatLng(), Math.max(map.getZoom(), 17)); marker.openTooltip(); });
    box.appendChild(li);
  }
}

async function planPatrol() {
  const button = document.getElementById("btn-patrol");
  const result = document.getElementById("patrol-result");
  const id = selected;
  button.disabled = true;
  result.classList.remove("error-text");
  result.textContent = "planning…";
  try {
    const r = await api(`/alerts/${id}/patrol`, { method: "POST", json: { top: PATROL_TOP } });
    const refused = Object.entries(r.refused || {});
    result.innerHTML = `Patrol <b>${esc(r.patrol_name)}</b>: ${r.sorties.length} sortie(s), ${fmt(r.length_m / 1000, 1)} km,
      ${Math.round(r.duration_s / 60)} min over ${r.candidates.map(esc).join(", ")}.
      ${refused.length ? `<br>Refused: ${refused.map(([k, v]) => `${esc(k)} (${esc(v)})`).join("; ")}<br>` : ""}
      <a id="patrol-link" href="${planHref(r.patrol_name)}">Review and launch it on the plan page</a>`;
    if (selected === id) showPatrolsAndFindings(await api(`/alerts/${id}`));
  } catch (err) {
    result.textContent = err.message;
    result.classList.add("error-text");
  } finally {
    button.disabled = false;
  }
}

(async () => {
  const me = await initHeader("alerts");
  // patrols are planned by operators and admins; inspectors read
  document.getElementById("patrol-box").hidden = !["operator", "admin"].includes(me.role);
  document.getElementById("btn-patrol").addEventListener("click", planPatrol);
  await loadSites();
  const alerts = await loadAlerts();
  const wanted = new URLSearchParams(location.search).get("alert");
  const first = alerts.find((a) => a.id === wanted) || alerts.find((a) => a.open);
  document.body.dataset.ready = "1";
  if (first) await selectAlert(first.id);
})().catch((err) => toast(err.message, true));
