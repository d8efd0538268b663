"""Request and response models of the API (they make the OpenAPI document), one module per feature."""

from perftiers.api.models.commerce import *  # noqa: F401,F403
from perftiers.api.models.common import *  # noqa: F401,F403
from perftiers.api.models.history import *  # noqa: F401,F403
from perftiers.api.models.metrics import *  # noqa: F401,F403
from perftiers.api.models.system import *  # noqa: F401,F403
from perftiers.api.models.thresholds import *  # noqa: F401,F403
