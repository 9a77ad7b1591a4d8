"""The slides' pages at a node (issue 16, ADR 0029): the registered slides (and as CSV), and
a slide in a viewer (OpenSeadragon, served from the node itself) over its DeepZoom tiles.

| page                                                  | who                                   |
| ----------------------------------------------------- | ------------------------------------- |
| ``/slides``, ``/slides.csv``                          | the node's custodians, TRE admins and |
| ``/slides/{id}``, ``/slides/{id}/dzi.json``           | output checkers (review studies, with |
| ``/slides/{id}/tiles/{level}/{col}_{row}.jpeg``       | their readers, come in issue 17)      |

``routes.slides_router`` is the factory, ``site.SlidesSite`` what a service gives it (the node
builds it: ``node.portal.slides.slides_site``). The package sits in the ``slides`` layer, below
the web's: what it needs of the portal (who is signed in, may they look, the page frame) comes
in the site, so nothing here imports the layers above.
"""
