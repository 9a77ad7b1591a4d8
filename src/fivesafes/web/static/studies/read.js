/* A reader's read of one case (templates/studies/read.html): the form beside the slide viewer.
   Answers are saved as the reader goes (a draft, a second after the last change; Ctrl+S at
   once); "Lock", "Show the AI" and "Submit" are the read's steps, each a POST of the page's
   own (with the session's CSRF token), answered as JSON; a refusal is shown in words with the
   items it names. A corrected region is drawn on the slide: "Draw on the slide", then a click
   for each corner, "Finish" to keep it; it is kept in the slide's level-0 pixels. */
(function () {
  "use strict";
  const root = document.getElementById("study-read");
  const form = document.getElementById("read-form");
  if (!root || !form) {
    return;
  }
  const base = root.dataset.base;
  const csrf = root.dataset.csrf;
  const phase = root.dataset.phase;
  const status = document.getElementById("save-status");
  let timer = null;
  let saving = Promise.resolve();

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function post(step, body) {
    const response = await fetch(`${base}/${step}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? "" : JSON.stringify(body),
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = answer.error || {};
      const details = (error.details || []).map((d) => `${d.field} ${d.problem}`).join("; ");
      throw new Error((error.message || `The hub answered ${response.status}.`) +
        (details ? ` (${details})` : ""));
    }
    return answer;
  }

  function applies(fieldset, answers) {
    const item = fieldset.dataset.whenItem;
    return !item || answers[item] === fieldset.dataset.whenEquals;
  }

  function valueOf(container, name, kind) {
    if (kind === "choice" || kind === "ordinal" || kind === "boolean") {
      const checked = container.querySelector(`input[name="${CSS.escape(name)}"]:checked`);
      if (!checked) return undefined;
      return kind === "boolean" ? checked.value === "true" : checked.value;
    }
    if (kind === "integer") {
      const input = container.querySelector(`input[name="${CSS.escape(name)}"]`);
      return input && input.value !== "" ? Number.parseInt(input.value, 10) : undefined;
    }
    if (kind === "text") {
      const area = container.querySelector(`textarea[name="${CSS.escape(name)}"]`);
      return area && area.value.trim() !== "" ? area.value : undefined;
    }
    if (kind === "region") {
      const out = container.querySelector(`output[data-region="${CSS.escape(name)}"]`);
      const points = out ? JSON.parse(out.dataset.points || "[]") : [];
      return points.length ? points : undefined;
    }
    return undefined;
  }

  function answers() {
    const found = {};
    const items = form.querySelectorAll("fieldset.item");
    for (const fieldset of items) { // first the unconditional items, then those that depend
      if (!fieldset.dataset.whenItem) {
        const v = valueOf(fieldset, fieldset.dataset.item, fieldset.dataset.kind);
        if (v !== undefined) found[fieldset.dataset.item] = v;
      }
    }
    for (const fieldset of items) {
      if (fieldset.dataset.whenItem) {
        const shown = applies(fieldset, found);
        fieldset.hidden = !shown;
        const v = shown ? valueOf(fieldset, fieldset.dataset.item, fieldset.dataset.kind) : undefined;
        if (v !== undefined) found[fieldset.dataset.item] = v;
      }
    }
    return found;
  }

  function feedback() {
    const found = {};
    for (const block of form.querySelectorAll("fieldset.prediction")) {
      const id = block.dataset.prediction;
      const given = {};
      for (const item of block.querySelectorAll(".item")) {
        const v = valueOf(item, `${id}:${item.dataset.item}`, item.dataset.kind);
        if (v !== undefined) given[item.dataset.item] = v;
      }
      if (Object.keys(given).length) found[id] = given;
    }
    return found;
  }

  function save() {
    clearTimeout(timer);
    const body = { phase: phase, answers: answers() };
    if (phase === "aided") body.feedback = feedback();
    saving = saving.then(() => post("save", body)).then(
      () => say(`Saved at ${new Date().toLocaleTimeString()}.`),
      (error) => say(error.message, true),
    );
    return saving;
  }

  function later() {
    clearTimeout(timer);
    say("Saving…");
    timer = setTimeout(save, 1000);
  }

  async function step(name, then) {
    try {
      if (name !== "reveal") {
        await save();
        if (status.classList.contains("error")) return;
      }
      await post(name);
      then();
    } catch (error) {
      say(error.message, true);
    }
  }

  form.addEventListener("change", later);
  form.addEventListener("input", (event) => {
    if (event.target.tagName === "TEXTAREA" || event.target.type === "number") later();
  });
  answers(); // hide the items that do not apply yet
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      say("Saving…");
      save();
    }
  });
  const buttons = {
    "lock-read": () => step("lock", () => location.reload()),
    "reveal-ai": () => step("reveal", () => location.reload()),
    "submit-read": () => step("submit", () => { location.href = root.dataset.worklist; }),
  };
  for (const [id, action] of Object.entries(buttons)) {
    const button = document.getElementById(id);
    if (button) button.addEventListener("click", action);
  }

  // time on case: while the page is shown, a heartbeat every 30 s says how long it was open
  let shownSince = Date.now();
  function beat() {
    if (document.visibilityState !== "visible") return;
    const seconds = Math.round((Date.now() - shownSince) / 1000);
    shownSince = Date.now();
    if (seconds > 0 && root.dataset.state !== "assigned") {
      post("time", { seconds: Math.min(seconds, 120) }).catch(() => {});
    }
  }
  setInterval(beat, 30000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") shownSince = Date.now(); else beat();
  });

  if (root.dataset.state === "assigned") { // the first visit opens the read
    post("open").then(() => location.reload(), (error) => say(error.message, true));
  }

  /* ---- a corrected region, drawn on the slide ---- */
  let drawing = null; // {name, points, button, output}
  let kept = []; // the region last finished, still shown over the slide
  let svg = null;

  function viewer() {
    return window.slideViewer;
  }

  function overlay() {
    if (svg) return svg;
    const v = viewer();
    svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "region-drawing");
    svg.innerHTML = '<polygon points="" />';
    v.canvas.appendChild(svg);
    v.addHandler("update-viewport", redraw);
    return svg;
  }

  function redraw() {
    if (!svg) return;
    const v = viewer();
    const points = drawing ? drawing.points : kept;
    const shown = points.map(([x, y]) => {
      const p = v.viewport.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
      return `${p.x.toFixed(1)},${p.y.toFixed(1)}`;
    });
    svg.querySelector("polygon").setAttribute("points", shown.join(" "));
  }

  function finish() {
    if (!drawing) return;
    drawing.output.dataset.points = JSON.stringify(drawing.points);
    drawing.output.textContent = `${drawing.points.length} points`;
    drawing.button.textContent = "Draw on the slide";
    kept = drawing.points;
    drawing = null;
    redraw();
    later();
  }

  form.addEventListener("click", (event) => {
    const draw = event.target.closest("[data-draw]");
    const clear = event.target.closest("[data-clear]");
    if (draw && viewer()) {
      if (drawing && drawing.name === draw.dataset.draw) {
        finish();
        return;
      }
      finish();
      const output = form.querySelector(`output[data-region="${CSS.escape(draw.dataset.draw)}"]`);
      drawing = { name: draw.dataset.draw, points: [], button: draw, output: output };
      draw.textContent = "Finish drawing";
      overlay();
      say("Click on the slide for each corner of the region; Finish drawing keeps it.");
    } else if (clear) {
      const output = form.querySelector(`output[data-region="${CSS.escape(clear.dataset.clear)}"]`);
      output.dataset.points = "[]";
      output.textContent = "0 points";
      later();
    }
  });

  function listen() {
    const v = viewer();
    if (!v) {
      setTimeout(listen, 100);
      return;
    }
    v.addHandler("canvas-click", (event) => {
      if (!drawing || !event.quick) return;
      event.preventDefaultAction = true;
      const p = v.viewport.viewerElementToImageCoordinates(event.position);
      const width = Number(root.dataset.width) || Infinity;
      const height = Number(root.dataset.height) || Infinity;
      const x = Math.min(Math.max(0, Math.round(p.x)), width);
      const y = Math.min(Math.max(0, Math.round(p.y)), height);
      drawing.points.push([x, y]);
      redraw();
    });
  }
  listen();
  window.studyRead = { answers, feedback, save }; // for tests
})();
