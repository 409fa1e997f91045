// credrisk's what-if page: builds the form from the model's own schema (/model), scores every
// change through /explain, and loads /recourse options into the form. No dependencies.
"use strict";

const TEXT = {
  es: {
    title: "credrisk — ¿qué pasaría si…?", queue: "Solicitudes por revisar",
    queue_help: "Las últimas denegaciones que respondió el servicio (en memoria), recientes primero.",
    whatif: "Simulación", actionable: "Lo que el solicitante puede cambiar", scenario: "Escenario macroeconómico",
    locked: "Fijos (no se sugiere cambiarlos)", reset: "Volver al original", result: "Decisión",
    waterfall: "Contribuciones (SHAP, en probabilidad)", reasons: "Motivos", recourse: "¿Qué haría falta para aprobar?",
    approved: "APROBADO", denied: "RECHAZADO", probability: "Probabilidad de aprobación", threshold: "umbral",
    before: "Original", after: "Simulado", flips: "La decisión cambia", same: "Misma decisión",
    model: "Modelo", run: "run", load: "Cargar en el formulario", example: "Ejemplo", file: "archivo",
    served: "servicio", base: "Base", final: "Probabilidad", others: "otros campos", points: "puntos",
    none: "Sin motivos: la solicitud se aprueba.", empty: "No hay denegaciones por revisar.",
    error: "Error", up: "solo sube", down: "solo baja", sel_yes: "sí", sel_no: "no", missing: "no declarado",
    compare: "Motivos comparados con", ref_path: "la población de entrenamiento (caminos del árbol)",
    ref_approved: "los solicitantes aprobados", ref_cutoff: "los aprobados justo sobre el umbral",
    ref_background: "la muestra de fondo del servicio",
  },
  en: {
    title: "credrisk — what if…?", queue: "Review queue",
    queue_help: "The latest denials the service answered (kept in memory), newest first.",
    whatif: "What if", actionable: "What the applicant can change", scenario: "Macroeconomic scenario",
    locked: "Fixed (never suggested)", reset: "Back to the original", result: "Decision",
    waterfall: "Contributions (SHAP, in probability)", reasons: "Reasons", recourse: "What would it take to be approved?",
    approved: "APPROVED", denied: "DENIED", probability: "Approval probability", threshold: "threshold",
    before: "Original", after: "What-if", flips: "Decision flips", same: "Same decision",
    model: "Model", run: "run", load: "Load into the form", example: "Example", file: "file",
    served: "served", base: "Base", final: "Probability", others: "other fields", points: "points",
    none: "No reasons: the application is approved.", empty: "No denials to review.",
    error: "Error", up: "up only", down: "down only", sel_yes: "yes", sel_no: "no", missing: "not declared",
    compare: "Reasons compared with", ref_path: "the training population (tree paths)",
    ref_approved: "approved applicants", ref_cutoff: "applicants approved just above the cut-off",
    ref_background: "the service's background sample",
  },
};

const S = { lang: "es", fields: [], model: null, original: null, base: null, seq: 0, timer: null, queue: [], reference: null };
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[S.lang][key];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function pct(p) {
  const s = (100 * p).toFixed(1) + "%";
  return S.lang === "es" ? s.replace(".", ",") : s;
}

/// An /explain body: the customer in the page's language, compared with the chosen reference.
function explainBody(customer) {
  return S.reference ? { customer, lang: S.lang, reference: S.reference } : { customer, lang: S.lang };
}

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json", "X-Credrisk-What-If": "1" }, body: JSON.stringify(body) };
  const r = await fetch(path, init);
  const j = await r.json();
  if (!r.ok) throw new Error(j.message || String(r.status));
  return j;
}

/// The applicant fields: types and training ranges from feature_schema, labels, units and recourse
/// roles from the schema's columns.
function fieldsOf(model) {
  const columns = new Map((model.schema.column || []).map((c) => [c.name, c]));
  return model.feature_schema.fields.filter((f) => f.type !== "text").map((f) => {
    const c = columns.get(f.name) || {};
    return { ...f, label_es: c.label_es || f.name, label_en: c.label_en || f.name, unit: c.unit, recourse: c.recourse || "any" };
  });
}

