"""The portal's templates and static assets, shared by the hub's and the node's pages.

Pages are rendered on the server with Jinja2 and made interactive with htmx; front-end packages
come from the npm registry at set-up (``web/package.json``, ``bash scripts/install.sh``) and are
served by the hub or node itself from ``static/vendor/``, never from a CDN.
"""
