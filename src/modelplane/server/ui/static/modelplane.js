// modelplane UI: small enhancements over pages that work without JavaScript.
"use strict";

// Runs table: "Compare selected" is enabled once at least two runs are ticked.
function setUpCompare() {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-button");
  const count = document.getElementById("compare-count");
  const min = Number(button.dataset.min || 2);
  const update = () => {
    const n = form.querySelectorAll('input[name="run"]:checked').length;
    button.disabled = n < min;
    count.textContent = n ? `${n} selected` : `tick ${min} or more runs to compare them`;
  };
  form.addEventListener("change", update);
  update();
}

// Overlaid charts: clicking a run in the legend fades its curves in every chart.
function setUpLegend() {
  document.querySelectorAll(".legend-item[data-series]").forEach((item) => {
    item.addEventListener("click", () => {
      const name = item.dataset.series;
      const off = item.classList.toggle("off");
      document.querySelectorAll("svg.line-chart g.series").forEach((g) => {
        if (g.dataset.series === name) g.classList.toggle("dimmed", off);
      });
    });
  });
}

// Selects that only change a view submit their form at once.
function setUpAutoSubmit() {
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form && select.form.submit());
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCompare();
  setUpLegend();
  setUpAutoSubmit();
});
