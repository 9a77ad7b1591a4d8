"""A module's pages, mounted by the hub and every node: the module writes one router factory
taking a *site* (what a service gives it: its reads, its actions, who may do what there, its
page frame) and each service writes how it builds that site. A service lists what it mounts:

    MOUNTS = (Mount("airlock", lambda service: airlock_router(portal_site(service))), ...)
    mount(app, service, MOUNTS)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import APIRouter, FastAPI

from fivesafes.web.pages import Page

Service = TypeVar("Service", contravariant=True)

__all__ = ["Mount", "Page", "mount"]


@dataclass(frozen=True)
class Mount(Generic[Service]):
    """A module's pages as one service mounts them."""

    name: str
    router: Callable[[Service], APIRouter]


def mount(app: FastAPI, service: Service, mounts: Sequence[Mount[Service]]) -> None:
    """Every module's router for ``service`` on its app, in the order given."""
    for each in mounts:
        app.include_router(each.router(service))
