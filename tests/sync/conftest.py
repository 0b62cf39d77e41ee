"""The engine tests' fixtures ``fake`` and ``ledger`` (``tests/support/engine.py``); a module may override them."""

from tests.support.engine import fake, ledger

__all__ = ["fake", "ledger"]
