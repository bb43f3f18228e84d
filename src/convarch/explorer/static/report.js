// The report page: the table and the findings from the embedded report, and memory for a chosen batch.
"use strict";

(function () {
  const L = window.ConvarchLayers;
  const data = JSON.parse(document.getElementById("convarch-data").textContent);
  const root = document.getElementById("report");
  const pick = (path) => L.highlight(root, path);

  L.renderTable(document.getElementById("layers"), data.report, pick);
  L.renderFindings(document.getElementById("findings"), data.findings, pick);
  for (const figure of document.querySelectorAll(".diagram")) L.linkDiagram(figure, pick);

  // Memory is linear in the batch: the report gives the two points it needs (batch 0 and batch 1). The
  // batch is any whole number from 1 up, so the sums are BigInt: exact where a float64 drops digits.
  const batch = document.getElementById("batch");
  const problem = document.getElementById("batch-problem");
  const shown = ["forward-batch", "training-batch"].map((id) => document.getElementById(id));
  function showMemory() {
    const text = batch.value.trim();
    if (!/^[0-9]+$/.test(text) || BigInt(text) < 1n) {
      problem.textContent = "the batch size must be a whole number of at least 1 (such as 32), written in digits" +
        (text ? "; got " + text.slice(0, 40) : "");
      for (const cell of shown) cell.textContent = "-";
      return;
    }
    problem.textContent = "";
    const b = BigInt(text);
    const m = data.memory;
    const forward = BigInt(m.forward_per_image) * b;
    const training = BigInt(m.training_at_0) + (BigInt(m.training_at_1) - BigInt(m.training_at_0)) * b;
    shown[0].textContent = L.humanBytes(forward) + " (" + L.fmt(forward) + " B)";
    shown[1].textContent = L.humanBytes(training) + " (" + L.fmt(training) + " B)";
  }
  batch.addEventListener("input", showMemory);
  showMemory();
})();
