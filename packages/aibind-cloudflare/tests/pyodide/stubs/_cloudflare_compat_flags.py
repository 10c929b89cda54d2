"""Stand-in for the runtime's compatibility-flag module the ``workers`` SDK reads (outside the
Python Workers runtime ``import workers`` needs it): every flag is off."""

from __future__ import annotations


def __getattr__(name: str) -> bool:
    return False
