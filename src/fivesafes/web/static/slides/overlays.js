/* AI predictions over the slide viewer (templates/slides/viewer.html; a module, run after
   viewer.js): a panel lists the slide's predictions (its predictions.json: model, version, run
   time, features, classes); each one's heatmap and vector annotations are drawn on two canvases
   laid over OpenSeadragon's tiles (under its navigator and the scale bar), in screen pixels,
   redrawn as the view moves (what is drawn, and how: overlay_layers.js).

   - Heatmap: a switch, an opacity slider and a threshold slider (scores at or below it are
     transparent); off until switched on.
   - Annotations: a switch (on for the newest prediction that has them), and a checkbox per
     class, in its colour, with how many features it has.
   - OpenSeadragon raises "update-viewport" from its own animation frame, once a frame it draws:
     the overlays are drawn then, in step with its tiles. Anything else (a switch, a slider,
     data arriving) asks for one draw in the next animation frame. A layer whose view and state
     are those of its last draw is not drawn again.
   - The annotations are drawn into a cache canvas over the view and half its size again on
     every side, at the view's zoom, and copied to the screen each frame: a pan within the
     cache is a copy; while a zoom animates the copy is scaled (the cache drawn again past
     twice or half its zoom), and drawn again, sharp, once the zoom settles. (Drawing 10,000
     polygons over the whole slide takes tens of milliseconds: every frame, that was 5 to 20
     frames a second; a copy is well under a millisecond. docs/benchmarks.md, "Slide
     annotations".)

   After the first complete draw of annotations, window.slideOverlay = {painted: true, drawn,
   merged, inView, features, renders, frames, ms} (kept up to date each frame) and
   performance.mark("annotations-painted") (and "annotations-parsed" before it, once a GeoJSON
   is parsed): the tests and the benchmark read them. */
import { colourHeatmap, dotGrid, heatmapOf, paintAnnotations, parseAnnotations } from "./overlay_layers.js";

// QuPath's colours for its usual classes; others in turn from a qualitative palette
const NAMED = { Tumor: "#c80000", Tumour: "#c80000", Stroma: "#4f9a4f", "Immune cells": "#a05aa0",
  Necrosis: "#323232", Other: "#e6a700", Region: "#0000b4", Ignore: "#8c8c8c" };
const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9",
  "#7f3c8d", "#11a579", "#f2b701", "#3969ac", "#e73f74", "#80ba5a"];
const number = new Intl.NumberFormat("en-GB");