function label(f) { return S.lang === "es" ? f.label_es : f.label_en; }

function step(f) {
  if (f.type === "integer") return 1;
  const [lo, hi] = f.training_range || [0, 1];
  const span = Math.abs(hi - lo) || 1;
  return Math.pow(10, Math.floor(Math.log10(span)) - 3);
}

function buildForm(customer) {
  for (const id of ["actionable", "scenario", "locked"]) {
    const fs = $(id);
    while (fs.children.length > 1) fs.lastChild.remove();
  }
  for (const f of S.fields) {
    const box = f.recourse === "immutable" ? $("locked") : f.recourse === "context" ? $("scenario") : $("actionable");
    const id = "f-" + f.name;
    const locked = f.recourse === "immutable";
    const value = customer[f.name];
    const hint = f.recourse === "increase" ? " (" + t("up") + ")" : f.recourse === "decrease" ? " (" + t("down") + ")" : "";
    const row = el("div", { class: "field", "data-field": f.name });
    row.append(el("label", { for: id, text: label(f) + hint }));
    if (f.type === "number" || f.type === "integer") {
      let [lo, hi] = f.training_range || [f.valid?.minimum ?? 0, f.valid?.maximum ?? 1];
      if (value !== null && value < lo) lo = value;
      if (value !== null && value > hi) hi = value;
      const number = el("input", { type: "number", id, name: f.name, step: step(f), min: f.valid?.minimum, max: f.valid?.maximum,
        value: value === null ? "" : value, disabled: locked });
      row.append(number);
      if (!locked) {
        const range = el("input", { type: "range", id: id + "-range", min: lo, max: hi, step: step(f), value: value ?? lo,
          "aria-label": label(f) });
        range.addEventListener("input", () => { number.value = range.value; changed(); });
        number.addEventListener("input", () => { if (number.value !== "") range.value = number.value; changed(); });
        row.append(range);
      }
    } else {
      const options = f.type === "boolean" ? [["true", t("sel_yes")], ["false", t("sel_no")]] : (f.categories || []).map((c) => [c, c]);
      const select = el("select", { id, name: f.name, disabled: locked });
      if (f.nullable) select.append(el("option", { value: "", text: t("missing") }));
      for (const [v, text] of options) select.append(el("option", { value: v, text }));
      select.value = value === null ? "" : String(value);
      select.addEventListener("change", changed);
      row.append(select);
    }
    row.append(el("div", { class: "delta", id: id + "-delta" }));
    box.append(row);
  }
}

function readForm() {
  const customer = {};
  for (const f of S.fields) {
    const input = $("f-" + f.name);
    const raw = input.value;
    if (raw === "") customer[f.name] = null;
    else if (f.type === "integer") customer[f.name] = Math.round(Number(raw));
    else if (f.type === "number") customer[f.name] = Number(raw);
    else if (f.type === "boolean") customer[f.name] = raw === "true";
    else customer[f.name] = raw;
  }
  return customer;
}

function setForm(customer) {
  for (const f of S.fields) {
    const v = customer[f.name];
    $("f-" + f.name).value = v === null ? "" : String(v);
    const range = $("f-" + f.name + "-range");
    if (range && v !== null) range.value = v;
  }
}

function changed() {
  clearTimeout(S.timer);
  S.timer = setTimeout(update, 120);
}

/// Shows what moved against the original: the scenario's macro fields in points.
function showDeltas(customer) {
  for (const f of S.fields) {
    const d = $("f-" + f.name + "-delta");
    const a = S.original[f.name], b = customer[f.name];
    if (!d) continue;
    if (a === b || typeof a !== "number" || typeof b !== "number") { d.textContent = a === b ? "" : `${a} → ${b}`; continue; }
    const diff = b - a;
    d.textContent = f.unit === "percent"
      ? `${diff >= 0 ? "+" : ""}${(100 * diff).toFixed(1)} ${t("points")}`.replace(".", S.lang === "es" ? "," : ".")
      : `${a} → ${b}`;
  }
}

