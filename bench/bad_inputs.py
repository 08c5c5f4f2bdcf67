"""Run every bad-input and security case of `tests.security.cases` and count how many pass.

    python bench/bad_inputs.py                                  # SQLite (+ PostgreSQL if DATABASE_URL_POSTGRES)
    python bench/bad_inputs.py --postgres postgresql://user@host:5432/db

Each case gets a fresh database (a copy of one migrated SQLite file; on PostgreSQL a throwaway
schema, emptied between cases). A case passes when the bad input gets the clear refusal or the
safe outcome it asserts; a failed case prints its name and why. Prints "N passed, M failed of T
tried" per backend and exits 1 if any failed. The app's UI cases (Gradio) are not in this script.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import Retry, Store
from tests.security.cases import CASES

FAST = Retry(attempts=2, base_s=0.01, max_s=0.05)


@contextmanager
def sqlite_stores(folder: Path) -> Iterator[Iterator[Store]]:
    template = folder / "template.db"
    Store.open(f"sqlite:///{template}").close()

    def each() -> Iterator[Store]:
        for n in range(len(CASES)):
            path = folder / f"case{n}.db"
            shutil.copyfile(template, path)
            with Store.open(f"sqlite:///{path}", retry=FAST, busy_timeout_ms=200, migrate=False) as store:
                yield store
    yield each()


@contextmanager
def postgres_stores(url: str) -> Iterator[Iterator[Store]]:
    admin_url = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url)
    schema = f"bad_inputs_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = admin_url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    Store.open(scoped).close()

    def each() -> Iterator[Store]:
        for _ in CASES:
            with admin.begin() as conn:
                conn.execute(text(f"TRUNCATE {schema}.votes, {schema}.annotators, {schema}.battles, "
                                  f"{schema}.generations, {schema}.prompts RESTART IDENTITY CASCADE"))
            with Store.open(scoped, retry=FAST, busy_timeout_ms=200, migrate=False) as store:
                yield store
    try:
        yield each()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run(backend: str, stores: Iterator[Store], verbose: bool) -> tuple[int, int]:
    passed = failed = 0
    for (name, fn), store in zip(sorted(CASES.items()), stores, strict=False):
        try:
            fn(store)
        except Exception as error:
            failed += 1
            print(f"FAILED {backend} {name}: {type(error).__name__}: {error}")
            if verbose:
                traceback.print_exc()
        else:
            passed += 1
    print(f"{backend}: {passed} passed, {failed} failed of {passed + failed} tried")
    return passed, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("DATABASE_URL_POSTGRES"),
                        help="PostgreSQL URL (default: DATABASE_URL_POSTGRES; none: SQLite only)")
    parser.add_argument("--verbose", action="store_true", help="print the traceback of a failed case")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    total_failed = 0
    with tempfile.TemporaryDirectory() as folder, sqlite_stores(Path(folder)) as stores:
        total_failed += run("sqlite", stores, args.verbose)[1]
    if args.postgres:
        with postgres_stores(args.postgres) as stores:
            total_failed += run("postgresql", stores, args.verbose)[1]
    else:
        print("postgresql: not run (no --postgres and no DATABASE_URL_POSTGRES)")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
