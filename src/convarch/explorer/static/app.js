// The live explorer: the page state lives in the URL; every number comes from the JSON API.
"use strict";

(function () {
  const L = window.ConvarchLayers;
  const SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC";
  const SEED_VALUES = { N: 2, M: 3, K: 1 };  // the README's instance of the seed's template
  const OWN_KEYS = new Set(["view", "pattern", "model", "input", "style", "at", "depth", "models"]);
  const VIEWS = ["explore", "sweep", "compare"];
  const SLIDER_MAX = 12;  // the slider's usual range; a bound value beyond it widens it
  const DEBOUNCE_MS = 30;  // typing speed is ~5 keys/s: one request per pause, not per key
  const $ = (id) => document.getElementById(id);

  const state = { view: "explore", pattern: "", model: "", input: "", style: "volumes", at: "", depth: "", values: {},
    models: null, variables: [], selected: "", seq: 0, sweepSeq: 0, compareSeq: 0, lastInput: 0, notice: "", touched: false };

  // ---- the URL ------------------------------------------------------------------------------------
  function readURL() {
    const params = new URLSearchParams(location.search);
    state.view = VIEWS.includes(params.get("view")) ? params.get("view") : "explore";  // an unknown view: Explore
    state.model = params.get("model") || "";
    state.pattern = params.get("pattern") || "";
    state.input = params.get("input") || "";
    state.style = params.get("style") || "volumes";
    state.at = params.get("at") || "";
    state.depth = params.get("depth") || "";
    state.models = params.has("models") ? params.get("models").split(",").filter(Boolean) : null;
    for (const [key, value] of params) if (!OWN_KEYS.has(key)) state.values[key] = value;
    if (state.model && params.has("pattern")) {  // the API refuses both; the page says which one it shows
      state.notice = "This link gives both model=" + state.model + " and a pattern; the page shows the model " +
        "(the API answers a query with both with a ConfigError). Edit the pattern to use it instead.";
      state.pattern = "";
    }
    if (!state.model && !params.has("pattern")) {  // a bare address opens the seed's template; ?pattern= is empty
      state.pattern = SEED;
      state.input = state.input || "32x32x3";
      for (const [key, value] of Object.entries(SEED_VALUES)) if (!(key in state.values)) state.values[key] = String(value);
    }
  }

  function writeURL() {
    const params = new URLSearchParams();
    if (state.view !== "explore") params.set("view", state.view);
    if (state.view === "compare") {
      if (state.models) params.set("models", state.models.join(","));
    } else {
      if (state.model) params.set("model", state.model); else params.set("pattern", state.pattern);
      if (state.input) params.set("input", state.input);
      for (const name of state.variables) if (state.values[name] !== undefined) params.set(name, state.values[name]);
      if (state.view === "explore" && state.style !== "volumes") params.set("style", state.style);
      if (state.view === "explore" && state.at) params.set("at", state.at);
      if (state.view === "explore" && state.depth) params.set("depth", state.depth);
    }
    history.replaceState(null, "", "?" + params.toString());
  }

  // ---- the API ------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(detail) { super(detail.message); this.detail = detail; }
  }

  async function call(path, params, as) {
    const response = await fetch(path + "?" + new URLSearchParams(params).toString());
    if (!response.ok) {
      let detail;
      try { detail = (await response.json()).error; } catch (_) { detail = { type: "HTTPError", message: response.statusText }; }
      throw new ApiError(detail || { type: "HTTPError", message: String(response.status) });
    }
    return as === "text" ? response.text() : response.json();
  }

  function source() {
    const params = state.model ? { model: state.model } : { pattern: state.pattern };
    if (state.input.trim()) params.input = state.input.trim();
    return params;
  }

  function bindings(asRanges) {
    const found = {};
    for (const name of state.variables) {
      const value = state.values[name];
      // As bound, not as parsed here: a value the API refuses (N=-5 from a shared link) must reach it and be shown.
      found[name] = asRanges ? (value && value.trim() ? value.trim() : "1..3") : String(value ?? "").trim();
    }
    return found;
  }

  // A convarch error as the page shows it: its type, where (line and column, with the caret), and why.
  function showError(box, error) {
    const detail = error instanceof ApiError ? error.detail : { type: "Error", message: String(error) };
    const where = detail.line ? " at line " + detail.line + ", column " + detail.column : "";
    const parts = [L.el("div", { class: "kind" }, detail.type + where)];
    if (detail.excerpt) {
      parts.push(L.el("div", { class: "reason" }, detail.reason), L.el("pre", { class: "caret" }, detail.excerpt));
    } else {
      parts.push(L.el("div", { class: "reason" }, detail.message));
    }
    box.replaceChildren(...parts);
    box.classList.remove("hidden");
  }

  // After the next frame is painted: a timer queued from an animation-frame callback runs after that paint.
  function painted(then) { requestAnimationFrame(() => setTimeout(then, 0)); }

  function hideError(box) { box.classList.add("hidden"); box.replaceChildren(); }

  // ---- explore ------------------------------------------------------------------------------------
  function pick(path) {
    state.selected = path;
    L.highlight($("results"), path);
  }

  // The sliders of the text's variables; a value given in the URL is kept as it is: beyond the usual range
  // the slider widens to it, and one that is no whole number (N=-5) is shown as typed, for the API to refuse.
  function syncSliders(names) {
    state.variables = names;
    const box = $("sliders");
    for (const slider of box.querySelectorAll("input")) slider.disabled = false;
    if (box.dataset.names === names.join(",")) return;
    box.dataset.names = names.join(",");
    box.replaceChildren();
    for (const name of names) {
      if (state.values[name] === undefined) state.values[name] = String(SEED_VALUES[name] ?? 2);
      const value = state.values[name];
      const whole = /^\d+$/.test(value.trim());
      const output = L.el("output", { for: "var-" + name }, value);
      const slider = L.el("input", { type: "range", id: "var-" + name, min: "0",
        max: String(Math.max(SLIDER_MAX, whole ? Number(value) : 0)), step: "1", value: whole ? value : "0",
        "aria-label": name });
      slider.addEventListener("input", () => {
        state.values[name] = slider.value;
        output.textContent = slider.value;
        changed();
      });
      box.append(L.el("label", { for: "var-" + name }, "template variable " + name),
        L.el("div", { class: "slider" }, L.el("b", {}, name), slider, output));
    }
  }

  function renderTotals(report) {
    const t = report.totals;
    const items = [["params", L.human(t.params), L.fmt(t.params)], ["MACs", L.human(t.macs), L.fmt(t.macs)],
      ["FLOPs", L.human(t.flops), L.fmt(t.flops)], ["activations", L.human(t.activations), L.fmt(t.activations)],
      ["forward memory / image", L.humanBytes(t.forward_bytes), L.fmt(t.forward_bytes) + " B"],
      ["training memory, batch 1", L.humanBytes(t.training_bytes), L.fmt(t.training_bytes) + " B"],
      ["FC params", L.human(t.fc_params), L.fmt(t.fc_params)]];
    $("totals").replaceChildren(...items.map(([label, short, exact]) =>
      L.el("div", { "data-total": label }, L.el("small", {}, label), L.el("b", {}, short), L.el("span", { class: "mono" }, exact))));
    $("title").textContent = (report.title ? report.title + " at " : "input ") + report.input + " · " +
      report.rows.length + " layers";
  }

  // The text's variables first (an answer even for half-typed text), then the numbers with their bindings,
  // then the findings and the diagram: no request is sent that the page knows will fail.
  async function refreshExplore() {
    const seq = ++state.seq;
    const started = state.lastInput;
    if (state.touched) writeURL();  // a shared link stays as it was opened until the reader changes something
    // The text as it is now: a key typed while the variables are asked for must not reach the analysis
    // before its own variables are known.
    const asked = source();
    let info;
    try {
      info = await call("/api/variables", asked);
    } catch (error) {
      info = { error: error instanceof ApiError ? error.detail : { type: "Error", message: String(error) } };
    }
    if (seq !== state.seq) return;
    if (info.error) {
      stale(new ApiError(info.error), true);
      return;
    }
    syncSliders(info.variables);
    if (state.touched) writeURL();
    const query = { ...asked, ...bindings(false) };
    // The findings and the diagram are asked for after the numbers, so they never delay them (the server's
    // analysis is Python: requests running side by side share one interpreter lock).
    try {
      const report = await call("/api/analyze", query);
      if (seq !== state.seq) return;
      hideError($("error"));
      $("results").classList.remove("stale");
      renderTotals(report);
      L.renderTable($("layers"), report, pick);
      painted(() => {  // timed once the browser has laid out and painted them (benchmarks/bench_explorer.py)
        document.body.dataset.numbersMs = (performance.now() - started).toFixed(1);
        document.body.dataset.rendered = String(seq);
      });
    } catch (error) {
      if (seq === state.seq) stale(error, false);
      return;
    }
    if (state.model) {
      call("/api/info", { model: state.model }).then((info) => {
        if (seq !== state.seq) return;
        const top1 = info.top1 ? " · published top-1 " + info.top1.value + "%" : "";
        $("paper").textContent = info.paper + top1;
      }, () => {});
    } else {
      $("paper").textContent = "";
    }
    call("/api/check", query).then((answer) => {
      if (seq === state.seq) L.renderFindings($("findings"), answer.findings, pick);
    }, () => { if (seq === state.seq) $("findings").replaceChildren(); });
    const drawing = { ...query, style: state.style };
    if (state.at.trim()) drawing.at = state.at.trim();
    if (state.depth.trim()) drawing.depth = state.depth.trim();
    call("/api/draw", drawing, "text").then((svg) => {
      if (seq !== state.seq) return;
      $("diagram").innerHTML = svg;
      if (state.selected) pick(state.selected);  // a layer chosen before the figure came is chosen in it too
      painted(() => { document.body.dataset.diagramMs = (performance.now() - started).toFixed(1); });
    }, (error) => {
      if (seq !== state.seq) return;
      const message = error instanceof ApiError ? error.detail.message : String(error);
      $("diagram").replaceChildren(L.el("p", { class: "message" }, message));
    });
  }

  // The error where the results were, which stay dimmed beneath it. When the text itself no longer reads,
  // its old variables' sliders are switched off too; a binding's error leaves them on, to move.
  function stale(error, textBroken) {
    showError($("error"), error);
    $("results").classList.add("stale");
    if (textBroken) for (const slider of $("sliders").querySelectorAll("input")) slider.disabled = true;
  }

  // ---- sweep --------------------------------------------------------------------------------------
  async function refreshSweep() {
    const seq = ++state.sweepSeq;
    const box = $("sweep-ranges");
    try {
      const info = await call("/api/variables", source());
      if (seq !== state.sweepSeq) return;
      state.variables = info.variables;
    } catch (error) {
      if (seq === state.sweepSeq) showError($("sweep-error"), error);
      return;
    }
    if (box.dataset.names !== state.variables.join(",")) {
      box.dataset.names = state.variables.join(",");
      box.replaceChildren(...state.variables.map((name) => {
        const field = L.el("input", { type: "text", id: "range-" + name, value: bindings(true)[name] });
        field.addEventListener("input", () => { state.values[name] = field.value; sweepChanged(); });
        return L.el("label", {}, name + " ", field);
      }));
    }
    if (state.touched) writeURL();
    if (!state.variables.length) {
      showError($("sweep-error"), new ApiError({ type: "Note", message: "this source has no template variables: " +
        "type a template such as the seed's (Explore) to sweep it" }));
      return;
    }
    const query = { ...source(), ...bindings(true) };
    try {
      const result = await call("/api/sweep", query);
      if (seq !== state.sweepSeq) return;
      hideError($("sweep-error"));
      renderSweep(result);
      $("sweep-chart").replaceChildren(L.el("img", { alt: "sweep chart", src: "/api/sweep.svg?" + new URLSearchParams(query) }));
    } catch (error) {
      if (seq === state.sweepSeq) showError($("sweep-error"), error);
    }
  }

  function renderSweep(result) {
    const names = state.variables;
    const head = L.el("tr", {}, ...[...names, "params", "MACs", "forward memory", "layers"].map(
      (h) => L.el("th", { class: "num" }, h)), L.el("th", {}, "findings"));
    const rows = result.instances.map((r) => L.el("tr", {}, ...names.map((n) => L.el("td", { class: "num" }, String(r.values[n]))),
      L.el("td", { class: "num" }, r.error ? "-" : L.fmt(r.params)), L.el("td", { class: "num" }, r.error ? "-" : L.fmt(r.macs)),
      L.el("td", { class: "num" }, r.error ? "-" : L.humanBytes(r.forward_bytes)), L.el("td", { class: "num" }, String(r.layers)),
      L.el("td", {}, r.error || r.findings.map((f) => f.severity + ": " + f.rule).join(", ") || "none")));
    $("sweep-table").replaceChildren(L.el("table", { class: "plain" }, L.el("thead", {}, head), L.el("tbody", {}, ...rows)));
  }

  // ---- compare ------------------------------------------------------------------------------------
  async function refreshCompare() {
    const seq = ++state.compareSeq;
    if (state.touched) writeURL();
    const query = state.models ? { models: state.models.join(",") } : {};
    try {
      const result = await call("/api/compare", query);
      if (seq !== state.compareSeq) return;
      hideError($("compare-error"));
      if (!state.models) {
        state.models = result.models.map((m) => m.name);
        for (const box of document.querySelectorAll("#compare-models input")) box.checked = state.models.includes(box.value);
      }
      const head = L.el("tr", {}, ...["model", "year", "input"].map((h) => L.el("th", {}, h)),
        ...["params", "GMACs", "forward memory / image", "top-1"].map((h) => L.el("th", { class: "num" }, h)));
      const rows = result.models.map((m) => L.el("tr", {}, L.el("td", {}, m.name), L.el("td", {}, String(m.year || "-")),
        L.el("td", {}, m.input), L.el("td", { class: "num" }, L.fmt(m.params)), L.el("td", { class: "num" }, m.gmacs.toFixed(3)),
        L.el("td", { class: "num" }, L.humanBytes(m.forward_bytes_per_image)),
        L.el("td", { class: "num" }, m.top1 ? m.top1.value.toFixed(2) + "%" : "-")));
      $("compare-table").replaceChildren(L.el("table", { class: "plain" }, L.el("thead", {}, head), L.el("tbody", {}, ...rows)));
      $("compare-chart").replaceChildren(L.el("img", { alt: "Canziani chart", src: "/api/compare.svg?" + new URLSearchParams(query) }));
    } catch (error) {
      if (seq === state.compareSeq) showError($("compare-error"), error);
    }
  }

  // ---- wiring -------------------------------------------------------------------------------------
  let timer = 0;
  function debounce(run) {
    state.lastInput = performance.now();
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  }
  function changed() { state.touched = true; debounce(refreshExplore); }
  function sweepChanged() { state.touched = true; debounce(refreshSweep); }

  function show(view) {
    state.view = view;
    for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.view === view);
    for (const name of ["explore", "sweep", "compare"]) $("view-" + name).classList.toggle("hidden", name !== view);
    ({ explore: refreshExplore, sweep: refreshSweep, compare: refreshCompare })[view]();
  }

  async function loadModels() {
    const { models } = await call("/api/models", {});
    const families = new Map();
    for (const m of models) {
      if (!families.has(m.family)) families.set(m.family, L.el("optgroup", { label: m.family }));
      families.get(m.family).append(L.el("option", { value: m.name }, m.name + " (" + m.year + ")"));
    }
    $("model").append(...families.values());
    $("model").value = state.model;
    $("compare-models").replaceChildren(...models.map((m) => {
      const box = L.el("input", { type: "checkbox", value: m.name });
      box.checked = !!state.models && state.models.includes(m.name);
      box.addEventListener("change", () => {
        state.models = [...document.querySelectorAll("#compare-models input:checked")].map((b) => b.value);
        debounce(refreshCompare);
      });
      return L.el("label", {}, box, " " + m.name);
    }));
  }

  async function start() {
    readURL();
    $("pattern").value = state.pattern;
    $("input").value = state.input;
    $("style").value = state.style;
    $("at").value = state.at;
    $("depth").value = state.depth;
    if (state.notice) {
      $("notice").textContent = state.notice;
      $("notice").classList.remove("hidden");
    }
    $("pattern").addEventListener("input", () => {
      state.pattern = $("pattern").value;
      state.selected = "";
      $("notice").classList.add("hidden");
      state.model = "";
      $("model").value = "";
      changed();
    });
    $("input").addEventListener("input", () => { state.input = $("input").value; changed(); });
    $("style").addEventListener("change", () => { state.style = $("style").value; changed(); });
    $("at").addEventListener("input", () => { state.at = $("at").value; changed(); });
    $("depth").addEventListener("input", () => { state.depth = $("depth").value; changed(); });
    $("model").addEventListener("change", async () => {
      state.model = $("model").value;
      state.selected = "";
      state.input = "";
      $("input").value = "";
      if (state.model) {
        try { $("pattern").value = state.pattern = (await call("/api/pattern", { model: state.model })).pattern; } catch (_) { /* shown below */ }
      }
      changed();
    });
    for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => {
      state.touched = true;
      show(button.dataset.view);
    });
    L.linkDiagram($("diagram"), pick);
    if (state.model) {
      call("/api/pattern", { model: state.model }).then((answer) => { $("pattern").value = answer.pattern; }, () => {});
    }
    await loadModels().catch((error) => showError($("error"), error));
    show(state.view);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