async function update() {
  const seq = ++S.seq;
  const customer = readForm();
  showDeltas(customer);
  try {
    const answer = await api("/explain", explainBody(customer));
    if (seq === S.seq) render(answer);
  } catch (e) {
    if (seq === S.seq) $("result").replaceChildren(el("p", { class: "denied", role: "alert", text: t("error") + ": " + e.message }));
  }
}

function render(a) {
  const base = S.base;
  const flips = base && a.approved !== base.approved;
  const result = $("result");
  result.replaceChildren(
    el("p", { class: "decision " + (a.approved ? "approved" : "denied"), id: "decision", text: a.approved ? t("approved") : t("denied") },
      el("span", { class: "badge" + (flips ? " flip" : ""), id: "flip", text: flips ? t("flips") : t("same") })),
    el("p", { class: "numbers" }, t("probability") + ": ",
      el("strong", { id: "probability", "data-value": a.probability, text: pct(a.probability) }),
      ` (${t("threshold")} ${pct(a.threshold)})`),
    el("p", { class: "numbers", id: "before-after", text: `${t("before")} ${pct(base ? base.probability : a.probability)} → ${t("after")} ${pct(a.probability)}` }),
  );
  waterfall(a);
  const reasons = $("reasons");
  reasons.replaceChildren(...(a.reasons.length ? a.reasons.map((r) => el("li", { text: r.text })) : [el("li", { text: t("none") })]));
}

