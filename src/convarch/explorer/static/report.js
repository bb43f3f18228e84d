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

  // Memory is linear in the batch: the report gives the two points it needs (batch 0 and batch 1).
  const batch = document.getElementById("batch");
  function showMemory() {
    const b = Math.max(1, Math.floor(Number(batch.value) || 1));
    const m = data.memory;
    document.getElementById("forward-batch").textContent =
      L.humanBytes(m.forward_per_image * b) + " (" + L.fmt(m.forward_per_image * b) + " B)";
    const training = m.training_at_0 + (m.training_at_1 - m.training_at_0) * b;
    document.getElementById("training-batch").textContent = L.humanBytes(training) + " (" + L.fmt(training) + " B)";
  }
  batch.addEventListener("input", showMemory);
  showMemory();
})();
