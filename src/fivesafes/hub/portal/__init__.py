"""The hub's pages (the portal): server-rendered with Jinja2 and htmx (``fivesafes.web``)."""
