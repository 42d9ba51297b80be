// Shared helpers of the EcoPatrol pages: API calls with the session cookie, header, toasts.
"use strict";

const API = "/api/v1";
const STATUS_COLOURS = { pending: "#f0a202", confirmed: "#d7263d", rejected: "#7a7a7a", duplicate: "#6c5ce7" };
const SITE_STYLES = {
  enterprise: { color: "#1b998b", weight: 2, fillOpacity: 0.12 },
  river: { color: "#1f78b4", weight: 4, opacity: 0.7 },
  no_fly: { color: "#c0392b", weight: 2, dashArray: "6 4", fillOpacity: 0.18 },
  dock: { color: "#f39c12" },
  stack: { color: "#2e294e" },
};
const OBSTACLE_COLOUR = "#5b2a86";
// A flight in one of these has ended (store.models.FlightStatus).
const FLIGHT_ENDED = ["landed", "aborted", "failed"];

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, options = {}) {
  const opts = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (opts.json !== undefined) {
    opts.body = JSON.stringify(opts.json);
    opts.headers["Content-Type"] = "application/json";
    delete opts.json;
  }
  const response = await fetch(API + path, opts);
  if (response.status === 401 && !path.startsWith("/login")) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
    throw new ApiError(401, "not signed in");
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.detail) || response.statusText);
  }
  return body;
}

function toast(message, isError = false) {
  let el = document.getElementById("toast");
  if (!el) { el = document.createElement("div"); el.id = "toast"; el.className = "toast"; document.body.appendChild(el); }
  el.textContent = message;
  el.classList.toggle("error", isError);
  el.style.display = "block";
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.style.display = "none"; }, isError ? 6000 : 2500);
}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// A flight's processing progress in `el`, polled while jobs are unfinished; stops when `el` leaves the page.
async function showProcessing(el, flightId, intervalMs = 1500) {
  let p;
  try { p = await api(`/flights/${flightId}/processing`); } catch (err) { el.textContent = err.message; return; }
  const open = p.total > 0 && p.finished < p.total;
  const label = p.total === 0 ? "nothing queued" : open ? (p.running ? "processing" : "queued") : "processing done";
  el.innerHTML = `<div class="processing" data-flight="${esc(flightId)}">` +
    `<progress max="${p.total || 1}" value="${p.finished}"></progress> ` +
    `${label}: processed ${p.finished} / ${p.total}${p.failed ? ` (failed ${p.failed})` : ""}` +
    `${p.error ? ` <span class="error">${esc(p.error)}</span>` : ""}</div>`;
  clearTimeout(el._processingTimer);
  if (open && !p.error && el.isConnected) el._processingTimer = setTimeout(() => showProcessing(el, flightId, intervalMs), intervalMs);
}

function fmt(value, digits = 1) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

// Every page's header links, in order: [href, data-page, label].
const NAV = [
  ["/", "map", "Map"], ["/alerts", "alerts", "Alerts"], ["/plan", "plan", "Plan & fly"],
  ["/fleet", "fleet", "Fleet"], ["/review", "review", "Review queue"], ["/docs", "docs", "API"],
];

// The page's <header class="top">, drawn from NAV so a new page is one line there.
function drawHeader(active) {
  const links = NAV.map(([href, page, label]) =>
    `<a href="${href}" data-page="${page}"${page === active ? ' class="active"' : ""}>${esc(label)}</a>`);
  document.querySelector("header.top").innerHTML = `<span class="brand">EcoPatrol</span><nav>\n${links.join("\n")}\n</nav>
    <span class="user"><span id="whoami"></span><button id="logout" type="button">Sign out</button></span>`;
}

async function initHeader(active) {
  drawHeader(active);
  const me = await api("/users/me");
  document.getElementById("whoami").textContent = `${me.full_name || me.username} · ${me.role}`;
  if (me.role === "inspector") document.querySelector('nav a[data-page="plan"]')?.remove();
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/logout", { method: "POST" });
    location.href = "/login";
  });
  return me;
}

