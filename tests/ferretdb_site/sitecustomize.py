"""On PYTHONPATH only for processes the test suite starts against FerretDB: installs the harness."""

import os

if os.environ.get("JIMENG_TEST_FERRETDB") == "1":
    from tests.ferretdb_compat import install

    install()
