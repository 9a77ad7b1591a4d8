/* The results page's "Print the report" button (templates/studies/results.html): the
   browser's own print dialog, where "Save as PDF" makes the study's report a PDF. */
(function () {
  "use strict";
  const button = document.getElementById("print-report");
  if (button) button.addEventListener("click", () => window.print());
})();
