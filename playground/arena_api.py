"""The Arena's JSON API: annotate stored battles from a script or an annotation tool, one request a vote.

What it is: three POST routes the app's own server serves next to Gradio's (`ui.launch_kwargs`
hands them to `demo.launch`), outside Gradio's queue and its per-call protocol, so a vote costs
one plain HTTP round trip and never waits behind generation. It serves only stored battles
(`Arena.serve`: imported from an evaluation by `python -m storage.import_eval`, or left unvoted);
generating a battle on demand stays in the page. Every vote passes the checks of the page's vote
buttons: the annotator id must be one this server signed (`Identity.voter`; a Hugging Face
session cookie votes as `hf:USER`), the same rate limits, the store's one-vote-per-battle rule.
A battle is handed out with a ticket, and only the annotator it was served to can vote with it.
What it is not: no generation, no exports, no reads of other annotators' votes.

    POST /arena_api/annotator {"annotator": "<a kept id, or empty>"}  -> {"annotator": "<signed id>"}
    POST /arena_api/battle    {"annotator": ID, "prompt_set": "reviews"} -> {"battle": {...}}
    POST /arena_api/vote      {"annotator": ID, "ticket": T, "choice": "left", "rationale": "...",
                               "next": true} -> {"stored": true, "message": ..., "labels": [...], "battle": {...}|null}

A battle is {"ticket", "prompt", "prompt_set", "left", "right"}. Errors are JSON {"error": ...}
naming the field and its value: 400 bad input, 403 an id or ticket that is not the caller's,
404 no stored battle or an unknown ticket, 409 a battle that takes no more votes (voted already),
429 over a rate limit, 503 the store cannot take it now. A vote is stored exactly when the reply says "stored": true.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from playground.battles import CLAIM_S, Arena, ArenaBattle
from playground.identity import Identity, TooFast
from playground.pool import PoolError
from storage import StoreError
from storage.access import Forbidden
from storage.records import CHOICES

PREFIX = "/arena_api"
JsonBody = Annotated[Any, Body()]  # any JSON; the handlers check its shape and name what is wrong
MAX_TICKETS = 20_000  # battles handed out and not voted on yet; the oldest are dropped (and released) beyond


class ApiError(Exception):
    """A refusal with its HTTP status; the message names the field and the value."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Ticket:
    battle: ArenaBattle
    annotator: str
    at: float


