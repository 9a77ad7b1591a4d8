"""Migration 0003 of the hub and of the node upgrades a database that already holds people,
tokens, projects and approvals (SQLite and PostgreSQL): nothing is lost, old tokens keep
working with every action, analyses become name@1, and the schema then matches the models."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text

from fivesafes.governance.roles import Role
from fivesafes.governance.tokens import ALL_ACTIONS
from fivesafes.hub.people import authenticate, hash_token, hub_accounts
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def migrate(engine: Engine, where: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", where)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def matches_models(engine: Engine, metadata) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_hub_keeps_its_people_tokens_and_projects(state_db_url):
    from fivesafes.hub.db import ApiToken, Base, Project, ProjectVersion

    engine = make_engine(state_db_url)
    migrate(engine, "fivesafes.hub:migrations", "0002")
    later = NOW + timedelta(days=3650)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, created_at) VALUES "
                "(1, 'alice', 'Alice', 'researcher', :t), (2, 'root', 'Root', 'hub_admin', :t)"
            ),
            {"t": NOW},
        )
        c.execute(
            text(
                "INSERT INTO api_tokens (id, token_hash, user_id, created_at, expires_at) "
                "VALUES (1, :h, 1, :t, :e)"
            ),
            {"h": hash_token("fs_old"), "t": NOW, "e": later},
        )
        c.execute(
            text(
                "INSERT INTO nodes (id, name, public_key, enrolled_at) VALUES (1, 'north', 'k', :t)"
            ),
            {"t": NOW},
        )
        c.execute(
            text(
                "INSERT INTO projects (id, title, version, start_date, end_date, analyses, "
                "created_at) VALUES ('p_1', 'Old', 2, :s, :e, :a, :t)"
            ),
            {"s": date(2026, 1, 1), "e": date(2026, 12, 31), "a": '["count", "glm"]', "t": NOW},
        )
        c.execute(text("INSERT INTO project_members VALUES ('p_1', 1)"))
        c.execute(
            text("INSERT INTO project_nodes (project_id, node_id, approval) VALUES ('p_1', 1, 'x')")
        )
    migrate(engine, "fivesafes.hub:migrations", "head")
    matches_models(engine, Base.metadata)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        store = hub_accounts()
        assert store.require(s, "alice").roles_at() == [Role.RESEARCHER]
        assert store.require(s, "root").roles_at() == [Role.HUB_ADMIN]
        token = s.get(ApiToken, 1)
        assert set(token.actions) == {a.value for a in ALL_ACTIONS} and token.project_id is None
        actor = authenticate(s, "fs_old", now=NOW)
        assert actor.username == "alice" and actor.scope.actions == ALL_ACTIONS
        project = s.get(Project, "p_1")
        assert project.analyses == ["count@1", "glm@1"]
        assert (project.data_domains, project.sensitivity, project.pi_id) == (
            ["omop"],
            "standard",
            None,
        )
        [history] = s.scalars(select(ProjectVersion)).all()
        assert (history.version, history.record["members"], history.record["nodes"]) == (
            2,
            ["alice"],
            ["north"],
        )
    engine.dispose()


def test_the_node_keeps_its_approvals(state_db_url):
    from fivesafes.node.db import Approval, Base

    engine = make_engine(state_db_url)
    migrate(engine, "fivesafes.node:migrations", "0002")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO approvals (project_id, version, title, members, analyses, start_date, "
                "end_date, state, decided_at, decided_by, record_signature) VALUES "
                "('p_1', 3, 'Old', :m, :a, :s, :e, 'approved', :t, 'Dr C', 'sig')"
            ),
            {
                "m": '["alice"]',
                "a": '["count", "summary"]',
                "s": date(2026, 1, 1),
                "e": date(2026, 12, 31),
                "t": NOW,
            },
        )
    migrate(engine, "fivesafes.node:migrations", "head")
    matches_models(engine, Base.metadata)
    with transaction(make_sessionmaker(engine)) as s:
        approval = s.get(Approval, "p_1")
        assert approval.analyses == ["count@1", "summary@1"]
        assert (approval.state, approval.version, approval.outputs_to_airlock) == (
            "approved",
            3,
            False,
        )
    engine.dispose()
