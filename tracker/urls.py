"""PURE: database URLs: the driver SQLAlchemy needs, a password filled in, a password hidden."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def sqlalchemy_url(url: str) -> str:
    """postgresql:// and postgres:// urls get the psycopg 3 driver; others are unchanged."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def with_password(url: str, password: str) -> str:
    """The url with `password` set for its user (a url that already has one, or no user, is unchanged)."""
    parts = urlsplit(url)
    if parts.password is not None or parts.username is None:
        return url
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def mask_url(url: str) -> str:
    """The url with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
