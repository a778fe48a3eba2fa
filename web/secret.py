"""The key that signs sessions: the same one that signs the links in e-mails.

notifications.links owns it: ``[web] secret_key`` (THEODOI_WEB__SECRET_KEY) when set,
else a random key generated once into a key file beside the database (mode 0600, never
in the database itself), so processes on one machine agree and sessions and links
survive a restart.
"""

from __future__ import annotations

from typing import Any

from notifications import links


def web_secret(app: Any) -> str:
    return links.secret_key(app.db, app.config, app.clock.now())
