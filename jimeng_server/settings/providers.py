"""The providers' settings: which upstreams and kinds run here, their keys and accounts, prices, default
models and the local provider."""

from .core import env

# --- Providers ----------------------------------------------------------------------------------
# auto: use Volcengine when its credentials are set, the local provider otherwise.
# local: always draw locally. live: refuse to run a model whose provider has no credentials.
PROVIDER_MODE = env.str("PROVIDER_MODE", default="auto")
# The upstreams this server runs: each a module with one Provider subclass named PROVIDER that declares
# its models (providers/base.py). The local provider is always there, the fallback of every model.
PROVIDER_MODULES = env.list("PROVIDER_MODULES", default=["providers.ark", "providers.jimeng", "providers.seedance"])
# The kinds of task this server runs: each a module with one TaskKind subclass named KIND (imagetasks/kinds).
KIND_MODULES = env.list("KIND_MODULES", default=["imagetasks.kinds.image", "imagetasks.kinds.video"])
VOLCENGINE_ACCESS_KEY = env.str("VOLCENGINE_ACCESS_KEY", default="")
VOLCENGINE_SECRET_KEY = env.str("VOLCENGINE_SECRET_KEY", default="")
VOLCENGINE_HOST = env.str("VOLCENGINE_HOST", default="visual.volcengineapi.com")
VOLCENGINE_SCHEME = env.str("VOLCENGINE_SCHEME", default="https")
VOLCENGINE_CONNECT_TIMEOUT_SECONDS = env.float("VOLCENGINE_CONNECT_TIMEOUT_SECONDS", default=5.0)
VOLCENGINE_READ_TIMEOUT_SECONDS = env.float("VOLCENGINE_READ_TIMEOUT_SECONDS", default=30.0)
ARK_API_KEY = env.str("ARK_API_KEY", default="")
# Several upstream accounts (a pool): JSON lists of {"name", credentials, "concurrency", "weight"}; each
# replaces its single-key setting above. See the README's "Upstream accounts".
VOLCENGINE_ACCOUNTS = env.json("VOLCENGINE_ACCOUNTS", default=[])
ARK_ACCOUNTS = env.json("ARK_ACCOUNTS", default=[])
ACCOUNT_REST_SECONDS = env.float("ACCOUNT_REST_SECONDS", default=10.0)  # a throttled account rests this long
# Credits (users/credits.py): the price of one image per model, JSON {model_id: credits}; 1 when not listed.
MODEL_PRICES = env.json("MODEL_PRICES", default={})
# A credit reservation no task holds (its request died, or lost a race, before saying so) is given back by
# the reconciler once it is this old: longer than any request lives.
CREDITS_ORPHAN_SECONDS = env.int("CREDITS_ORPHAN_SECONDS", default=600)
ARK_BASE_URL = env.str("ARK_BASE_URL", default="https://ark.cn-beijing.volces.com/api/v3")
ARK_CONNECT_TIMEOUT_SECONDS = env.float("ARK_CONNECT_TIMEOUT_SECONDS", default=5.0)
ARK_READ_TIMEOUT_SECONDS = env.float("ARK_READ_TIMEOUT_SECONDS", default=180.0)
ARK_WATERMARK = env.bool("ARK_WATERMARK", default=False)
DEFAULT_MODEL = env.str("DEFAULT_MODEL", default="doubao-seedream-3-0-t2i-250415")
# The video model of a request that names none: jimeng_v30 picks text-to-video, first frame or first and
# last frame by the number of reference images.
DEFAULT_VIDEO_MODEL = env.str("DEFAULT_VIDEO_MODEL", default="jimeng_v30")
LOCAL_PROVIDER_LATENCY_SECONDS = env.float("LOCAL_PROVIDER_LATENCY_SECONDS", default=1.0)
LOCAL_PROVIDER_FAILURE_RATE = env.float("LOCAL_PROVIDER_FAILURE_RATE", default=0.0)
LOCAL_PROVIDER_FONT = env.str("LOCAL_PROVIDER_FONT", default="")  # a TrueType font with CJK glyphs

# Shortcuts past Django, DRF and the ORM (imagetasks/fastpath.py, jimeng_server/fastpath.py), each measured
# by `make bench`; off: the plain framework path, which gives the same answers.
FASTPATH = env.bool("FASTPATH", default=True)
