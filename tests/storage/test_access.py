"""Protected data: the operator token, the bounded export folder, the public vote rows without
annotator ids, and the export command line's one-line failures (bad --out, bad database URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import Refused, Store, VoteFilter
from storage.access import TOKEN_ENV, Forbidden, exports_enabled, require_operator
from storage.export import ExportFolder, protected_export
from tests.storage.conftest import battle

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "operator-secret-0123456789"


def test_the_operator_token_is_required_and_compared_exactly():
    env = {TOKEN_ENV: TOKEN}
    require_operator(TOKEN, env)
    require_operator(f"  {TOKEN} ", env)  # pasted with spaces
    for wrong in (None, "", "operator-secret-012345678", TOKEN + "x", TOKEN.upper()):
        with pytest.raises(Forbidden) as info:
            require_operator(wrong, env)
        assert TOKEN not in str(info.value)
    with pytest.raises(Forbidden, match="no operator token is configured"):
        require_operator(TOKEN, {})
    with pytest.raises(Forbidden, match="shorter than 16 characters"):
        require_operator("short", {TOKEN_ENV: "short"})
    assert exports_enabled(env) and not exports_enabled({}) and not exports_enabled({TOKEN_ENV: "short"})


def test_a_protected_export_needs_the_token_and_keeps_the_folder_bounded(store, tmp_path, monkeypatch):
    bid = battle(store)
    store.cast_vote(bid, "ann", "left")
    folder = ExportFolder(tmp_path / "exports", keep=3)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(Forbidden):
        protected_export(store, "dpo", TOKEN, folder)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with pytest.raises(Forbidden, match="wrong operator token"):
        protected_export(store, "dpo", "guess-guess-guess-guess", folder)
    assert not folder.root.exists() or not any(folder.root.iterdir())  # nothing written for a refusal
    paths = [protected_export(store, "battles", TOKEN, folder)[0] for _ in range(5)]
    assert len(set(paths)) == 5 and all(p.parent == folder.root for p in paths)
    assert sorted(folder.root.iterdir()) == sorted(paths[-3:])  # only the newest three are kept
    assert '"annotator_id": "ann"' in paths[-1].read_text()


def test_the_export_folder_drops_files_past_their_age(tmp_path):
    folder = ExportFolder(tmp_path, keep=10, max_age_s=60)
    old = tmp_path / "dpo-old.jsonl"
    old.write_text("{}\n")
    os.utime(old, (time.time() - 120, time.time() - 120))
    fresh = tmp_path / "dpo-fresh.jsonl"
    fresh.write_text("{}\n")
    assert folder.clean() == [old] and fresh.exists()


def test_public_vote_rows_hide_annotator_ids(store):
    for who in ("alice@example.org", "bob", "alice@example.org"):
        store.cast_vote(battle(store), who, "left")
    public = store.vote_rows(public=True)
    assert [r.annotator for r in public] == ["annotator 1", "annotator 2", "annotator 1"]
    assert [r.vote_id for r in public] == [r.vote_id for r in store.vote_rows()]
    with pytest.raises(Refused) as info:
        store.vote_rows(VoteFilter(annotator="bob"), public=True)
    assert info.value.field == "where.annotator"


def _export_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | (env or {})
    return subprocess.run([sys.executable, "-m", "storage.export", "--format", "dpo", *args], cwd=ROOT,
                          capture_output=True, text=True, env=environment, timeout=120)


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--out", "{tmp}/x.jsonl", "--database", "not a url"], None, "database URL='not a url': cannot be parsed"),
    (["--out", "{tmp}/x.jsonl"], {"DATABASE_URL": "postgresql://u:hunter2@h:port/db"},
     "DATABASE_URL='postgresql://...': cannot be parsed"),
    (["--out", "{tmp}/x.jsonl", "--database", "mysql://u@h/db"], None, "names an unsupported database"),
    (["--out", "{tmp}", "--database", "sqlite:///{tmp}/v.db"], None, "--out {tmp}: cannot write it (is a folder"),
    (["--out", "/proc/no-such/x.jsonl", "--database", "sqlite:///{tmp}/v.db"], None,
     "--out /proc/no-such/x.jsonl: cannot write it"),
], ids=["unparsable-url", "unparsable-env-url", "unsupported-url", "out-is-a-folder", "out-unwritable"])
def test_the_export_command_line_fails_in_one_line_with_status_2(tmp_path, args, env, expected):
    done = _export_cli(*(a.format(tmp=tmp_path) for a in args), env=env)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and expected.format(tmp=tmp_path) in errors[0]
    assert "hunter2" not in done.stderr and not list(tmp_path.glob("*.part"))


def test_a_store_url_that_does_not_parse_is_refused():
    with pytest.raises(Refused, match="cannot be parsed as a database URL"):
        Store.open("::::")


def test_the_token_guard_stops_guessing_per_client_and_forgets_after_the_window(monkeypatch):
    from storage import access

    clock = [1000.0]
    monkeypatch.setattr(access.time, "monotonic", lambda: clock[0])
    env = {TOKEN_ENV: "x" * 20}
    guard = access.TokenGuard(tries=3, window_s=60)
    for _ in range(3):
        with pytest.raises(access.WrongToken):
            guard.check("guess", env, client="a")
    with pytest.raises(Forbidden, match=r"too many wrong operator tokens.*try again in 60 s"):
        guard.check("x" * 20, env, client="a")  # even the right token: guessing learns nothing
    guard.check("x" * 20, env, client="b")  # another client is not held back
    clock[0] += 30
    with pytest.raises(Forbidden, match="try again in 30 s"):
        guard.check("x" * 20, env, client="a")
    clock[0] += 30
    guard.check("x" * 20, env, client="a")  # the wrong tries left the window
    with pytest.raises(Forbidden, match="this needs the operator token"):
        guard.check("", env, client="c")  # no token typed is not a guess
    guard.check("x" * 20, env, client="c")
