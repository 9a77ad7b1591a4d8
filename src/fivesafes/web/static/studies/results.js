/* The results page (templates/studies/results.html): its "Print the report" button, the
   browser's own print dialog, where "Save as PDF" makes the study's report a PDF; and the
   item chosen for agreement, shown as soon as it is chosen (no inline handlers). */
(function () {
  "use strict";
  const button = document.getElementById("print-report");
  if (button) button.addEventListener("click", () => window.print());
  const item = document.getElementById("results-item");
  if (item) item.addEventListener("change", () => item.form.submit());
})();
