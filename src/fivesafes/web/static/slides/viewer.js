/* The slide viewer (templates/slides/viewer.html): OpenSeadragon (vendored from npm) over the
   slide's DeepZoom tiles, with the portal's own buttons, a navigator, and over the image a
   scale bar drawn from the slide's microns per pixel and the magnification (from its objective
   power), both updated as the view zooms. */
(function () {
  "use strict";
  const element = document.getElementById("slide-viewer");
  if (!element || typeof OpenSeadragon !== "function") {
    return;
  }
  const status = document.getElementById("slide-status");
  const zoomText = document.getElementById("slide-zoom");
  const bar = document.getElementById("scale-bar");
  const barLine = bar.querySelector(".scale-bar-line");
  const barText = bar.querySelector(".scale-bar-text");
  const mpp = parseFloat(element.dataset.mpp || "");
  const objective = parseFloat(element.dataset.objective || "");
  const TARGET = 120; // the scale bar's longest length, in CSS pixels
  let failed = 0;

  const viewer = OpenSeadragon({
    element: element,
    tileSources: element.dataset.dzi,
    prefixUrl: "",
    showNavigationControl: false, // the page's own buttons, no images needed
    showNavigator: true,
    navigatorPosition: "BOTTOM_RIGHT",
    navigatorSizeRatio: 0.18,
    drawer: "canvas",
    crossOriginPolicy: false,
    visibilityRatio: 0.5,
    constrainDuringPan: true,
    maxZoomPixelRatio: 2,
    animationTime: 0.5,
    zoomPerScroll: 1.5,
    gestureSettingsMouse: { clickToZoom: false },
  });
  window.slideViewer = viewer; // for tests: the world, the viewport

  function say(text) {
    status.textContent = text;
  }

  function niceLength(microns) {
    // the largest 1, 2 or 5 times a power of ten not above ``microns``
    const power = Math.pow(10, Math.floor(Math.log10(microns)));
    for (const step of [5, 2, 1]) {
      if (step * power <= microns) {
        return step * power;
      }
    }
    return power;
  }

  function lengthText(microns) {
    if (microns >= 1000) {
      return (microns / 1000).toLocaleString("en-GB", { maximumFractionDigits: 3 }) + " mm";
    }
    return microns.toLocaleString("en-GB", { maximumFractionDigits: 3 }) + " µm";
  }

  function update() {
    const item = viewer.world.getItemAt(0);
    if (!item) {
      return;
    }
    // screen (CSS) pixels per pixel of the slide's level 0
    const scale = item.viewportToImageZoom(viewer.viewport.getZoom(true));
    if (objective > 0) {
      zoomText.textContent = "≈ " + (objective * scale).toFixed(scale < 0.1 ? 2 : 1) + "×";
    } else {
      zoomText.textContent = (100 * scale).toFixed(scale < 0.1 ? 1 : 0) + " % of full size";
    }
    if (!(mpp > 0) || !barLine) {
      return;
    }
    const micronsPerScreenPixel = mpp / scale;
    const microns = niceLength(micronsPerScreenPixel * TARGET);
    barLine.style.width = (microns / micronsPerScreenPixel).toFixed(1) + "px";
    barText.textContent = lengthText(microns);
  }

  viewer.addHandler("open", function () {
    bar.hidden = false;
    viewer.addControl(bar, { anchor: OpenSeadragon.ControlAnchor.BOTTOM_LEFT });
    update();
    say("The slide is open: drag to pan; scroll, double-click or use the buttons to zoom.");
  });
  viewer.addHandler("open-failed", function () {
    say("The slide could not be opened: reload the page, or ask the node's operator.");
  });
  viewer.addHandler("tile-load-failed", function () {
    failed += 1;
    say(failed + (failed === 1 ? " tile" : " tiles") + " could not be loaded: reload the page to try again.");
  });
  viewer.addHandler("animation", update);
  viewer.addHandler("animation-finish", update);
  viewer.addHandler("resize", update);

  document.querySelectorAll(".slide-controls [data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      const action = button.dataset.action;
      if (action === "zoom-in") {
        viewer.viewport.zoomBy(2);
        viewer.viewport.applyConstraints();
      } else if (action === "zoom-out") {
        viewer.viewport.zoomBy(0.5);
        viewer.viewport.applyConstraints();
      } else if (action === "home") {
        viewer.viewport.goHome();
      } else if (action === "full-screen") {
        const view = element.closest(".slide-view");
        if (document.fullscreenElement) {
          document.exitFullscreen();
        } else if (view && view.requestFullscreen) {
          view.requestFullscreen();
        }
      }
    });
  });
  document.addEventListener("fullscreenchange", function () {
    const button = document.querySelector('[data-action="full-screen"]');
    button.textContent = document.fullscreenElement ? "Leave full screen" : "Full screen";
  });
})();