/// From the base value, each field's contribution in turn, to the probability (top 8, the rest
/// together).
function waterfall(a) {
  const top = a.contributions.slice(0, 8);
  const rest = a.contributions.slice(8).reduce((s, c) => s + c.shap, 0);
  const rows = [{ name: t("base"), from: 0, to: a.base_value, kind: "total" }];
  let at = a.base_value;
  const labels = new Map(S.fields.map((f) => [f.name, label(f)]));
  for (const d of S.model.schema.derived || []) labels.set(d.name, (S.lang === "es" ? d.label_es : d.label_en) || d.name);
  for (const c of top) { rows.push({ name: labels.get(c.feature) || c.feature, from: at, to: at + c.shap, kind: c.shap >= 0 ? "up" : "down" }); at += c.shap; }
  if (a.contributions.length > 8) { rows.push({ name: t("others"), from: at, to: at + rest, kind: rest >= 0 ? "up" : "down" }); at += rest; }
  rows.push({ name: t("final"), from: 0, to: a.probability, kind: "total" });
  // Wide enough on the left for the longest field label ("Carga financiera (pago / ingreso)").
  const W = 600, left = 250, right = 60, H = 22, plot = W - left - right;
  const x = (v) => left + Math.max(0, Math.min(1, v)) * plot;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${rows.length * H + 20}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${t("waterfall")}: ${t("base")} ${pct(a.base_value)} → ${pct(a.probability)}`);
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); };
  add("line", { x1: x(a.threshold), x2: x(a.threshold), y1: 0, y2: rows.length * H, stroke: "#555", "stroke-dasharray": "3 3" });
  rows.forEach((r, i) => {
    const y = i * H + 3, lo = Math.min(r.from, r.to), hi = Math.max(r.from, r.to);
    const color = r.kind === "total" ? "#555" : r.kind === "up" ? "#1b6e2a" : "#a3261b";
    add("text", { x: left - 6, y: y + 13, "text-anchor": "end", "font-size": 12 }, r.name);
    add("rect", { x: x(lo), y, width: Math.max(1, x(hi) - x(lo)), height: H - 6, fill: color });
    const delta = r.kind === "total" ? pct(r.to) : (r.to - r.from >= 0 ? "+" : "") + (100 * (r.to - r.from)).toFixed(1);
    add("text", { x: x(hi) + 4, y: y + 13, "font-size": 11 }, delta);
  });
  add("text", { x: x(a.threshold), y: rows.length * H + 14, "text-anchor": "middle", "font-size": 11 }, `${t("threshold")} ${pct(a.threshold)}`);
  $("waterfall").replaceChildren(svg);
}

async function recourse() {
  const options = $("options");
  options.replaceChildren();
  try {
    const plan = await api("/recourse", { customer: S.original, lang: S.lang });
    $("recourse-text").textContent = plan.text;
    const shown = plan.options.length ? plan.options : plan.closest ? [plan.closest] : [];
    shown.forEach((o, i) => {
      const button = el("button", { type: "button", id: "load-option-" + (i + 1), text: t("load"), onclick: () => {
        const customer = { ...S.original };
        for (const c of o.changes) customer[c.field] = c.to;
        setForm(customer);
        update();
      } });
      options.append(el("li", {}, el("span", { text: o.text + " " }), button));
    });
  } catch (e) {
    $("recourse-text").textContent = t("error") + ": " + e.message;
  }
}

async function load(customer) {
  S.original = { ...customer };
  buildForm(customer);
  S.base = null;
  try { S.base = await api("/explain", explainBody(customer)); } catch (e) { /* shown by update */ }
  await update();
  await recourse();
}

function renderQueue() {
  const list = $("queue");
  if (!S.queue.length) { list.replaceChildren(el("li", { text: t("empty") })); return; }
  list.replaceChildren(...S.queue.map((item, i) => el("li", {}, el("button", {
    type: "button", id: "queue-" + (i + 1),
    text: `${pct(item.probability)} · ${item.source === "file" ? t("file") : t("served")}${item.label ? " · " + item.label : ""}`,
    onclick: () => load(item.customer),
  }))));
}

function translate() {
  document.documentElement.lang = S.lang;
  document.title = t("title");
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  $("lang-es").setAttribute("aria-pressed", String(S.lang === "es"));
  $("lang-en").setAttribute("aria-pressed", String(S.lang === "en"));
  showReferences();
  const m = S.model;
  if (m) $("model-line").textContent = `${t("model")}: ${m.uri}${m.run_id ? " · " + t("run") + " " + m.run_id : ""} · credrisk ${m.credrisk_version} · ${t("threshold")} ${pct(m.threshold)}`;
}

/// The references the model keeps samples of (the choice shown only when there is one to make).
function showReferences() {
  const refs = (S.model && S.model.references) || [];
  const select = $("reference");
  select.replaceChildren(...refs.map((r) => el("option", { value: r, text: t("ref_" + r) || r })));
  select.value = S.reference;
  $("reference-line").hidden = refs.length < 2;
}

/// Another reference: the original and the what-if are explained again against it.
async function switchReference(reference) {
  S.reference = reference;
  if (!S.original) return;
  S.base = await api("/explain", explainBody(S.original)).catch(() => null);
  await update();
}

async function switchLang(lang) {
  const current = S.original ? readForm() : null;
  S.lang = lang;
  translate();
  renderQueue();
  if (current) {
    const original = S.original;
    buildForm(current);
    S.original = original;
    S.base = await api("/explain", explainBody(original)).catch(() => null);
    await update();
    await recourse();
  }
}

async function init() {
  S.lang = (navigator.language || "es").toLowerCase().startsWith("en") ? "en" : "es";
  $("lang-es").addEventListener("click", () => switchLang("es"));
  $("lang-en").addEventListener("click", () => switchLang("en"));
  $("reset").addEventListener("click", () => { setForm(S.original); update(); });
  $("reference").addEventListener("change", (e) => switchReference(e.target.value));
  const [model, doc, review] = await Promise.all([api("/model"), api("/openapi.json"), api("/review").catch(() => ({ items: [] }))]);
  S.model = model;
  S.reference = model.reference;
  S.fields = fieldsOf(model);
  S.queue = review.items;
  translate();
  renderQueue();
  const example = doc.components.schemas.Customer.example;
  await load(S.queue.length ? S.queue[0].customer : example);
}

init().catch((e) => { $("result").replaceChildren(el("p", { role: "alert", text: "Error: " + e.message })); });
