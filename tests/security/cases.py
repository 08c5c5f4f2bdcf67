"""Bad-input and security cases that need no UI: each is a function of a fresh `Store` that tries
one bad input or attack and asserts the outcome (a clear refusal naming the field, nothing stored,
escaped output, no file-system reach). `tests/security/test_cases.py` runs them under pytest and
`bench/bad_inputs.py` runs them and prints how many passed of how many tried.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event

from backends.allowlist import ModelNotAllowed, check_model_id
from playground.arena_render import prompt_html, side_html
from playground.escape import markdown_text
from storage import AlreadyVoted, Refused, Store, StoreFault
from storage.access import Forbidden, annotator_key, issue_annotator, require_operator, verify_annotator
from storage.export import ExportFolder, export, protected_export
from tests.storage.conftest import battle, record

CASES: dict[str, Callable[[Store], None]] = {}
EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"
INVALID_UTF8 = b"caf\xe9 \xff review".decode("utf-8", "surrogateescape")  # what a lax reader makes of it
ALLOWED = frozenset({"zoo:tiny-sft", "zoo:tiny-dpo-sentiment", "zoo:tiny-sentiment-rm"})
PROBES = ("../../../../etc/passwd", "/etc", "/home", "/no/such/folder", "~/.ssh", "..", "./assets/zoo/tiny-sft",
          "C:\\Windows", "zoo:../../etc", "/etc/", "a/b/c", "file:///etc/passwd")


def case(fn: Callable[[Store], None]) -> Callable[[Store], None]:
    CASES[fn.__name__] = fn
    return fn


def refused(field: str, call: Callable[[], object], *words: str) -> Refused:
    """`call()` must be refused naming `field` (and saying `words`)."""
    try:
        call()
    except Refused as error:
        assert error.field == field, f"refused, but named {error.field!r} instead of {field!r}: {error}"
        assert all(w in str(error) for w in words), f"message lacks {words}: {error}"
        return error
    raise AssertionError(f"not refused: {field}")


def nothing_stored(store: Store, before: dict[str, int]) -> None:
    assert store.counts() == before, f"rows changed: {before} -> {store.counts()}"


# ---- text a database cannot hold --------------------------------------------------------------

@case
def nul_in_prompt(store: Store) -> None:
    before = store.counts()
    refused("generation.prompt", lambda: store.save_generation(record(prompt="Review\x00 the film")), "NUL")
    nothing_stored(store, before)


@case
def nul_in_prompt_of_a_request(store: Store) -> None:
    rec = record()
    rec = {**{k: v for k, v in rec.items() if k != "prompt"}, "request": {"prompt": "a\x00b", "decoder": "args"}}
    refused("generation.prompt", lambda: store.save_generation(rec), "NUL", "position 1")


@case
def nul_in_rationale(store: Store) -> None:
    bid = battle(store)
    refused("vote.rationale", lambda: store.cast_vote(bid, "ann", "left", "good\x00"), "NUL")
    assert store.battle(bid).vote is None


@case
def nul_in_annotator_id(store: Store) -> None:
    refused("vote.annotator", lambda: store.cast_vote(battle(store), "ann\x00x", "left"), "NUL")


@case
def nul_generated_by_a_model_is_stored_safely(store: Store) -> None:
    rec = record(text="a\x00b")
    rec["trace"] = [{**rec["trace"][0], "text": "\x00"}, rec["trace"][1]]
    gen = store.generation(store.save_generation(rec))
    assert gen.trace[0]["text"] == "\x00" and gen.text == "a\ufffdb", (gen.trace[0], gen.text)


@case
def lone_surrogate_in_a_trace_token(store: Store) -> None:
    rec = record()
    rec["trace"] = [{**rec["trace"][0], "text": "\udc80"}, rec["trace"][1]]
    refused("generation.trace[0].text", lambda: store.save_generation(rec), "lone surrogate")


@case
def nul_in_prompt_set(store: Store) -> None:
    refused("generation.prompt_set", lambda: store.save_generation(record(prompt_set="s\x00")), "NUL")


@case
def lone_surrogate_in_prompt(store: Store) -> None:
    refused("generation.prompt", lambda: store.save_generation(record(prompt="hi \ud800 there")),
            "lone surrogate U+D800")


@case
def invalid_utf8_in_prompt(store: Store) -> None:
    refused("generation.prompt", lambda: store.save_generation(record(prompt=INVALID_UTF8)), "invalid UTF-8")


@case
def invalid_utf8_in_rationale(store: Store) -> None:
    refused("vote.rationale", lambda: store.cast_vote(battle(store), "ann", "left", INVALID_UTF8), "lone surrogate")


@case
def surrogate_in_a_config_key(store: Store) -> None:
    refused("generation.trace[1].config['\\udcff']", lambda: store.save_generation(record(config={"\udcff": 1})),
            "lone surrogate")


@case
def bytes_as_rationale(store: Store) -> None:
    refused("vote.rationale", lambda: store.cast_vote(battle(store), "ann", "left", b"\xff\xfe"), "got bytes")


@case
def control_characters_in_annotator_id(store: Store) -> None:
    refused("vote.annotator", lambda: store.cast_vote(battle(store), "ann\nadmin", "left"), "printable")


# ---- numbers out of range -------------------------------------------------------------------------

@case
def seed_of_2_to_the_63_in_a_record(store: Store) -> None:
    refused("generation.seed", lambda: store.save_generation(record(seed=2**63)), "64-bit")


@case
def seed_below_minus_2_to_the_63_in_a_record(store: Store) -> None:
    refused("generation.seed", lambda: store.save_generation(record(seed=-(2**63) - 1)), "64-bit")


@case
def battle_id_of_2_to_the_70(store: Store) -> None:
    refused("vote.battle_id", lambda: store.cast_vote(2**70, "ann", "left"), "below 2**63")


@case
def ms_to_vote_beyond_int32(store: Store) -> None:
    refused("vote.ms_to_vote", lambda: store.cast_vote(battle(store), "ann", "left", None, 2**40))


@case
def generate_cli_max_new_tokens_0(_store: Store) -> None:
    _cli_refuses(["--prompt", "hi", "--max-new-tokens", "0"], "--max-new-tokens 0: must be an integer in [1, 1024]")


@case
def generate_cli_seed_2_to_the_63(_store: Store) -> None:
    _cli_refuses(["--prompt", "hi", "--seed", str(2**63)], f"--seed {2**63}: must be an integer in [0, 2**63)")


@case
def compare_seed_is_refused_not_wrapped(_store: Store) -> None:
    from backends.engine import ConfigError, _check_request
    from playground.requests import PanelChoice, SharedChoice, request_for

    request = request_for(SharedChoice(prompt="hi", preset="embedded", seed=2**63 - 1), PanelChoice("sampling",
                                                                                                    seed_offset=1))
    assert request.seed == 2**63, f"the seed was changed to {request.seed}"
    try:
        _check_request(request)
    except ConfigError as error:
        assert "seed" in str(error) and "2**63" in str(error), str(error)
        return
    raise AssertionError("a seed of 2**63 was accepted")


@case
def engine_refuses_unusable_prompts_before_tokenizing(_store: Store) -> None:
    from backends.decoders import GenerationRequest
    from backends.engine import ConfigError, _check_request

    for prompt, words in (("Review\x00 it", "NUL"), ("caf\udce9", "lone surrogate U+DCE9"), (INVALID_UTF8, "UTF-8")):
        try:
            _check_request(GenerationRequest(prompt=prompt))
        except ConfigError as error:
            assert error.field == "prompt" and words in str(error), str(error)
            continue
        raise AssertionError(f"prompt {prompt!r} accepted")


@case
def decoder_settings_with_unusable_text_are_refused(_store: Store) -> None:
    from backends.config import ConfigError, build_config
    from backends.decoders import DECODERS

    for key, value in (("preference", "Be kind\udcff"), ("preference", "Be\x00kind")):
        try:
            build_config(DECODERS.get("prs").Config, {key: value}, prefix="prs.")
        except ConfigError as error:
            assert error.field == f"prs.{key}", str(error)
            continue
        raise AssertionError(f"prs.{key}={value!r} accepted")


def _cli_refuses(argv: list[str], expected: str) -> None:
    from backends.generate import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == 2 and expected in err.getvalue(), f"exit {code}: {err.getvalue()!r}"


# ---- escaping ---------------------------------------------------------------------------------------

@case
def user_text_is_verbatim_and_one_row_per_line_in_exports(store: Store) -> None:
    tricky = f'{EVIL}\n{{"prompt": "injected", "chosen": "x", "rejected": "y"}}\u2028"quoted"\\'
    bid = battle(store, prompt=tricky, texts=(tricky, "plain"))
    store.cast_vote(bid, "ann", "left", tricky)
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("dpo", "kto", "battles"):
            out = Path(folder) / f"{fmt}.jsonl"
            n = export(store, fmt, out)
            lines = out.read_text(encoding="utf-8").split("\n")[:-1]
            assert len(lines) == n, f"{fmt}: {n} rows on {len(lines)} lines"
            rows = [json.loads(line) for line in lines]
            assert rows[0]["prompt"] == tricky, f"{fmt}: the prompt did not come back verbatim"
        assert rows[0]["vote"]["rationale"] == tricky


@case
def user_text_is_escaped_in_html_and_markdown(store: Store) -> None:
    bid = battle(store, prompt=EVIL, texts=(EVIL, '" onmouseover="alert(3)'), blind=False)
    store.cast_vote(bid, "ann", "left", "[click](javascript:alert(4)) " + EVIL)
    view = store.battle(bid)
    page = prompt_html(view.prompt, "") + "".join(  # what the Arena shows once names are revealed
        side_html(i, g.text, label=g.label, full=g.label) for i, g in enumerate((view.left, view.right)))
    assert "<script>" not in page and "<img" not in page and '" onmouseover' not in page
    assert "&lt;script&gt;" in page and "&quot; onmouseover" in page
    line = markdown_text(view.vote.rationale)
    assert "<script>" not in line and "\\[click\\]\\(javascript" in line


# ---- who may do what --------------------------------------------------------------------------------

@case
def another_annotator_cannot_overwrite_a_vote(store: Store) -> None:
    bid = battle(store)
    store.cast_vote(bid, "alice", "left", "mine")
    error = refused("vote.battle_id", lambda: store.cast_vote(bid, "mallory", "right", "hers now"),
                    "already has a vote")
    assert not isinstance(error, AlreadyVoted) and "alice" not in str(error), str(error)
    vote = store.battle(bid).vote
    assert (vote.annotator_id, vote.choice, vote.rationale) == ("alice", "left", "mine")


@case
def a_crash_lost_confirmation_is_told_the_vote_counts(store: Store) -> None:
    bid = battle(store)
    store.cast_vote(bid, "alice", "left")
    error = refused("vote.battle_id", lambda: store.cast_vote(bid, "alice", "left"), "That vote counts")
    assert isinstance(error, AlreadyVoted) and error.vote.choice == "left"


@case
def forged_and_edited_annotator_ids_are_refused(_store: Store) -> None:
    key, other_key = annotator_key({}), b"another server's key, 32 bytes.."
    mine = issue_annotator(key)
    assert verify_annotator(mine, key) == mine
    nonce = mine[len("anon-"):].partition(".")[0]
    for forged in (issue_annotator(other_key), f"anon-{nonce}x.{mine.rsplit('.', 1)[1]}", "alice", "anon-.abc",
                   mine + "0", mine.upper(), f"anon-{nonce}.{'0' * 20}", "anon-\udcff.1", None):
        try:
            verify_annotator(forged, key)
        except Forbidden as error:
            assert "vote.annotator" in str(error)
            continue
        raise AssertionError(f"accepted a forged id {forged!r}")


@case
def public_vote_rows_hide_annotator_ids(store: Store) -> None:
    store.cast_vote(battle(store), "alice@example.org", "left")
    rows = store.vote_rows(public=True)
    assert [r.annotator for r in rows] == ["annotator 1"], rows


@case
def exports_need_the_operator_token(store: Store) -> None:
    import os

    store.cast_vote(battle(store), "alice", "left", "private note")
    with tempfile.TemporaryDirectory() as root:
        folder = ExportFolder(Path(root) / "exports")
        saved = os.environ.pop("PLAYGROUND_OPERATOR_TOKEN", None)
        try:
            for env_token, typed in ((None, "x" * 20), ("t" * 20, None), ("t" * 20, "t" * 19), ("t" * 20, "u" * 20)):
                if env_token:
                    os.environ["PLAYGROUND_OPERATOR_TOKEN"] = env_token
                try:
                    protected_export(store, "battles", typed, folder)
                except Forbidden:
                    continue
                raise AssertionError(f"exported with token {typed!r}")
            assert not folder.root.exists() or not any(folder.root.iterdir())
            require_operator("t" * 20)
        finally:
            os.environ.pop("PLAYGROUND_OPERATOR_TOKEN", None)
            if saved is not None:
                os.environ["PLAYGROUND_OPERATOR_TOKEN"] = saved


@case
def exports_stay_in_one_bounded_folder(store: Store) -> None:
    store.cast_vote(battle(store), "alice", "left")
    with tempfile.TemporaryDirectory() as root:
        folder = ExportFolder(Path(root) / "exports", keep=2)
        for _ in range(6):
            out = folder.new_path("dpo")
            export(store, "dpo", out)
        assert len(list(folder.root.iterdir())) == 2 and list(Path(root).iterdir()) == [folder.root]


# ---- the file system is out of reach --------------------------------------------------------------

@case
def path_like_model_ids_are_refused_alike_in_public_mode(_store: Store) -> None:
    messages = set()
    for probe in PROBES:
        try:
            check_model_id(probe, ALLOWED, field="tqstar.baseline", public=True)
        except ModelNotAllowed as error:
            text = str(error)
            assert "tqstar.baseline" in text and "/etc" not in text and "/home" not in text, text
            messages.add(text.replace(repr(probe), "<id>"))
            continue
        raise AssertionError(f"accepted {probe!r}")
    assert len(messages) <= 2, messages  # one text for paths, one for other ids: existence is never told


@case
def unknown_hub_ids_are_refused_in_public_mode(_store: Store) -> None:
    for probe in ("someone/huge-model", "gpt2", "zoo:tiny-sft-but-not", " ", "", None, "x" * 500):
        try:
            check_model_id(probe, ALLOWED, field="preference.model", public=True)
        except ModelNotAllowed as error:
            assert "preference.model" in str(error)
            continue
        raise AssertionError(f"accepted {probe!r}")
    assert check_model_id(" zoo:tiny-sft ", ALLOWED, public=True) == "zoo:tiny-sft"
    assert check_model_id("/some/folder", ALLOWED, public=False) == "/some/folder"  # an operator's own machine


# ---- the database refuses to store ----------------------------------------------------------------

def _refuse_writes(store: Store) -> None:
    statement = ("PRAGMA query_only = ON" if store.engine.dialect.name == "sqlite"
                 else "SET default_transaction_read_only = on")

    @event.listens_for(store.engine, "connect")
    def _read_only(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if store.engine.dialect.name == "postgresql":
            dbapi_connection.commit()

    store.engine.dispose()


@case
def a_read_only_database_says_the_vote_was_not_stored(store: Store) -> None:
    bid = battle(store)
    _refuse_writes(store)
    try:
        store.cast_vote(bid, "ann", "left")
    except StoreFault as error:
        assert error.reason == "read-only" and "nothing was stored" in str(error), str(error)
        return
    raise AssertionError("a vote was accepted by a read-only database")


@case
def the_start_up_check_catches_a_read_only_database(store: Store) -> None:
    assert "written, read back" in store.self_check()
    _refuse_writes(store)
    try:
        store.self_check()
    except StoreFault as error:
        assert "read-only" in str(error)
        return
    raise AssertionError("self_check passed on a read-only database")
