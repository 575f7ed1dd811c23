"""callstats.js, in Python: the API surface, fabrics, stats and transport.

Runs in Pyodide on the page's main thread; every module except ``browser`` is plain Python
and is unit-tested in CPython against a fake browser port.
"""

__version__ = "0.1.0"
