"""callstats.js, in Python: the API surface, fabrics, stats and transport.

Runs in Pyodide in a dedicated worker (or on the page's main thread where the page's CSP forbids
the worker); every module except ``browser`` is plain Python and is unit-tested in CPython
against a fake browser port. What it shares with the collector is in ``callwire``.
"""

__version__ = "0.1.0"
