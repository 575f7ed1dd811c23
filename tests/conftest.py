import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_playwright_config():
    """playwright.config.py is the one place for launch settings (its name is not importable)."""
    spec = importlib.util.spec_from_file_location("playwright_config", ROOT / "playwright.config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
