// The per-layer table, the findings list and the links between them and the diagram.
// Shared by the live explorer (served) and the report page (inlined). It only shows numbers the
// report gives (Report.to_dict) and computes none: grouping rows by stage is by module path.
"use strict";

window.ConvarchLayers = (function () {
  const COLUMNS = [
    ["index", "#"], ["name", "layer"], ["path", "module"], ["output", "output"],
    ["activations", "activations"], ["params", "params"], ["weights", "weights"], ["macs", "MACs"],
  ];
  const NUMERIC = new Set(["index", "activations", "params", "weights", "macs"]);
  const FIRST_ROWS = 80;

  const NUMBER = new Intl.NumberFormat("en-US");  // one formatter: toLocaleString builds one per call
  function fmt(n) { return NUMBER.format(n); }

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function escape(text) { return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]); }

  function human(n) {
    for (const [size, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]]) {
      if (Math.abs(n) >= size) return (n / size).toFixed(1) + suffix;
    }
    return fmt(n);
  }

  // Bytes in binary units, to one decimal. A BigInt (the report's batch memory) is divided exactly.
  const BYTE_UNITS = [[60n, "EiB"], [50n, "PiB"], [40n, "TiB"], [30n, "GiB"], [20n, "MiB"], [10n, "KiB"]];
  function humanBytes(n) {
    for (const [bits, suffix] of BYTE_UNITS) {
      const size = 2n ** bits;
      if (typeof n === "bigint") {
        if ((n < 0n ? -n : n) < size) continue;
        const tenths = (n * 10n + size / 2n) / size;  // rounded to one decimal, as toFixed(1) does
        return String(tenths / 10n) + "." + String(tenths % 10n) + " " + suffix;
      }
      if (Math.abs(n) >= Number(size)) return (n / Number(size)).toFixed(1) + " " + suffix;
    }
    return fmt(n) + " B";
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // A stage is the module two levels down when a layer sits deeper (features.layer1), else its part
  // of the model (features, pre_logits, classifier).
  function stageOf(path) {
    const parts = path.split(".");
    return parts.length > 2 ? parts.slice(0, 2).join(".") : parts[0];
  }

  function cell(row, key) {
    if (key === "activations" && !row.allocates) return "(in place)";
    if (key === "name") return row.aux ? row.name + " (aux)" : row.name;
    return NUMERIC.has(key) ? fmt(row[key]) : String(row[key]);
  }

  // Rows are written as HTML text in one assignment: hundreds of rows (ResNet-152 has 464) render in a few
  // milliseconds, where one element and one listener per cell took over a hundred.
  function rowHTML(values, attributes) {
    const cells = values.map((v, i) => (NUMERIC.has(COLUMNS[i][0]) ? '<td class="num">' : "<td>") + escape(v) + "</td>");
    return "<tr" + attributes + ">" + cells.join("") + "</tr>";
  }

  function layerRowHTML(row, stage) {
    const attributes = ' data-path="' + escape(row.path) + '"' + (stage ? ' data-stage="' + escape(stage) + '"' : "") +
      (row.aux ? ' class="aux"' : "");
    return rowHTML(COLUMNS.map(([key]) => cell(row, key)), attributes);
  }

  // The table: stages as collapsible groups in layer order; a click on a header sorts every row by it
  // (a click on # returns to the grouped order). One listener on the body serves every row.
  function renderTable(container, report, onPick) {
    const table = el("table", { class: "layers" });
    const head = el("tr");
    const state = { key: "index", descending: false };
    for (const [key, label] of COLUMNS) {
      head.append(el("th", { "data-key": key, class: NUMERIC.has(key) ? "num sortable" : "sortable",
        onclick: () => { state.descending = state.key === key ? !state.descending : NUMERIC.has(key) && key !== "index";
          state.key = key; fill(); } }, label));
    }
    const body = el("tbody");
    body.addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (!tr) return;
      if (tr.classList.contains("stage")) toggleStage(body, tr);
      else if (tr.dataset.path) onPick(tr.dataset.path);
    });
    table.append(el("thead", {}, head), body);
    const totals = report.totals;

    function fill() {
      const html = [rowHTML(["0", "INPUT", "", report.input, fmt(inputNumel(report)), "0", "0", "0"],
        ' class="input" data-path="INPUT"')];
      if (state.key === "index" && !state.descending) {
        const stages = [];
        for (const row of report.rows) {
          const stage = stageOf(row.path);
          if (!stages.length || stages[stages.length - 1].stage !== stage) stages.push({ stage, rows: [] });
          stages[stages.length - 1].rows.push(row);
        }
        for (const { stage, rows } of stages) {
          const count = rows.length + (rows.length === 1 ? " layer" : " layers");
          html.push('<tr class="stage" data-stage="' + escape(stage) + '"><td colspan="' + COLUMNS.length + '">▾ ' +
            escape(stage) + "  (" + count + ")</td></tr>");
          for (const row of rows) html.push(layerRowHTML(row, stage));
        }
      } else {
        const sign = state.descending ? -1 : 1;  // ties keep the layer order either way
        const rows = [...report.rows].sort((a, b) => sign * compare(a[state.key], b[state.key]));
        for (const row of rows) html.push(layerRowHTML(row, ""));
      }
      // The first rows at once, the rest after the next frame: laying out ResNet-152's 464 rows takes the
      // browser about 80 ms, and the reader sees only the first screenful before scrolling anyway.
      const token = (body.dataset.fill = String(Number(body.dataset.fill || 0) + 1));
      body.innerHTML = html.slice(0, FIRST_ROWS).join("");
      if (html.length > FIRST_ROWS) {
        requestAnimationFrame(() => setTimeout(() => {
          if (body.dataset.fill === token) body.insertAdjacentHTML("beforeend", html.slice(FIRST_ROWS).join(""));
        }, 0));
      }
      for (const th of head.children) {
        th.classList.toggle("sorted", th.dataset.key === state.key);
        th.classList.toggle("descending", th.dataset.key === state.key && state.descending);
      }
    }
    fill();
    const foot = el("tfoot");
    foot.innerHTML = rowHTML(["", "TOTAL", "", "", fmt(totals.activations), fmt(totals.params), fmt(totals.weights),
      fmt(totals.macs)], ' class="total"');
    table.append(foot);
    container.replaceChildren(table);
    return table;
  }

  function compare(a, b) { return typeof a === "number" ? a - b : String(a).localeCompare(String(b)); }

  // The input's values, as the report's totals count them: activations less the layers' own.
  function inputNumel(report) {
    return report.input.split("x").reduce((product, v) => product * Number(v), 1);
  }

  function toggleStage(body, header, open) {
    const stage = header.dataset.stage;
    const collapse = open === undefined ? !header.classList.contains("collapsed") : !open;
    header.classList.toggle("collapsed", collapse);
    const label = header.firstChild;
    label.textContent = (collapse ? "▸" : "▾") + label.textContent.slice(1);
    for (const tr of body.querySelectorAll("tr[data-stage]:not(.stage)")) {
      if (tr.dataset.stage === stage) tr.hidden = collapse;
    }
  }

  function renderFindings(container, findings, onPick) {
    if (!findings.length) {
      container.replaceChildren(el("p", { class: "clean" }, "No sizing findings: every layer works out."));
      return;
    }
    const list = el("ul", { class: "findings" });
    for (const f of findings) {
      const where = f.index ? "#" + f.index + " " + f.layer : f.layer;
      list.append(el("li", { class: "finding " + f.severity, "data-layer": f.layer, tabindex: "0",
        onclick: () => onPick(f.layer) },
        el("span", { class: "severity" }, f.severity), " ", el("span", { class: "rule" }, "[" + f.rule + "]"), " ",
        el("span", { class: "where" }, where), ": ", f.message));
    }
    container.replaceChildren(list);
  }

  // The diagram elements of a layer: its own, or the nearest enclosing block's. A collapsed run ("x35")
  // carries its first block's path and, in data-members, every block it stands for: features.layer3.5
  // selects the run that holds it.
  function diagramElements(root, path) {
    const wanted = path === "INPUT" ? "input" : path;  // the figure names the input volume in lower case
    const nodes = [...root.querySelectorAll("svg [data-path]")];
    const paths = (node) => [node.getAttribute("data-path"), ...(node.getAttribute("data-members") || "").split(" ")];
    let best = "";
    for (const node of nodes) {
      for (const p of paths(node)) {
        if (p && (wanted === p || wanted.startsWith(p + ".")) && p.length > best.length) best = p;
      }
    }
    return best ? nodes.filter((node) => paths(node).includes(best)) : [];
  }

  // Select one layer everywhere: its table row (opening its stage) and its diagram element.
  function highlight(root, path) {
    for (const node of root.querySelectorAll(".selected")) node.classList.remove("selected");
    const rows = [...root.querySelectorAll("table.layers tr[data-path]")].filter(
      (tr) => tr.dataset.path === path || tr.dataset.path.startsWith(path + "."));
    for (const tr of rows) {
      if (tr.hidden) {
        const header = root.querySelector('tr.stage[data-stage="' + CSS.escape(tr.dataset.stage) + '"]');
        if (header) toggleStage(header.parentNode, header, true);
      }
      tr.classList.add("selected");
    }
    for (const li of root.querySelectorAll("li.finding")) {
      if (li.dataset.layer === path) li.classList.add("selected");
    }
    const figure = diagramElements(root, path);
    for (const node of figure) node.classList.add("selected");
    if (figure.length) figure[0].scrollIntoView({ block: "nearest", inline: "center" });
    if (rows.length) rows[0].scrollIntoView({ block: "nearest" });
    return { rows: rows.length, figure: figure.length };
  }

  // A click on a diagram element selects its layer (or the first layer of its block).
  function linkDiagram(container, onPick) {
    container.addEventListener("click", (event) => {
      const node = event.target.closest("[data-path]");
      if (node) onPick(node.getAttribute("data-path"));
    });
  }

  return { el, fmt, human, humanBytes, stageOf, renderTable, renderFindings, highlight, linkDiagram };
})();
