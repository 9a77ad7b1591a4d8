"""The airlock's portal pages, one router for the hub and every node (the same code, as the
airlock itself): a service hands :func:`airlock_router` an :class:`AirlockSite` (its airlock,
its reads, who may author a request there, and its page frame) and mounts the router.

| page                                   | who                                        |
| -------------------------------------- | ------------------------------------------ |
| ``/airlock``                           | anyone signed in: a checker's queue first, |
|                                        | then their own requests                    |
| ``/airlock/new``, compose, submit,     | the author (a researcher there)            |
| revise, withdraw, release and download |                                            |
| ``/airlock/queue``                     | output checkers there: what waits for them |
| ``/airlock/{id}/review``, vote, return | output checkers there, never the author    |
| to the researcher, consolidate         |                                            |

Every action goes through ``fivesafes.airlock.service.Airlock`` (the CLI's own actions, with
the same audit events and permission checks); a request someone may not see is "not found",
the same answer as one that does not exist.

``routes.airlock_router`` is the factory, ``site.AirlockSite`` what a service gives it (each
service builds its own: ``hub.airlock.portal_site``, ``node.portal.airlock.portal_site``).
"""
