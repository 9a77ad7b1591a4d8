"""Account commands the hub and every node share, as the same account code is behind both:
passwords, TOTP, roles, disabling and listing people. Each acts on the service's own
database as its administrator (who has the machine and its configuration).

No ``from __future__ import annotations`` here: typer reads the annotations of the commands
defined inside :func:`register`, which name its local option types."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.table import Table

from fivesafes.cli.output import console
from fivesafes.governance.people import Account
from fivesafes.governance.roles import Scope, grant

if TYPE_CHECKING:  # the store brings SQLAlchemy, which help does not need
    from fivesafes.governance.accounts.store import AccountStore


class HasAccounts(Protocol):
    account_store: "AccountStore"

    def unit(self, work: Callable[[Any], Any]) -> Any: ...


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    return password


def describe(account: Account, second_factor: str, has_password: bool) -> list[str]:
    return [
        account.username,
        account.display_name,
        account.organisation or "",
        ", ".join(str(g) for g in sorted(account.grants)),
        account.accredited_until.isoformat() if account.accredited_until else "",
        "yes" if has_password else "no",
        second_factor,
        "disabled" if account.disabled else "active",
    ]


def register(
    app: typer.Typer,
    *,
    kind: str,
    default_config: Path,
    open_service: Callable[[Path], HasAccounts],
    scope_of: Callable[[Any], Scope],
    by: str,
    disable: Callable[[Any, Any, str], Account] | None = None,
) -> None:
    """Add the shared account commands to ``app`` (``fivesafes hub`` or ``fivesafes node``)."""
    Config = Annotated[
        Path, typer.Option("--config", "-c", help=f"The {kind}'s TOML configuration.")
    ]
    PasswordStdin = Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ]

    @app.command("set-password")
    def set_password(
        username: str, config: Config = default_config, password_stdin: PasswordStdin = False
    ) -> None:
        """Set a person's password for web login (stored as an Argon2id hash)."""
        password = read_password(password_stdin)
        service = open_service(config)
        service.unit(lambda s: service.account_store.set_password(s, username, password, by=by))
        console.print(f"Password set for {username}; any web sessions of theirs were ended.")

    @app.command("enrol-totp")
    def enrol_totp(username: str, config: Config = default_config) -> None:
        """Give a person a new TOTP second factor; prints its otpauth URI and secret once."""
        service = open_service(config)
        secret, uri = service.unit(lambda s: service.account_store.enrol_totp(s, username, by=by))
        console.print(f"TOTP for {username} (shown once; add it to an authenticator app):")
        console.print(uri, highlight=False, soft_wrap=True, markup=False)
        console.print(f"secret: {secret}", highlight=False, markup=False)

    @app.command("grant-role")
    def grant_role(
        username: str,
        role: Annotated[str, typer.Argument(help="The role to grant.")],
        config: Config = default_config,
    ) -> None:
        """Grant a role to a person."""
        service = open_service(config)
        one = grant(role, scope_of(service))
        service.unit(lambda s: service.account_store.grant(s, username, one, by=by))
        console.print(f"{username} now holds {one}.")

    @app.command("revoke-role")
    def revoke_role(
        username: str,
        role: Annotated[str, typer.Argument(help="The role to take away.")],
        config: Config = default_config,
    ) -> None:
        """Take a role away from a person."""
        service = open_service(config)
        one = grant(role, scope_of(service))
        service.unit(lambda s: service.account_store.revoke(s, username, one, by=by))
        console.print(f"{username} no longer holds {one}.")

    @app.command("disable-user")
    def disable_user(username: str, config: Config = default_config) -> None:
        """Disable an account: no more logins, web sessions or API tokens (records stay)."""
        service = open_service(config)
        if disable is not None:
            service.unit(lambda s: disable(service, s, username))
        else:
            service.unit(lambda s: service.account_store.disable(s, username, by=by))
        console.print(f"{username} is disabled.")

    @app.command("users")
    def users(config: Config = default_config) -> None:
        """List the accounts: roles, organisation, accreditation, password, second factor."""
        service = open_service(config)
        store = service.account_store

        def rows(s: Any) -> list[list[str]]:
            found = []
            for account in store.everyone(s):
                row = store._row(s, account.username)
                found.append(
                    describe(
                        account,
                        store.second_factor(s, account.username),
                        row.password_hash is not None,
                    )
                )
            return found

        table = Table(
            "user", "name", "organisation", "roles", "accredited until", "password", "TOTP",
            "state",
        )  # fmt: skip
        for row in service.unit(rows):
            table.add_row(*row)
        console.print(table)
