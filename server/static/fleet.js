"use strict";
// Every flight of the service on one map: a LiveFlight (its own WebSocket) per flight still
// starting or flying, each in its own colour, and a card per flight with its sortie, mode,
// progress, battery, link quality and alert, and its own Pause / Resume / Home / Land.
// New flights (a patrol's delayed sorties) are found by polling the flight list.

const map = baseMap("map");
const liveLayer = L.layerGroup().addTo(map);
const COLOURS = ["#00c2ff", "#ff6b35", "#2ecc71", "#e83e8c", "#f0a202", "#6f42c1"];
const VERBS = [["pause", "Pause"], ["resume", "Resume"], ["home", "Home"], ["land", "Land"]];
const fleet = new Map(); // flight id -> LiveFlight (tests read the markers from here)
window.fleet = fleet;
let canControl = false;
let framed = 0; // how many drones the view was last fitted to

// Frame every drone when one appears on the map; never after, so the view stays where the
// operator puts it.
function fitNewcomers() {
  const here = [...fleet.values()].filter((f) => f.marker).map((f) => f.marker.getLatLng());
  if (here.length <= framed) return;
  framed = here.length;
  if (here.length === 1) map.setView(here[0], 16);
  else map.fitBounds(L.latLngBounds(here), { padding: [60, 60], maxZoom: 17 });
}

function card(flight, colour) {
  const box = document.createElement("div");
  box.className = "card live fleet-flight";
  box.dataset.flight = flight.id;
  box.style.borderLeft = `4px solid ${colour}`;
  const buttons = canControl
    ? VERBS.map(([verb, label]) => `<button type="button" data-verb="${verb}">${label}</button>`).join(" ")
    : "";
  box.innerHTML = `<b>${esc(flight.name)}</b><div class="state small"></div><div class="row controls">${buttons}</div>`;
  box.querySelectorAll("button[data-verb]").forEach((button) => {
    button.addEventListener("click", async () => {
      try {
        await api(`/flights/${flight.id}/${button.dataset.verb}`, { method: "POST" });
      } catch (err) {
        toast(`${button.textContent}: ${err.message}`, true);
      }
    });
  });
  return box;
}

function describeFleetState(s) {
  const sortie = s.sortie ? `sortie ${s.sortie}` : "";
  const progress = typeof s.current_item === "number" && s.item_count ? `item ${s.current_item}/${s.item_count}` : "";
  return [sortie, progress].filter(Boolean).map(esc).join(" · ") + "<br>" + describeState(s);
}

async function poll() {
  const page = await api("/flights?limit=50");
  const list = document.getElementById("fleet-list");
  for (const flight of page.data) {
    if (fleet.has(flight.id) || !flight.live || FLIGHT_ENDED.includes(flight.status)) continue;
    const colour = COLOURS[fleet.size % COLOURS.length];
    const box = card(flight, colour);
    list.appendChild(box);
    const state = box.querySelector(".state");
    fleet.set(flight.id, new LiveFlight(liveLayer, flight.id, (s) => {
      state.innerHTML = describeFleetState(s);
      box.classList.toggle("ended", FLIGHT_ENDED.includes(s.status));
      if (typeof s.lat === "number") fitNewcomers();
    }, colour));
  }
  document.getElementById("fleet-empty").hidden = fleet.size > 0;
}

(async () => {
  const me = await initHeader("fleet");
  canControl = me.role !== "inspector";
  const sites = await api("/sites");
  siteLayer(sites).addTo(map);
  await poll();
  document.body.dataset.ready = "1";
  setInterval(() => poll().catch((err) => toast(`flights: ${err.message}`, true)), 3000);
})();
