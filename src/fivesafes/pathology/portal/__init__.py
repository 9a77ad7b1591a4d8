"""The slides' pages (issue 16, ADR 0029): the slides (and as CSV), and a slide in a viewer
(OpenSeadragon, served locally) over its DeepZoom tiles, with the AI predictions drawn over it.
The same router is mounted twice: at a node over the slides it registered, at the hub over
the slides nodes released to its review store.

| page (under the site's prefix)             | at a node (``/slides``) | at the hub             |
|                                            |                         | (``/review/slides``)   |
| ------------------------------------------ | ----------------------- | ---------------------- |
| ``""``, ``.csv``, ``/{id}``,               | its custodians, TRE     | the members of the     |
| ``/{id}/dzi.json``,                        | admins and output       | project each slide was |
| ``/{id}/tiles/{level}/{col}_{row}.jpeg``,  | checkers: every slide   | released for: those    |
| ``/{id}/predictions.json``, its            | registered there        | slides only            |
| ``annotations.json`` and ``heatmap.png``   |                         | (``site.visible``)     |

``routes.slides_router`` is the factory, ``site.SlidesSite`` what a service gives it (the node
builds it in ``node.portal.slides.slides_site``, the hub in ``hub.portal.review.review_site``,
which also records each tile in the reader's viewport trail through ``on_tile``). What it
needs of the portal (who is signed in, may they look, the page frame) comes in the site, so
nothing here imports the layers above.
"""
