/* What the slide viewer's overlays draw (overlays.js uses it): a prediction's heatmap coloured
   with viridis above a threshold, and its vector annotations with level of detail.

   Annotations (a GeoJSON FeatureCollection in level-0 pixels) are parsed once into typed arrays
   (bounding boxes, classes, vertices, rings) with a grid index: a frame visits only the cells in
   view, and each feature once. In a frame, a feature smaller than MIN_FEATURE screen pixels is
   one dot, and dots (and points) closer than DOT pixels are merged into one; a polygon's vertex
   within MIN_STEP pixels of the last one kept is skipped; a shape smaller than FILL_MIN pixels
   is outlined only (filling costs the rasteriser most), a larger one filled faintly too. Each
   class is drawn from its own Path2Ds, in its colour, a Path2D per CHUNK shapes. */

export const MIN_FEATURE = 2; // screen pixels: a smaller feature is a dot
export const MIN_STEP = 1; // screen pixels: a vertex closer to the last one kept is skipped
export const DOT = 2; // screen pixels: dots closer than this are one
export const FILL_MIN = 8; // screen pixels: a smaller shape is outlined, not filled
export const POINT_RADIUS = 3; // screen pixels
const FILL_ALPHA = 0.18;
const LINE_ALPHA = 0.95;
// shapes in one Path2D: Chromium builds a path of thousands of sub-paths in time growing with
// its length (10,000 polygons: 800 ms in one path, 30 ms in chunks of 256)
export const CHUNK = 256;
// viridis (matplotlib's, at eleven stops), interpolated into a 256-entry table
export const VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c",
  "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"];
const LUT = lookup(VIRIDIS);

