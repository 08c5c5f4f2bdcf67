"""The Gradio page: a header and one tab per feature, composed from tab builders.

`build_ui` creates the shared services (the engine and settings it is given, the per-session
run flags, an optional store, the annotator id box in the header with its `Identity`: signed
anonymous ids, the Hugging Face sign-in button where `Settings.login`, vote rate limits) and calls each builder of
`TABS` inside its own `gr.Tab`: Compare, then the Arena (blind votes) and the Leaderboard. With a
store, the Compare tab also gets a Vote control through its `CompareHooks`; without one the
Arena and the Leaderboard say why they are off. Queue limits are set here so that every way of
launching shares one accelerator safely; the Arena's stored battles and votes bypass that queue.
`open_store` opens the database and writes a test row and reads it back (`Store.self_check`)
before the app says where votes go; `PendingStore` is how app.py does that after the page is served
(the page is built without SQLAlchemy; store calls made before the open wait for it, and a
database that could not be opened is said in the header and by every store call). No
module-level mutable state.

The page's look is `page_style()`: the css and a theme whose fonts declare only weights that ship
with Gradio as whole fonts. Gradio's default theme declares Source Sans Pro at 400 and 600, and
its 600 file is a subset of a few glyphs (5 KB, against 100 KB for 400 and 700): bold text then
drew the glyphs it has in Source Sans and the rest in a fallback font ("**A**rena" with a
different A in Debian's Chromium). Declaring 400 and 700 sends every bold weight to the whole
700 font. Launch with `**page_style()` (or `launch_kwargs`) to get both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from backends.engine import Engine
from playground.arena import build_arena_tab
from playground.compare import CompareHooks, build_compare_tab
from playground.compare_vote import vote_hooks
from playground.escape import markdown_text
from playground.gradio_import import server_app_built_at_launch
from playground.identity import Identity, annotator_box, login_button, wire_identity
from playground.leaderboard import build_leaderboard_tab
from playground.runner import Runs
from playground.settings import Settings
from storage import StoreError, StoreUnavailable

if TYPE_CHECKING:  # the store's class imports SQLAlchemy (0.5 s): app.py serves the page first
    from storage import Store

log = logging.getLogger(__name__)
CSS_PATH = Path(__file__).resolve().parents[1] / "assets" / "playground.css"
HEADER = ("# Decoder playground\nDecoding-time alignment decoders side by side: **Compare** runs them on your "
          "prompt (click a token to see why it won), the **Arena** asks for blind votes, the **Leaderboard** "
          "ranks the configurations.")
# Weights whose files are whole fonts in Gradio's static/fonts (see the module docstring).
FONT_WEIGHTS = (400, 700)
NO_STORE = "No database is configured: start the app with `python app.py` (SQLite under storage/) or set DATABASE_URL."


@dataclass(frozen=True)
class Services:
    """What tab builders may use: injected once, shared by every tab and session."""

    engine: Engine
    settings: Settings
    runs: Runs = field(default_factory=Runs)
    store: Store | None = None  # generations and votes (the Arena, the Leaderboard, Compare's Vote control)
    compare_hooks: CompareHooks = field(default_factory=CompareHooks)
    annotator: gr.Textbox | None = None  # the header's annotator id (only with a store)
    identity: Identity | None = None  # issues and checks annotator ids, rate-limits votes (only with a store)
    page: gr.Blocks | None = None  # for page-load events
    store_note: str = NO_STORE  # why there is no store, shown by the tabs that need one
    routes: list = field(default_factory=list)  # HTTP routes beside Gradio's (the Arena's JSON API)


@dataclass(frozen=True)
class TabSpec:
    label: str
    build: Callable[[Services], Any]
    id: str


def compare_tab(services: Services) -> Any:
    return build_compare_tab(services.engine, services.settings, services.runs, services.compare_hooks)


def arena_tab(services: Services) -> Any:
    return build_arena_tab(services)


def leaderboard_tab(services: Services) -> Any:
    return build_leaderboard_tab(services)


# The page's tabs, in order.
TABS: tuple[TabSpec, ...] = (TabSpec("Compare", compare_tab, "compare"), TabSpec("Arena", arena_tab, "arena"),
                             TabSpec("Leaderboard", leaderboard_tab, "leaderboard"))


def build_ui(engine: Engine, settings: Settings, *, store: Store | PendingStore | None = None,
             tabs: Sequence[TabSpec] = TABS, compare_hooks: CompareHooks | None = None,
             store_note: str = NO_STORE) -> gr.Blocks:
    identity = Identity.from_settings(settings) if store is not None else None
    # Gradio copies every file a handler returns (the exports) into its cache: remove those after an hour.
    # Gradio's interim server apps are not built: `launch` builds the one it serves (playground.gradio_import).
    with server_app_built_at_launch(), gr.Blocks(title="Decoder playground", delete_cache=(600, 3600)) as demo:
        demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
        with gr.Row(equal_height=True, elem_id="header-row"):
            gr.Markdown(HEADER, elem_id="header", scale=3, min_width=240)
            annotator = annotator_box() if store is not None else None
            if store is not None and settings.login:
                login_button()
        if isinstance(store, PendingStore):  # opened after the page is served: say so if it failed
            store_off = gr.Markdown(visible=False, elem_id="store-off")
            demo.load(lambda: _store_banner(store), None, store_off, queue=False, show_progress="hidden")
        if annotator is not None:
            wire_identity(demo, annotator, identity)
        if compare_hooks is None and store is not None:
            compare_hooks = vote_hooks(store, annotator, engine.presets, identity, settings)
        services = Services(engine, settings, store=store, compare_hooks=compare_hooks or CompareHooks(),
                            annotator=annotator, identity=identity, page=demo, store_note=store_note)
        with gr.Tabs(elem_id="tabs"):
            for spec in tabs:
                with gr.Tab(spec.label, id=spec.id, elem_id=f"tab-{spec.id}"):
                    spec.build(services)
    demo.playground_routes = tuple(services.routes)  # launch_kwargs(settings, demo) serves them
    return demo


def _store_banner(store: PendingStore) -> dict:
    try:
        note = store.note
    except StoreUnavailable as e:
        note = str(e)
    return gr.update(value=markdown_text(note), visible=bool(note))  # open_store's "... so voting is off: why"


def open_store(url: str | None, settings: Settings | None = None, *, markdown: bool = True
               ) -> tuple[Store | None, str]:
    """The store at `url` (None: DATABASE_URL, else storage/playground.db), migrated and checked; (None, why) if not.

    Before saying where votes go, a test row is written, read back and deleted (`Store.self_check`):
    a database that cannot take a vote (read-only, full, unreachable) turns voting off with the
    reason (the tabs that need it say why) instead of failing on the first vote. The Compare tab
    works without one. With a public `settings` the reason shows no server path. `why` is for a
    Markdown block (the tabs' notices); `markdown=False`: plain text (errors, HTML status lines).
    """
    from storage import Store  # SQLAlchemy and the migrations: only now

    public = settings.shown if settings is not None else str
    shown = (lambda text: markdown_text(public(text))) if markdown else public
    try:
        store = Store.open(url)
    except Exception as e:  # a bad URL, an unreachable server, a failed migration: all reported the same way
        log.error("no database, voting is off: %s", e)
        return None, f"The database could not be opened, so no vote can be stored: {shown(str(e))}"
    try:
        where = store.self_check()
    except StoreError as e:
        log.error("the database cannot store votes, voting is off: %s", e)
        store.close()
        return None, f"The database cannot store votes, so voting is off: {shown(str(e))}"
    log.info("%s", where)
    return store, ""


def load_css() -> str:
    return CSS_PATH.read_text() if CSS_PATH.is_file() else ""


def theme() -> gr.themes.Base:
    """Gradio's default theme with font weights that exist as whole fonts (one font for bold text)."""
    sans = gr.themes.LocalFont("Source Sans Pro", weights=FONT_WEIGHTS)
    mono = gr.themes.LocalFont("IBM Plex Mono", weights=FONT_WEIGHTS)
    return gr.themes.Default(font=[sans, "ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=[mono, "ui-monospace", "Consolas", "monospace"])


def page_style() -> dict[str, Any]:
    """The page's css and theme, as `demo.launch` takes them (Gradio 6 takes both at launch)."""
    return {"css": load_css(), "theme": theme()}


def launch_kwargs(settings: Settings, demo: gr.Blocks | None = None) -> dict[str, Any]:
    """Arguments for `demo.launch`: where to listen, `page_style()`, and the routes `build_ui` made
    besides Gradio's (the Arena's JSON API), which the server registers before its own."""
    routes = list(getattr(demo, "playground_routes", ()))
    return {"server_name": settings.server_name, "server_port": settings.server_port, **page_style(),
            **({"app_kwargs": {"routes": routes}} if routes else {})}


class PendingStore:
    """The database, opened after the page is served: app.py builds the page with one, then calls `open`.

    Opening imports SQLAlchemy, migrates and writes a test row (`open_store`): about a second
    here, longer for a remote server, and the page does not wait for it. Until it is open, every
    store call waits for it (up to `wait_s`); then calls go to the opened `Store`. Where it could
    not be opened or cannot store votes, every call raises `StoreUnavailable` with `open_store`'s
    reason, which the tabs show where they report a store error, and `note` (shown by the
    page's header once loaded) says it. Built this way, the page always has the Arena, the
    Leaderboard and Compare's Vote control; only `build_ui(store=None)` leaves them out up front.
    """

    def __init__(self, url: str | None, settings: Settings | None = None, wait_s: float = 120.0):
        self._url, self._settings, self._wait_s = url, settings, wait_s
        self._opened = threading.Event()
        self._store: Store | None = None
        self._note = ""

    def open(self) -> None:
        """Open the database (once); failures are kept as the reason, never raised."""
        if not self._opened.is_set():
            self._store, self._note = open_store(self._url, self._settings, markdown=False)
            self._opened.set()

    @property
    def note(self) -> str:
        """Why votes cannot be stored, as plain text ('' when they can), once the open has finished."""
        self._wait()
        return self._note

    def _wait(self) -> None:
        if not self._opened.wait(self._wait_s):
            raise StoreUnavailable(f"the database is still being opened after {self._wait_s:g} s; try again")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not the store's: copy, pickle and the like look these up
            raise AttributeError(name)
        self._wait()
        if self._store is None:
            raise StoreUnavailable(self._note)
        return getattr(self._store, name)
