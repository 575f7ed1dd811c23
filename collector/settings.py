"""What a collector process is told: the command line's choices, in one object that the serving
process hands to each of its workers (in the environment: granian starts them as new processes).

The defaults here are the command line's defaults too.
"""

import os
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field

from .turn import Turn

ENVIRONMENT = "COLLECTOR_SETTINGS"


class Settings(BaseModel):
    database_url: str
    dist: Optional[Path] = Field(None, description="the bundle served at /")
    rate: float = Field(50.0, description="requests a second per access token (429 above)")
    burst: float = Field(200.0, description="requests allowed at once per access token")
    body_limit: int = Field(1 << 20, description="bytes a request body may have (413 above); a large call's sample is ~100 KB")
    submission_interval: int = Field(15000, description="ms between a client's stats uploads (told in its access token)")
    token_lifetime: int = Field(7200, description="seconds an access token is valid (clients renew it before it expires)")
    retain_days: float = Field(30, gt=0, description="days stats and events are kept (older ones are dropped)")
    turn_url: Optional[str] = None
    turn_secret: Optional[str] = None
    demo_app: Optional[dict] = None  # `python -m collector demo`: the app its page uses

    def turn(self) -> Optional[Turn]:
        return Turn(self.turn_url, self.turn_secret) if self.turn_url and self.turn_secret else None

    def to_environment(self) -> None:
        os.environ[ENVIRONMENT] = self.model_dump_json()

    @classmethod
    def from_environment(cls) -> "Settings":
        return cls.model_validate_json(os.environ[ENVIRONMENT])


def default(name: str):
    """A setting's default, for the command line."""
    return Settings.model_fields[name].default


def described(name: str) -> str:
    return Settings.model_fields[name].description or ""