// A Leaflet map over the server's own base layers (GET /basemap: local MBTiles, XYZ folders and
// GeoTIFF orthophotos; no tile ever comes from off the host). map.baseLayers resolves to
// { tiles: {name: layer}, orthophotos: {name: layer} }: the first tile map and every
// orthophoto are shown at first; pages may offer the rest in a layers control.
function baseMap(elementId) {
  const map = L.map(elementId, { zoomControl: true, attributionControl: true, preferCanvas: false, maxZoom: 22 });
  map.attributionControl.setPrefix(false);
  map.setView([34.80, 113.53], 14);
  L.control.scale({ imperial: false }).addTo(map);
  map.baseLayers = api("/basemap").then((layers) => {
    const out = { tiles: {}, orthophotos: {} };
    for (const l of layers) {
      const [west, south, east, north] = l.bounds;
      const layer = L.tileLayer(l.tiles, {
        minZoom: l.minzoom, maxNativeZoom: l.maxzoom, maxZoom: 22,
        bounds: L.latLngBounds([south, west], [north, east]),
        attribution: esc(l.attribution), className: `basemap basemap-${l.kind}`,
        zIndex: l.kind === "geotiff" ? 2 : 1,
      });
      // the layers control writes names as HTML
      (l.kind === "geotiff" ? out.orthophotos : out.tiles)[esc(l.name)] = layer;
    }
    Object.values(out.tiles).slice(0, 1).forEach((layer) => layer.addTo(map));
    Object.values(out.orthophotos).forEach((layer) => layer.addTo(map));
    return out;
  }).catch((err) => {
    toast(`base layers: ${err.message}`, true);
    return { tiles: {}, orthophotos: {} };
  });
  return map;
}

function siteLayer(collection) {
  return L.geoJSON({ ...collection, features: collection.features.filter((f) => f.properties.kind !== "obstacle") }, {
    style: (f) => SITE_STYLES[f.properties.kind] || { color: "#555" },
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: f.properties.kind === "dock" ? 7 : 4,
      color: (SITE_STYLES[f.properties.kind] || {}).color || "#333",
      fillOpacity: 0.9, weight: 1,
    }),
    onEachFeature: (f, layer) => layer.bindTooltip(`${esc(f.properties.id)} · ${esc(f.properties.kind)}${f.properties.name ? " · " + esc(f.properties.name) : ""}${airLimits(f.properties)}`),
  });
}

// A no-fly area's floor and ceiling above its ground, when it has them.
function airLimits(p) {
  if (p.kind !== "no_fly" || (p.floor_m == null && p.ceiling_m == null)) return "";
  return ` · ${fmt(p.floor_m ?? 0, 0)}–${p.ceiling_m == null ? "∞" : fmt(p.ceiling_m, 0)} m above ground`;
}

// What the aircraft keeps clear of: every enterprise's stacks and the sites of kind obstacle,
// each labelled with its height (the planner's rules: zone/sites.py).
function obstacleFeatures(collection) {
  const out = [];
  for (const f of collection.features) {
    const p = f.properties;
    if (p.kind === "obstacle") out.push(f);
    if (p.kind !== "enterprise" || !Array.isArray(p.stacks)) continue;
    for (const s of p.stacks) {
      out.push({
        type: "Feature",
        geometry: { type: "Point", coordinates: s.coordinates.slice(0, 2) },
        properties: { ...s, kind: "stack", enterprise: p.id, radius_m: s.radius_m ?? 3, emitting: s.emitting ?? true },
      });
    }
  }
  return out;
}

function obstacleLayer(collection) {
  return L.geoJSON({ type: "FeatureCollection", features: obstacleFeatures(collection) }, {
    style: () => ({ color: OBSTACLE_COLOUR, weight: 2, fillOpacity: 0.35, className: "obstacle-marker" }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {
      radius: 6, color: "#fff", weight: 1.5, fillColor: OBSTACLE_COLOUR, fillOpacity: 0.95, className: "obstacle-marker",
    }),
    onEachFeature: (f, layer) => {
      const p = f.properties;
      layer.bindTooltip(`${fmt(p.height_m, 0)} m`, { permanent: true, direction: "top", offset: [0, -6], className: "obstacle-label" });
      const what = p.kind === "stack" ? `stack of ${esc(p.enterprise)}${p.emitting ? " (emitting)" : ""}` : esc(p.name || "obstacle");
      layer.bindPopup(`<b>${esc(p.id)}</b> · ${what}<br>${fmt(p.height_m)} m tall` +
        `${p.radius_m ? ` · radius ${fmt(p.radius_m)} m` : ""}${p.ground_alt_m != null ? ` · ground ${fmt(p.ground_alt_m)} m AMSL` : ""}`);
    },
  });
}

function findingMarker(f) {
  return L.circleMarker([f.lat, f.lon], {
    radius: 7, color: "#fff", weight: 1.5, fillColor: STATUS_COLOURS[f.status] || "#999", fillOpacity: 0.95,
  });
}
