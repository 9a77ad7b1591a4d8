"""The imaging extracts' pages (the airlock's "imaging extract" kind, ADR 0028, point 5): an
output checker reviews a held extract (its report, a random sample of its de-identified
headers beside thumbnails) and releases or withdraws it; its requester may withdraw it.

| page                                          | who                                         |
| --------------------------------------------- | ------------------------------------------- |
| ``/extracts``, ``/extracts.csv``              | anyone signed in: the extracts they may see |
| ``/extracts/{id}``                            | who may see the extract; the sample only to |
|                                               | who may release it                          |
| ``/extracts/{id}/files/{n}/thumbnail.png``    | who may release it, while it is held        |
| POST ``/extracts/{id}/release``               | the node's output checkers, never its       |
|                                               | requester                                   |
| POST ``/extracts/{id}/withdraw``              | the node's output checkers; its requester   |

``routes.extracts_router`` is the factory, ``site.ExtractsSite`` what a service gives it (the
node builds it: ``node.portal.extracts.extracts_site``); ``report`` shapes an extract's report
into the page's tables; ``fivesafes.extracts.sample`` chooses and renders the sample.
"""
