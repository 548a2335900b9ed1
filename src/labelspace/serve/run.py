"""How ``labelspace serve`` runs the app under uvicorn: h11, with a deadline on each request's head.

uvicorn bounds a head's size (``h11_max_incomplete_event_size``, 16 KiB by default) but not its time: its
keep-alive timer is armed only after a response and stops at the first byte of the next request, so a client
sending a header byte a second would hold its connection for ever. ``HeadDeadline`` closes a connection whose
request line and headers have not all arrived ``Limits.head_seconds`` after it opened or its last answer ended.
"""
from __future__ import annotations

import asyncio
from functools import partial

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadline(H11Protocol):
    def __init__(self, *args, head_seconds: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_seconds = head_seconds
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.wait_for_head()

    def on_response_complete(self) -> None:
        self.wait_for_head()  # first: a pipelined head already here is parsed inside, which stops the timer
        super().on_response_complete()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head has arrived (or was refused)
            self.head_timer.cancel()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_timer.cancel()
        super().connection_lost(exc)

    def wait_for_head(self) -> None:
        self.head_timer = self.loop.call_later(self.head_seconds, self.head_late)

    def head_late(self) -> None:
        if self.conn.their_state is h11.IDLE:
            self.transport.close()


def server_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, **kwargs) -> uvicorn.Config:
    """uvicorn's config for ``app`` (``create_app``'s), heads held to its ``limits.head_seconds``."""
    return uvicorn.Config(app, host=host, port=port, **kwargs,
                          http=partial(HeadDeadline, head_seconds=app.state.limits.head_seconds))
