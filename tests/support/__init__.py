"""What tests in more than one package share: clients, servers, the API's calls, the
delivery worker's parts. Fixtures stay in the conftest files; factories in tests/factories.py."""

from __future__ import annotations

from pathlib import Path

# The project's folder: its migrations, wsgi.py and Makefile.
ROOT = Path(__file__).resolve().parent.parent.parent
