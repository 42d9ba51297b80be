// A site's page: every patrol that covered it, its objects by status over time, a case file
// per patrol, and each recurring object of the latest patrol beside the previous patrol's.
"use strict";

const STATUSES = ["pending", "confirmed", "rejected", "duplicate"];
const SVG_NS = "http://www.w3.org/2000/svg";

function siteIdFromPath() {
  return decodeURIComponent(location.pathname.split("/")[2] || "");
}

function caseFileUrl(siteId, patrol) {
  return `${API}/sites/${encodeURIComponent(siteId)}/case-file?patrol=${encodeURIComponent(patrol)}`;
}

function when(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") : "not flown";
}

function patrolRows(history) {
  const body = document.querySelector("#patrols tbody");
  body.innerHTML = history.patrols.map((p) => `<tr data-patrol="${esc(p.name)}">
    <td>${esc(p.name)}</td><td>${esc(when(p.started_at))}</td><td>${p.flights.length}</td>
    ${STATUSES.map((s) => `<td class="n" data-status="${s}">${p.counts[s] || 0}</td>`).join("")}
    <td><a class="case-file" href="${esc(caseFileUrl(history.site_id, p.name))}" download>PDF</a></td></tr>`).join("");
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// One stacked bar per patrol, oldest on the left, its height the number of objects.
function statusChart(history) {
  const chart = document.getElementById("chart");
  chart.replaceChildren();
  const patrols = history.patrols;
  if (!patrols.length) return;
  const most = Math.max(1, ...patrols.map((p) => STATUSES.reduce((n, s) => n + (p.counts[s] || 0), 0)));
  const barW = 36, gap = 48, top = 16, plotH = 140, left = 30;
  const width = left + patrols.length * (barW + gap) + gap, height = top + plotH + 40;
  const root = svg("svg", { width, height, role: "img", "aria-label": "objects by status per patrol" });
  root.appendChild(svg("text", { x: 4, y: top + 4 }, String(most)));
  root.appendChild(svg("text", { x: 4, y: top + plotH }, "0"));
  patrols.forEach((p, i) => {
    const x = left + gap + i * (barW + gap);
    const bar = svg("g", { class: "bar", "data-patrol": p.name });
    let y = top + plotH;
    for (const s of STATUSES) {
      const h = ((p.counts[s] || 0) / most) * plotH;
      if (h > 0) {
        y -= h;
        const rect = svg("rect", { x, y, width: barW, height: h, fill: STATUS_COLOURS[s], "data-status": s });
        rect.appendChild(svg("title", {}, `${p.name}: ${p.counts[s]} ${s}`));
        bar.appendChild(rect);
      }
    }
    bar.appendChild(svg("text", { x: x + barW / 2, y: top + plotH + 14, "text-anchor": "middle" }, p.name.slice(0, 12)));
    bar.appendChild(svg("text", { x: x + barW / 2, y: top + plotH + 28, "text-anchor": "middle" }, when(p.started_at).slice(0, 10)));
    root.appendChild(bar);
  });
  chart.appendChild(root);
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.innerHTML = STATUSES.map((s) => `<span><i class="dot" style="background:${STATUS_COLOURS[s]}"></i>${s}</span>`).join("");
  chart.appendChild(legend);
}

function thumb(findingId, caption) {
  const img = findingId
    ? `<img src="${API}/findings/${encodeURIComponent(findingId)}/thumbnail" alt="${esc(caption)}" loading="lazy">`
    : `<div class="muted small">no image</div>`;
  return `<figure>${img}<figcaption>${esc(caption)}</figcaption></figure>`;
}

// Each recurring object of the latest patrol, its best crop beside the previous patrol's.
function comparisons(history) {
  const latest = history.patrols.filter((p) => p.objects.length).at(-1);
  const recurring = latest ? latest.objects.filter((o) => o.change === "recurring" && o.previous_object_id) : [];
  if (!recurring.length) return;
  document.getElementById("compare").innerHTML = recurring.map((o) => `<div class="pair" data-object="${esc(o.id)}">
    ${thumb(o.best_finding_id, `${latest.name}: ${o.kind.replace(/_/g, " ")} (${o.status})`)}
    ${thumb(o.previous_best_finding_id, `${o.previous_patrol_name || "previous patrol"}: the same object`)}
  </div>`).join("");
}

async function main() {
  await initHeader("site");
  const siteId = siteIdFromPath();
  const status = document.getElementById("site-status");
  try {
    const history = await api(`/sites/${encodeURIComponent(siteId)}/history`);
    document.getElementById("site-title").textContent = `${history.site_id}${history.name ? ` · ${history.name}` : ""} (${history.kind})`;
    document.title = `${history.site_id} · EcoPatrol`;
    status.textContent = history.patrols.length
      ? `${history.patrols.length} patrol(s) covered this site.`
      : "No patrol has covered this site yet.";
    patrolRows(history);
    statusChart(history);
    comparisons(history);
  } catch (err) {
    status.textContent = err.message;
    status.classList.add("error-text");
  }
  document.body.dataset.ready = "1";
}

main();
