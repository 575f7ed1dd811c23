"""Start-up in small steps. The loader runs one step per task and yields to the page in between,
so Python's start never holds the main thread for long: each import is one module's own body
(build.py recorded the order, dependencies first), then each validator is built on its own."""

import importlib


def steps(modules: list[str]):
    for name in modules:
        importlib.import_module(name)
        yield name
    from . import models

    yield from models.warm_steps()
