"""The account store the hub and every node share: one set of tables in each service's own
database (``define_account_tables``), Argon2id passwords, TOTP second factors encrypted at
rest, lockout after failed logins, and web sessions with a CSRF token.

A node's custodians, TRE admins and output checkers log in against the node's own database,
never the hub's; researchers and hub admins against the hub's. :class:`Accounts` is the
small API the services and the portal use.
"""

from fivesafes.governance.accounts.service import Accounts, WebSession

__all__ = ["Accounts", "WebSession"]