function lookup(stops) {
  const rgb = stops.map(function (hex) {
    return [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
  });
  const table = new Uint8ClampedArray(256 * 3);
  for (let v = 0; v < 256; v++) {
    const at = (v / 255) * (rgb.length - 1);
    const i = Math.min(rgb.length - 2, Math.floor(at));
    const f = at - i;
    for (let c = 0; c < 3; c++) {
      table[v * 3 + c] = Math.round(rgb[i][c] * (1 - f) + rgb[i + 1][c] * f);
    }
  }
  return table;
}

// ---- heatmaps ------------------------------------------------------------------------------

/** The scores of a loaded grey PNG (one byte a pixel, 0 to 255), and a canvas to colour. */
export function heatmapOf(image) {
  const width = image.naturalWidth;
  const height = image.naturalHeight;
  const grey = document.createElement("canvas");
  grey.width = width;
  grey.height = height;
  const context = grey.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  const scores = new Uint8Array(width * height);
  for (let i = 0; i < scores.length; i++) {
    scores[i] = rgba[i * 4];
  }
  const coloured = document.createElement("canvas");
  coloured.width = width;
  coloured.height = height;
  return { width: width, height: height, scores: scores, coloured: coloured };
}

/** Colour ``heat``'s scores into its canvas: viridis above ``threshold`` (0 to 1), transparent
    at or below it (so a threshold of 1 clears it). */
export function colourHeatmap(heat, threshold) {
  const out = heat.coloured.getContext("2d");
  const image = out.createImageData(heat.width, heat.height);
  const pixels = image.data;
  const scores = heat.scores;
  const cut = threshold * 255;
  for (let i = 0, o = 0; i < scores.length; i++, o += 4) {
    const s = scores[i];
    if (s > cut) {
      pixels[o] = LUT[s * 3];
      pixels[o + 1] = LUT[s * 3 + 1];
      pixels[o + 2] = LUT[s * 3 + 2];
      pixels[o + 3] = 255;
    }
  }
  out.putImageData(image, 0, 0);
}

// ---- annotations: parsed once --------------------------------------------------------------

/** The features of a FeatureCollection, flattened into typed arrays, with a grid index over a
    slide of ``width`` by ``height`` level-0 pixels. */
export function parseAnnotations(doc, width, height) {
  const features = (doc && doc.features) || [];
  const n = features.length;
  const classes = [];
  const classIndex = new Map();
  let vertexCount = 0;
  let ringCount = 0;
  for (const feature of features) {
    const g = feature.geometry;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    for (const polygon of polygons) {
      ringCount += polygon.length;
      for (const ring of polygon) {
        vertexCount += ring.length;
      }
    }
  }
  const kind = new Uint8Array(n); // 0 a point, 1 a polygon or multipolygon
  const cls = new Uint8Array(n);
  const box = new Float32Array(n * 4); // x0, y0, x1, y1
  const xy = new Float32Array(vertexCount * 2);
  const rings = new Uint32Array(ringCount + 1); // each ring's first vertex
  const featureRings = new Uint32Array(n + 1); // each feature's first ring
  const counts = [];
  let vertex = 0;
  let ring = 0;
  for (let f = 0; f < n; f++) {
    const feature = features[f];
    const name = ((feature.properties || {}).classification || {}).name || "Unclassified";
    if (!classIndex.has(name)) {
      classIndex.set(name, classes.length);
      classes.push(name);
      counts.push(0);
    }
    cls[f] = classIndex.get(name);
    counts[cls[f]] += 1;
    featureRings[f] = ring;
    const g = feature.geometry;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    if (g.type === "Point") {
      x0 = x1 = g.coordinates[0];
      y0 = y1 = g.coordinates[1];
    } else {
      kind[f] = 1;
      for (const polygon of g.type === "Polygon" ? [g.coordinates] : g.coordinates) {
        for (const points of polygon) {
          rings[ring] = vertex;
          ring += 1;
          for (const p of points) {
            xy[vertex * 2] = p[0];
            xy[vertex * 2 + 1] = p[1];
            vertex += 1;
            x0 = Math.min(x0, p[0]);
            x1 = Math.max(x1, p[0]);
            y0 = Math.min(y0, p[1]);
            y1 = Math.max(y1, p[1]);
          }
        }
      }
    }
    box.set([x0, y0, x1, y1], f * 4);
  }
  featureRings[n] = ring;
  rings[ring] = vertex;
  return {
    n: n, kind: kind, cls: cls, box: box, xy: xy, rings: rings, featureRings: featureRings,
    classes: classes, counts: counts, grid: grid(box, n, width, height),
    seen: new Uint32Array(n), stamp: 0,
  };
}

function grid(box, n, width, height) {
  // square cells, about four features a cell, 8 to 256 a side; each cell lists the features
  // whose box meets it (compressed rows: ``start`` into ``items``)
  const side = Math.max(8, Math.min(256, Math.ceil(Math.sqrt(n / 4))));
  const cell = Math.max(width, height, 1) / side;
  const cols = Math.max(1, Math.ceil(width / cell));
  const rows = Math.max(1, Math.ceil(height / cell));
  const col = function (x) { return Math.max(0, Math.min(cols - 1, Math.floor(x / cell))); };
  const row = function (y) { return Math.max(0, Math.min(rows - 1, Math.floor(y / cell))); };
  const start = new Uint32Array(cols * rows + 1);
  const each = function (visit) {
    for (let f = 0; f < n; f++) {
      const b = f * 4;
      for (let r = row(box[b + 1]); r <= row(box[b + 3]); r++) {
        for (let c = col(box[b]); c <= col(box[b + 2]); c++) {
          visit(r * cols + c, f);
        }
      }
    }
  };
  each(function (at) { start[at + 1] += 1; });
  for (let i = 1; i < start.length; i++) {
    start[i] += start[i - 1];
  }
  const items = new Uint32Array(start[start.length - 1]);
  const next = start.slice(0, cols * rows);
  each(function (at, f) { items[next[at]++] = f; });
  return { cell: cell, cols: cols, rows: rows, start: start, items: items };
}

// ---- annotations: a frame ------------------------------------------------------------------

/** A grid of DOT-pixel cells over the view: where a dot has been drawn this frame. */
export function dotGrid(view) {
  const cols = Math.ceil(view.w / DOT) + 1;
  const rows = Math.ceil(view.h / DOT) + 1;
  return { cols: cols, rows: rows, seen: new Uint8Array(cols * rows) };
}

function seenDot(dots, x, y) {
  const c = Math.floor(x / DOT);
  const r = Math.floor(y / DOT);
  if (c < 0 || r < 0 || c >= dots.cols || r >= dots.rows) {
    return false;
  }
  const at = r * dots.cols + c;
  if (dots.seen[at]) {
    return true;
  }
  dots.seen[at] = 1;
  return false;
}

/** Path2Ds per class, a new one every CHUNK shapes. */
function chunked(classes) {
  const lists = [];
  const counts = new Uint32Array(classes);
  for (let c = 0; c < classes; c++) {
    lists.push([]);
  }
  return {
    lists: lists,
    next: function (cls) {
      const list = lists[cls];
      if (counts[cls] % CHUNK === 0) {
        list.push(new Path2D());
      }
      counts[cls] += 1;
      return list[list.length - 1];
    },
  };
}

/** Draw the features of ``d`` in ``view`` (level-0 pixels to CSS pixels: ``ox + x * k``)
    whose class is ``visible``; how many were drawn, merged into a dot drawn already, in view. */
export function paintAnnotations(context, d, visible, view, dots, colourOf) {
  const filled = chunked(d.classes.length); // filled faintly and outlined
  const outlined = chunked(d.classes.length); // outlined only: smaller than FILL_MIN
  const k = view.k;
  const ox = view.ox;
  const oy = view.oy;
  const box = d.box;
  const xy = d.xy;
  let drawn = 0;
  let merged = 0;
  let inView = 0;
  d.stamp += 1;
  const stamp = d.stamp;
  const g = d.grid;
  const c0 = Math.max(0, Math.floor(view.x0 / g.cell));
  const c1 = Math.min(g.cols - 1, Math.floor(view.x1 / g.cell));
  const r0 = Math.max(0, Math.floor(view.y0 / g.cell));
  const r1 = Math.min(g.rows - 1, Math.floor(view.y1 / g.cell));
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const cell = r * g.cols + c;
      for (let j = g.start[cell]; j < g.start[cell + 1]; j++) {
        const f = g.items[j];
        if (d.seen[f] === stamp) {
          continue; // met in another cell this frame
        }
        d.seen[f] = stamp;
        const cls = d.cls[f];
        const b = f * 4;
        if (!visible[cls] || box[b + 2] < view.x0 || box[b] > view.x1 ||
            box[b + 3] < view.y0 || box[b + 1] > view.y1) {
          continue;
        }
        inView += 1;
        const wide = (box[b + 2] - box[b]) * k;
        const tall = (box[b + 3] - box[b + 1]) * k;
        if (d.kind[f] === 0 || (wide < MIN_FEATURE && tall < MIN_FEATURE)) {
          // a point, or a feature too small to see: one dot
          const x = ox + (box[b] + box[b + 2]) * 0.5 * k;
          const y = oy + (box[b + 1] + box[b + 3]) * 0.5 * k;
          if (seenDot(dots, x, y)) {
            merged += 1;
            continue;
          }
          if (d.kind[f] === 0) {
            const path = filled.next(cls);
            path.moveTo(x + POINT_RADIUS, y);
            path.arc(x, y, POINT_RADIUS, 0, 2 * Math.PI);
          } else {
            outlined.next(cls).rect(x - 1, y - 1, 2, 2);
          }
          drawn += 1;
          continue;
        }
        const path = wide < FILL_MIN && tall < FILL_MIN ? outlined.next(cls) : filled.next(cls);
        for (let ring = d.featureRings[f]; ring < d.featureRings[f + 1]; ring++) {
          const first = d.rings[ring];
          const end = d.rings[ring + 1];
          let lx = ox + xy[first * 2] * k;
          let ly = oy + xy[first * 2 + 1] * k;
          path.moveTo(lx, ly);
          for (let i = first + 1; i < end; i++) {
            const x = ox + xy[i * 2] * k;
            const y = oy + xy[i * 2 + 1] * k;
            if (x - lx < MIN_STEP && lx - x < MIN_STEP && y - ly < MIN_STEP && ly - y < MIN_STEP) {
              continue;
            }
            path.lineTo(x, y);
            lx = x;
            ly = y;
          }
          path.closePath();
        }
        drawn += 1;
      }
    }
  }
  context.lineWidth = 1; // a wider line (or round joins) costs Chromium's rasteriser ten times
  for (let cls = 0; cls < d.classes.length; cls++) {
    const colour = colourOf(d.classes[cls]);
    context.fillStyle = colour;
    context.strokeStyle = colour;
    for (const path of filled.lists[cls]) {
      context.globalAlpha = FILL_ALPHA;
      context.fill(path);
      context.globalAlpha = LINE_ALPHA;
      context.stroke(path);
    }
    context.globalAlpha = LINE_ALPHA;
    for (const path of outlined.lists[cls]) {
      context.stroke(path);
    }
  }
  context.globalAlpha = 1;
  return { drawn: drawn, merged: merged, inView: inView };
}