function overlays(element, list, status, viewer) {
  const heatCanvas = layer("slide-heatmap-layer");
  const shapeCanvas = layer("slide-annotation-layer");
  const predictions = []; // one state per prediction listed
  const colours = new Map(); // class name -> colour, the same across predictions
  const version = { heat: 0, shapes: 0 }; // bumped by every change of what a layer draws
  const drawnAt = { heat: "", shapes: "" }; // the view and version each layer last drew
  const cache = { canvas: document.createElement("canvas"), view: null, version: -1 };
  let pending = false;
  let frames = 0;
  let renders = 0;
  let marked = false;
  window.slideOverlay = { painted: false, drawn: 0 };

  function layer(id) {
    const canvas = document.createElement("canvas");
    canvas.id = id;
    canvas.className = "slide-overlay-layer";
    canvas.setAttribute("aria-hidden", "true");
    viewer.canvas.appendChild(canvas); // above the tiles, below the navigator and scale bar
    return canvas;
  }

  function say(text) {
    status.textContent = text;
  }

  function colourOf(name) {
    if (!colours.has(name)) {
      colours.set(name, NAMED[name] || PALETTE[colours.size % PALETTE.length]);
    }
    return colours.get(name);
  }

  // ---- the view: level-0 pixels to CSS pixels of the viewer --------------------------------

  function view() {
    const item = viewer.world.getItemAt(0);
    if (!item) {
      return null;
    }
    const width = item.source.dimensions.x;
    const origin = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const far = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(width, 0));
    const size = viewer.viewport.getContainerSize();
    const k = (far.x - origin.x) / width; // CSS pixels per level-0 pixel
    return {
      ox: origin.x, oy: origin.y, k: k, w: size.x, h: size.y,
      x0: -origin.x / k, y0: -origin.y / k, // the level-0 rectangle in view
      x1: (size.x - origin.x) / k, y1: (size.y - origin.y) / k,
      key: [origin.x.toFixed(2), origin.y.toFixed(2), k.toPrecision(8), size.x, size.y].join(","),
    };
  }

  function fit(canvas, v) {
    // the canvas at the screen's resolution, cleared, drawing in CSS pixels
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(v.w * ratio);
    const h = Math.round(v.h * ratio);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const context = canvas.getContext("2d");
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, w, h);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return context;
  }

  // ---- drawing -----------------------------------------------------------------------------

  function schedule(what) {
    if (what !== "shapes") {
      version.heat += 1;
    }
    if (what !== "heat") {
      version.shapes += 1;
    }
    if (!pending) {
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        draw();
      });
    }
  }

  function draw() {
    const v = view();
    if (!v || !(v.k > 0)) {
      return;
    }
    const heat = v.key + "|" + version.heat;
    if (heat !== drawnAt.heat) {
      drawnAt.heat = heat;
      drawHeatmaps(v);
    }
    const shapes = v.key + "|" + version.shapes;
    if (shapes !== drawnAt.shapes) {
      drawnAt.shapes = shapes;
      drawAnnotations(v);
    }
  }

  function drawHeatmaps(v) {
    const context = fit(heatCanvas, v);
    context.imageSmoothingEnabled = true;
    for (const p of predictions) {
      const heat = p.heat;
      if (heat && heat.shown && heat.image) {
        const side = p.facts.heatmap_scale * v.k; // CSS pixels per heatmap pixel
        context.globalAlpha = heat.opacity;
        context.drawImage(heat.image.coloured, v.ox, v.oy, heat.image.width * side,
          heat.image.height * side);
      }
    }
    context.globalAlpha = 1;
  }

  function animating() {
    const vp = viewer.viewport;
    return vp.getZoom(true) !== vp.getZoom(false) || !vp.getCenter(true).equals(vp.getCenter(false));
  }

  function drawAnnotations(v) {
    // the annotations are drawn into a cache, over the view and half its size again on each
    // side, which is copied to the screen: a pan within it is only a copy; while a zoom
    // animates, the copy is scaled (to at most twice or half), and the cache is drawn again
    // once the zoom settles, or at once if what is shown has changed
    const started = performance.now();
    const context = fit(shapeCanvas, v);
    const shown = predictions.filter(function (p) {
      return p.shapes && p.shapes.shown && p.shapes.data;
    });
    let figures = window.slideOverlay;
    if (!shown.length) {
      cache.version = -1;
      figures = { painted: false, drawn: 0, merged: 0, inView: 0, features: 0, renders: renders };
    } else {
      const current = cache.version === version.shapes;
      const drift = current ? v.k / cache.view.k : 0; // the zoom since the cache was drawn
      const same = Math.abs(drift - 1) < 1e-6;
      const holds = same && v.x0 >= cache.view.x0 && v.x1 <= cache.view.x1 &&
        v.y0 >= cache.view.y0 && v.y1 <= cache.view.y1;
      // drawn again unless a zoom is animating and the cache, scaled, still covers the view
      let exact = holds;
      if (!holds && (same || drift < 0.5 || drift > 2 || !animating())) {
        figures = render(v, shown);
        exact = true;
      }
      const s = exact ? 1 : v.k / cache.view.k; // screen pixels per cache pixel
      context.imageSmoothingEnabled = !exact;
      context.drawImage(cache.canvas, v.ox - cache.view.ox * s, v.oy - cache.view.oy * s,
        cache.view.w * s, cache.view.h * s);
      if (!exact) {
        drawnAt.shapes = ""; // an approximation until the zoom settles: drawn again then
      }
    }
    frames += 1;
    figures.frames = frames;
    figures.ms = performance.now() - started; // this frame's drawing of the annotations
    window.slideOverlay = figures;
    if (figures.painted && !marked) {
      marked = true;
      performance.mark("annotations-painted");
    }
  }

  function render(v, shown) {
    // the view with half its size again on every side, at the view's zoom
    const mx = v.w / 2;
    const my = v.h / 2;
    const region = {
      k: v.k, ox: v.ox + mx, oy: v.oy + my, w: v.w + 2 * mx, h: v.h + 2 * my,
      x0: v.x0 - mx / v.k, y0: v.y0 - my / v.k, x1: v.x1 + mx / v.k, y1: v.y1 + my / v.k,
    };
    const context = fit(cache.canvas, region);
    const dots = dotGrid(region);
    const figures = { painted: true, drawn: 0, merged: 0, inView: 0, features: 0 };
    for (const p of shown) {
      const counts = paintAnnotations(context, p.shapes.data, p.shapes.visible, region, dots,
        colourOf);
      figures.drawn += counts.drawn;
      figures.merged += counts.merged;
      figures.inView += counts.inView;
      figures.features += p.shapes.data.n;
    }
    cache.view = region;
    cache.version = version.shapes;
    renders += 1;
    figures.renders = renders;
    return figures;
  }

  // ---- data --------------------------------------------------------------------------------

  function loadHeatmap(p) {
    const heat = p.heat;
    if (!heat.loading) {
      heat.loading = new Promise(function (resolve, reject) {
        const image = new Image();
        image.onload = function () {
          heat.image = heatmapOf(image);
          colourHeatmap(heat.image, heat.threshold);
          resolve();
        };
        image.onerror = function () {
          heat.loading = null;
          reject(new Error("heatmap"));
        };
        image.src = p.facts.heatmap_url;
      });
    }
    return heat.loading;
  }

  function loadAnnotations(p, size) {
    const shapes = p.shapes;
    if (!shapes.loading) {
      shapes.loading = fetch(p.facts.annotations_url, { credentials: "same-origin" })
        .then(function (answer) {
          if (!answer.ok) {
            throw new Error("annotations");
          }
          return answer.json();
        })
        .then(function (doc) {
          shapes.data = parseAnnotations(doc, size.width, size.height);
          performance.mark("annotations-parsed");
          shapes.visible = shapes.data.classes.map(function (name) {
            return shapes.hidden.has(name) ? 0 : 1;
          });
          classList(p);
        })
        .catch(function (error) {
          shapes.loading = null;
          throw error;
        });
    }
    return shapes.loading;
  }

  // ---- the panel ---------------------------------------------------------------------------

  function make(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const name in attributes || {}) {
      node.setAttribute(name, attributes[name]);
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function runText(iso) {
    const when = new Date(iso);
    return isNaN(when) ? iso : when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function plural(n, one, many) {
    return number.format(n) + " " + (n === 1 ? one : many);
  }

  function switchControl(id, text, checked) {
    const label = make("label", { for: id, class: "overlay-switch" });
    const box = make("input", { type: "checkbox", role: "switch", id: id });
    box.checked = checked;
    label.append(box, document.createTextNode(" " + text));
    return { label: label, box: box };
  }

  function slider(id, text, value, shown) {
    const wrap = make("div", { class: "overlay-slider" });
    const label = make("label", { for: id });
    const readout = make("span", { class: "overlay-value", "aria-hidden": "true" }, shown(value));
    label.append(document.createTextNode(text + " "), readout);
    const input = make("input", { type: "range", id: id, min: "0", max: "100", step: "1",
      value: String(value), "aria-valuetext": shown(value) });
    input.addEventListener("input", function () {
      readout.textContent = shown(Number(input.value));
      input.setAttribute("aria-valuetext", shown(Number(input.value)));
    });
    wrap.append(label, input);
    return { wrap: wrap, input: input };
  }

  function heatmapControls(p, id, article) {
    const f = p.facts;
    p.heat = { shown: false, opacity: 0.6, threshold: 0.5, image: null, loading: null };
    const box = make("fieldset", { class: "overlay-group" });
    box.append(make("legend", {}, "Heatmap"));
    const toggle = switchControl(id + "-heatmap", "Show the heatmap", false);
    const opacity = slider(id + "-opacity", "Opacity", 60, function (v) { return v + " %"; });
    const threshold = slider(id + "-threshold", "Threshold", 50, function (v) {
      return v >= 100 ? "1.00: nothing shown" : "scores above " + (v / 100).toFixed(2);
    });
    const legend = make("div", { class: "heatmap-legend", "aria-hidden": "true" });
    legend.append(make("span", { class: "heatmap-ramp" }), make("span", {}, "score 0"),
      make("span", {}, "0.5"), make("span", {}, "1"));
    box.append(toggle.label, opacity.wrap, threshold.wrap, legend);
    article.append(box);
    const heatSay = function () {
      say(p.heat.shown
        ? "Heatmap of " + f.model + " shown: scores above " + p.heat.threshold.toFixed(2) +
          " in colour, " + Math.round(p.heat.opacity * 100) + " % opaque."
        : "Heatmap of " + f.model + " hidden.");
    };
    toggle.box.addEventListener("change", function () {
      p.heat.shown = toggle.box.checked;
      if (!p.heat.shown) {
        schedule("heat");
        heatSay();
        return;
      }
      if (!p.heat.image) {
        say("Loading the heatmap of " + f.model + "…");
      }
      loadHeatmap(p).then(function () {
        schedule("heat");
        heatSay();
      }, function () {
        say("The heatmap could not be loaded: reload the page to try again.");
      });
    });
    opacity.input.addEventListener("input", function () {
      p.heat.opacity = Number(opacity.input.value) / 100;
      schedule("heat");
    });
    threshold.input.addEventListener("input", function () {
      p.heat.threshold = Number(threshold.input.value) / 100;
      if (p.heat.image) {
        colourHeatmap(p.heat.image, p.heat.threshold);
        schedule("heat");
      }
    });
    opacity.input.addEventListener("change", heatSay);
    threshold.input.addEventListener("change", heatSay);
  }

  function annotationControls(p, id, article, size, on) {
    const f = p.facts;
    p.shapes = { shown: on, data: null, visible: [], hidden: new Set(), loading: null };
    const box = make("fieldset", { class: "overlay-group" });
    box.append(make("legend", {}, "Annotations"));
    const toggle = switchControl(id + "-annotations", "Show the annotations", on);
    p.classList = make("ul", { class: "overlay-classes", id: id + "-classes" });
    box.append(toggle.label, p.classList);
    article.append(box);
    classList(p);
    const shapesSay = function () {
      const d = p.shapes.data;
      say(p.shapes.shown && d
        ? "Annotations of " + f.model + " shown: " + plural(d.n, "feature", "features") +
          " in " + plural(d.classes.length, "class", "classes") + "."
        : "Annotations of " + f.model + " hidden.");
    };
    const show = function () {
      if (!p.shapes.shown) {
        schedule("shapes");
        shapesSay();
        return;
      }
      if (!p.shapes.data) {
        say("Loading the annotations of " + f.model + "…");
      }
      loadAnnotations(p, size).then(function () {
        schedule("shapes");
        shapesSay();
      }, function () {
        say("The annotations could not be loaded: reload the page to try again.");
      });
    };
    toggle.box.addEventListener("change", function () {
      p.shapes.shown = toggle.box.checked;
      show();
    });
    if (on) {
      show();
    }
  }

  function classList(p) {
    // a checkbox per class, in its colour, with how many features it has (once loaded)
    const ul = p.classList;
    ul.replaceChildren();
    const d = p.shapes.data;
    const names = d ? d.classes : p.facts.classes;
    names.forEach(function (name, i) {
      const id = ul.id + "-" + i;
      const li = make("li");
      const label = make("label", { for: id });
      const box = make("input", { type: "checkbox", id: id });
      box.checked = !p.shapes.hidden.has(name);
      const swatch = make("span", { class: "overlay-swatch", "aria-hidden": "true" });
      swatch.style.background = colourOf(name);
      const count = make("span", { class: "overlay-count" }, d ? number.format(d.counts[i]) : "");
      label.append(box, swatch, document.createTextNode(name + " "), count);
      box.addEventListener("change", function () {
        if (box.checked) {
          p.shapes.hidden.delete(name);
        } else {
          p.shapes.hidden.add(name);
        }
        if (p.shapes.data) {
          p.shapes.visible[p.shapes.data.classes.indexOf(name)] = box.checked ? 1 : 0;
        }
        schedule("shapes");
        say("Class " + name + (box.checked ? " shown." : " hidden."));
      });
      li.append(label);
      ul.append(li);
    });
  }

  function card(p, n, size, on) {
    const f = p.facts;
    const id = "prediction-" + n;
    const article = make("article", { class: "prediction", "aria-labelledby": id + "-title" });
    const title = make("h3", { id: id + "-title" }, f.model + " ");
    title.append(make("small", {}, "version " + f.version));
    const parts = ["Run " + runText(f.run_at)];
    if (f.features) {
      parts.push(plural(f.features, "feature", "features") + " (" + f.classes.join(", ") + ")");
    }
    parts.push(f.heatmap ? "a heatmap" : "no heatmap");
    article.append(title, make("p", { class: "prediction-facts" }, parts.join(" · ")));
    if (f.heatmap_url) {
      heatmapControls(p, id, article);
    }
    if (f.annotations_url) {
      annotationControls(p, id, article, size, on);
    }
    return article;
  }

  function start(body) {
    const listed = body.predictions || [];
    if (!listed.length) {
      say("No AI prediction has been imported for this slide.");
      return;
    }
    const size = { width: body.slide.width, height: body.slide.height };
    const first = listed.findIndex(function (f) { return !!f.annotations_url; });
    say(plural(listed.length, "prediction", "predictions") + " for this slide, newest first.");
    listed.forEach(function (facts, n) {
      const p = { facts: facts, heat: null, shapes: null, classList: null };
      predictions.push(p);
      list.append(card(p, n, size, n === first));
    });
  }

  viewer.addHandler("update-viewport", draw); // OpenSeadragon's frame: once a frame at most
  viewer.addHandler("resize", function () { schedule(); });
  viewer.addHandler("open", function () { schedule(); });
  viewer.addHandler("animation-finish", function () { drawnAt.shapes = ""; draw(); });

  fetch(element.dataset.predictions, { credentials: "same-origin" })
    .then(function (answer) {
      if (!answer.ok) {
        throw new Error("predictions");
      }
      return answer.json();
    })
    .then(start, function () {
      say("The slide's predictions could not be loaded: reload the page to try again.");
    });
}

const element = document.getElementById("slide-viewer");
const list = document.getElementById("overlay-list");
const status = document.getElementById("overlay-status");
if (element && list && status && window.slideViewer) {
  overlays(element, list, status, window.slideViewer);
}
