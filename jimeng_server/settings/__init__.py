"""The settings, grouped by the part of the server that reads them: every value comes from the environment
(which wins over `.env`), with embedded defaults that run on a fresh machine — SQLite, a broker on the
local filesystem, and the local provider. env.example documents each variable."""

from .core import *  # noqa: F403
from .providers import *  # noqa: F403
from .queue import *  # noqa: F403
from .tasks import *  # noqa: F403