@dataclass
class ArenaApi:
    """The routes' handlers over one `Arena` and the page's `Identity` (one per app)."""

    arena: Arena
    identity: Identity
    shown: Any = str  # Settings.shown: what a visitor may see of an error message
    tickets: OrderedDict[str, Ticket] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def routes(self) -> list[APIRoute]:
        return [APIRoute(f"{PREFIX}/{name}", self._endpoint(getattr(self, name)), methods=["POST"],
                         include_in_schema=False) for name in ("annotator", "battle", "vote")]

    def _endpoint(self, handler):
        def endpoint(request: Request, body: JsonBody = None) -> JSONResponse:  # sync: run in the server's threads
            try:
                if not isinstance(body, dict):
                    raise ApiError(400, f"request body: expected a JSON object, got {type(body).__name__}")
                return JSONResponse(handler(body, request))
            except ApiError as e:
                return JSONResponse({"error": self.shown(str(e))}, status_code=e.status)
        endpoint.__name__ = f"arena_api_{handler.__name__}"
        return endpoint

    def annotator(self, body: dict, request: Request) -> dict:
        """The id to vote as: the signed-in user's, the kept one if this server signed it, else a new one."""
        return {"annotator": self.identity.issue(_text(body, "annotator", required=False), _profile(request))}

    def battle(self, body: dict, request: Request) -> dict:
        who = self._who(body, request)
        return {"battle": self._serve(_text(body, "prompt_set"), who)}

    def vote(self, body: dict, request: Request) -> dict:
        ticket_id, choice = _text(body, "ticket"), _text(body, "choice")
        if choice not in CHOICES:
            raise ApiError(400, f"choice: {choice!r} is not one of {', '.join(CHOICES)}")
        rationale = _text(body, "rationale", required=False)
        wants_next = body.get("next", False)
        if not isinstance(wants_next, bool):
            raise ApiError(400, f"next: expected true or false, got {wants_next!r}")
        who = self._who(body, request, doing="Your vote was NOT stored: ")
        ticket = self._ticket(ticket_id, who)
        try:
            self.identity.count_vote(who, request)  # counted against the limits once the ticket is good
        except TooFast as e:
            raise ApiError(429, str(e)) from e
        battle, reply = self.arena.vote(ticket.battle, choice, who, rationale)
        if battle is not None and battle.voted:
            self._drop(ticket_id)
        if not reply.ok:
            status = (409 if reply.locked else 400) if reply.refused else 503
            raise ApiError(status, reply.message)
        nxt = self._serve(ticket.battle.prompt_set, who, missing_ok=True) if wants_next else None
        return {"stored": True, "message": reply.message, "labels": list(battle.labels), "battle": nxt}

    def _who(self, body: dict, request: Request, doing: str = "") -> str:
        """The signed-in user or the signed id the body names (403 otherwise); no rate limit counted."""
        value = _text(body, "annotator", required=False)
        try:
            return self.identity.who(value, _profile(request))
        except Forbidden as e:
            raise ApiError(403, f"{doing}annotator {value!r}: {e} (an id comes from {PREFIX}/annotator)") from e

    def _serve(self, prompt_set: str, who: str, missing_ok: bool = False) -> dict | None:
        try:
            battle = self.arena.serve(prompt_set)
        except (PoolError, StoreError) as e:
            raise ApiError(503, f"Cannot serve a battle: {e}") from e
        if battle is None:
            if missing_ok:
                return None
            raise ApiError(404, f"prompt_set: {prompt_set!r} has no stored battle waiting for a vote (import one with "
                                "`python -m storage.import_eval`, or vote in the page, which generates them)")
        ticket_id = secrets.token_urlsafe(18)
        with self.lock:
            self.tickets[ticket_id] = Ticket(battle, who, time.monotonic())
            dropped = [self.tickets.popitem(last=False)[1] for _ in range(len(self.tickets) - MAX_TICKETS)]
        for old in dropped:
            self.arena.release(old.battle.battle_id)
        left, right = battle.texts
        return {"ticket": ticket_id, "prompt": battle.prompt, "prompt_set": battle.prompt_set, "left": left,
                "right": right}

    def _ticket(self, ticket_id: str, who: str) -> Ticket:
        with self.lock:
            ticket = self.tickets.get(ticket_id)
        if ticket is None or time.monotonic() - ticket.at > CLAIM_S:
            raise ApiError(404, f"ticket: {ticket_id!r} is unknown or expired; ask {PREFIX}/battle for a battle")
        if ticket.annotator != who:
            raise ApiError(403, f"ticket: {ticket_id!r} was handed to another annotator; ask {PREFIX}/battle "
                                "for your own")
        return ticket

    def _drop(self, ticket_id: str) -> None:
        with self.lock:
            self.tickets.pop(ticket_id, None)


def _text(body: dict, name: str, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{name}: required, and missing")
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: expected a string, got {value!r}")
    return value


def _profile(request: Request) -> dict | None:
    """The Hugging Face user of this browser session (Gradio's OAuth session cookie), or None."""
    session = request.scope.get("session")  # set only where Gradio added its session middleware (the sign-in)
    info = session.get("oauth_info") if isinstance(session, dict) else None
    if not isinstance(info, dict) or (info.get("expires_at") or float("inf")) < time.time():
        return None
    return info.get("userinfo") if isinstance(info.get("userinfo"), dict) else None
