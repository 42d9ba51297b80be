"use strict";
// The plan page's schedules: every patrol's recurring flights, their next slot and what became
// of the last ones (launched, skipped, missed, failed, with the reason); add, pause, remove.
// The server decides each slot (server/scheduler.py); this page only reads and edits schedules.

const TZ = "Asia/Shanghai";
const RUN_COLOURS = { launched: "#198754", skipped: "#b58105", missed: "#6c757d", failed: "#dc3545" };

function scheduleWhen(s) {
  if (s.kind === "interval") return `every ${s.interval_min} min`;
  return `${esc((s.times || []).join(", "))} ${esc(s.days ? s.days.join(",") : "daily")} (${esc(s.tz)})`;
}

function utcText(iso) {
  return iso ? `${iso.slice(0, 16).replace("T", " ")}Z` : "—";
}

function runLine(r) {
  const flights = (r.flight_ids || []).length;
  return `<li data-status="${esc(r.status)}"><span style="color:${RUN_COLOURS[r.status] || "inherit"}"><b>${esc(r.status)}</b></span>
    ${esc(utcText(r.slot_at))}${flights ? ` · ${flights} flight(s)` : ""}<br><span class="muted">${esc(r.reason)}</span></li>`;
}

function scheduleCard(s) {
  const card = document.createElement("div");
  card.className = "card schedule";
  card.dataset.id = s.id;
  card.dataset.enabled = s.enabled ? "1" : "0";
  card.innerHTML = `<div class="row" style="justify-content:space-between"><b>${esc(s.patrol_name)}</b>
      <span>${s.enabled ? "" : '<span class="paused">paused</span> '}<button type="button" class="toggle">${s.enabled ? "Pause" : "Resume"}</button>
      <button type="button" class="danger remove">Remove</button></span></div>
    ${scheduleWhen(s)} · max wind ${fmt(s.max_wind_m_s)} m/s<br>
    next: <span class="next">${s.enabled ? esc(utcText(s.next_run_at)) : "paused"}</span>
    <ul class="runs">${s.last_runs.map(runLine).join("") || '<li class="muted">not run yet</li>'}</ul>`;
  card.querySelector(".toggle").addEventListener("click", () => editSchedule(s.id, { enabled: !s.enabled }));
  card.querySelector(".remove").addEventListener("click", () => removeSchedule(s));
  return card;
}

async function loadSchedules() {
  const box = document.getElementById("schedules");
  const schedules = (await api("/schedules")).data;
  box.innerHTML = "";
  box.classList.toggle("muted", !schedules.length);
  if (!schedules.length) box.textContent = "No patrol is scheduled.";
  for (const s of schedules) box.appendChild(scheduleCard(s));
}

async function loadSchedulePatrols() {
  const select = document.getElementById("schedule-patrol");
  select.innerHTML = (await api("/patrols")).map((p) => `<option>${esc(p.name)}</option>`).join("");
}

async function editSchedule(id, change) {
  try {
    await api(`/schedules/${id}`, { method: "PATCH", json: change });
    await loadSchedules();
  } catch (err) { toast(err.message, true); }
}

async function removeSchedule(s) {
  if (!confirm(`Remove the schedule of ${s.patrol_name} and its history?`)) return;
  try {
    await api(`/schedules/${s.id}`, { method: "DELETE" });
    await loadSchedules();
  } catch (err) { toast(err.message, true); }
}

async function addSchedule(event) {
  event.preventDefault();
  const value = (id) => document.getElementById(id).value.trim();
  const list = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);
  const body = { patrol_name: value("schedule-patrol"), tz: TZ, max_wind_m_s: Number(value("schedule-wind")) };
  if (value("schedule-every")) Object.assign(body, { kind: "interval", interval_min: Number(value("schedule-every")) });
  else Object.assign(body, { kind: "times", times: list(value("schedule-at")) });
  if (body.kind === "times" && value("schedule-days")) body.days = list(value("schedule-days"));
  try {
    await api("/schedules", { method: "POST", json: body });
    toast(`scheduled ${body.patrol_name}`);
    await loadSchedules();
  } catch (err) { toast(err.message, true); }
}

// Called by plan.js once it knows the user may plan (inspectors never see this part).
async function initSchedules() {
  document.getElementById("schedule-tz").textContent = TZ;
  document.getElementById("schedule-form").addEventListener("submit", addSchedule);
  await Promise.all([loadSchedules(), loadSchedulePatrols()]);
  setInterval(() => loadSchedules().catch(() => {}), 30000);
  document.body.dataset.schedulesReady = "1";
}
