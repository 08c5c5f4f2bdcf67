"""Storage fixtures: a database URL per backend (SQLite always; PostgreSQL when
`DATABASE_URL_POSTGRES` is set, each test in its own throwaway schema), stores with fast retries,
and helpers that save finished generations and battles.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import Retry, Store

PG_ENV = "DATABASE_URL_POSTGRES"
PG_REASON = (f"{PG_ENV} is not set: no PostgreSQL server to test against (CI sets it). To run these: "
             f"apt-get install -y postgresql, then .ci/run starts a throwaway server; or export {PG_ENV}=postgresql://...")
FAST = Retry(attempts=3, base_s=0.01, max_s=0.05)
TABLES = ("votes", "annotators", "battles", "generations", "prompts")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql",
                 marks=[pytest.mark.postgres, pytest.mark.skipif(not os.environ.get(PG_ENV), reason=PG_REASON)]),
]


def pg_admin_url() -> str:
    url = make_url(os.environ[PG_ENV])
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _schema(admin, create: bool) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if create:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    return schema


def _schema_url(schema: str) -> str:
    url = make_url(pg_admin_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def _pg_schema(migrate: bool) -> Iterator[str]:
    """The URL of a fresh schema on the PostgreSQL server (migrated to head if asked), dropped after."""
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_REASON)
    admin = create_engine(pg_admin_url())
    schema = _schema(admin, create=True)
    try:
        if migrate:
            Store.open(_schema_url(schema)).close()
        yield _schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty schema on the PostgreSQL server, selected through the URL's search_path."""
    with _pg_schema(migrate=False) as url:
        yield url


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    """One schema migrated to head for the whole session (tests empty it, see `db_url`)."""
    with _pg_schema(migrate=True) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once; tests get a copy."""
    path = tmp_path_factory.mktemp("template") / "head.db"
    Store.open(f"sqlite:///{path}").close()
    return path


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path) -> str:
    """A database with no tables yet (for the migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A database at head with no rows."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def store(db_url) -> Iterator[Store]:
    with Store.open(db_url, retry=FAST, busy_timeout_ms=200) as s:
        yield s


def record(prompt: str = "Write a review", decoder: str = "args", text: str = "fine", stop: str | None = "eos",
           **extra: Any) -> dict[str, Any]:
    """A generation record as the UI builds it: request fields plus the event trace, Finished last."""
    config = {"decoder": decoder, **extra.pop("config", {"k": 10})}
    finished = {"type": "finished", "text": text, "stop_reason": stop, "reward": 0.5, "reward_parts": {"rm": 0.5},
                "cost": {"lm_tokens": 12, "reward_tokens": 40, "wall_ms": 3.0}, "new_tokens": 2, "seed": 7,
                "config": config, "error": None}
    trace = [{"type": "token", "index": 0, "token_id": 5, "text": text[:2], "logprob_base": -1.0,
              "logprob_decoder": -0.5}, finished]
    return {"prompt": prompt, "decoder": decoder, "config": config, "rewards": {"rm": 1.0}, "preset": "embedded",
            "model_ids": {"policy": "zoo:policy"}, "seed": 7, "trace": trace, **extra}


def battle(store: Store, prompt: str = "Write a review", configs: tuple[dict, dict] = ({"k": 10}, {"k": 20}),
           texts: tuple[str, str] = ("first", "second"), stops: tuple[str | None, str | None] = ("eos", "eos"),
           blind: bool = True, left: str = "a", prompt_set: str = "") -> int:
    ids = [store.save_generation(record(prompt, config=c, text=t, stop=s, prompt_set=prompt_set))
           for c, t, s in zip(configs, texts, stops, strict=True)]
    return store.create_battle(ids[0], ids[1], blind=blind, left=left)
