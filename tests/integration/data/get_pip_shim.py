# Test helper, copied into ~/.ansible/test/cache by test_collection.py.
# Stand-in for ansible-test's get-pip bootstrap: pip install with the pip wheel (from PyPI) beside it.
import glob
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sorted(glob.glob(os.path.join(here, "pip-24.2-*.whl")))[0])
from pip._internal.cli.main import main  # noqa: E402

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", *args]))
