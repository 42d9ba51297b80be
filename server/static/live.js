"use strict";
// The live drone on a Leaflet map: a WebSocket per flight, a marker and the track so far,
// in the flight's own colour.

class LiveFlight {
  constructor(map, flightId, onState, colour = "#00c2ff") {
    this.map = map;
    this.flightId = flightId;
    this.onState = onState || (() => {});
    this.colour = colour;
    this.track = L.polyline([], { color: colour, weight: 3 }).addTo(map);
    this.marker = null;
    this.closed = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${scheme}://${location.host}${API}/flights/${this.flightId}/telemetry`);
    this.ws.onmessage = (event) => this.handle(JSON.parse(event.data));
    this.ws.onclose = () => { if (!this.closed && !this.final) setTimeout(() => this.connect(), 2000); };
  }

  handle(state) {
    if (state.type === "snapshot" && Array.isArray(state.track)) {
      this.track.setLatLngs(state.track.map(([lon, lat]) => [lat, lon]));
    }
    if (typeof state.lat === "number" && typeof state.lon === "number") {
      const here = [state.lat, state.lon];
      if (state.type !== "snapshot") this.track.addLatLng(here);
      if (!this.marker) {
        this.marker = L.marker(here, {
          icon: L.divIcon({ className: "drone-icon", iconSize: [14, 14] }),
          zIndexOffset: 1000,
        }).addTo(this.map);
        const el = this.marker.getElement();
        if (el) {
          el.style.background = this.colour;
          el.style.boxShadow = `0 0 8px ${this.colour}`;
          el.dataset.flight = this.flightId;
        }
      }
      this.marker.setLatLng(here);
    }
    this.final = ["landed", "aborted", "failed"].includes(state.status);
    this.onState(state);
  }

  remove() {
    this.closed = true;
    this.ws?.close();
    this.track.remove();
    this.marker?.remove();
  }
}

function describeState(s) {
  const parts = [`<b>${esc(s.status)}</b>`];
  if (s.mode) parts.push(esc(s.mode));
  if (typeof s.alt_rel_m === "number") parts.push(`${fmt(s.alt_rel_m)} m`);
  if (typeof s.groundspeed_m_s === "number") parts.push(`${fmt(s.groundspeed_m_s)} m/s`);
  if (typeof s.battery_pct === "number") parts.push(`battery ${fmt(s.battery_pct, 0)}%${typeof s.battery_v === "number" ? " " + fmt(s.battery_v) + " V" : ""}`);
  if (typeof s.link_pct === "number") parts.push(`link ${fmt(s.link_pct, 0)}%`);
  if (typeof s.current_item === "number") parts.push(`item ${s.current_item}${s.item_count ? "/" + s.item_count : ""}`);
  if (typeof s.photos === "number") parts.push(`${s.photos} photos`);
  if (typeof s.overdue_s === "number") parts.push(`overdue, still flying (+${fmt(s.overdue_s, 0)} s)`);
  if (s.alert) parts.push(`<b class="error-text">${esc(s.alert)}</b>`);
  if (s.message) parts.push(`<span class="muted">${esc(s.message)}</span>`);
  return parts.join(" · ");
}
