"""Make ``ansible_collections.mptcp.lab`` importable from the working tree."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.collections')
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


@pytest.fixture(scope='session', autouse=True)
def _run_records_follow_the_schema(tmp_path_factory):
    """After the session: every run record a test produced follows docs/run-record.schema.json,
    and every junit.xml beside one is valid JUnit whose counts match it."""
    yield
    import run_record_check  # pylint: disable=import-outside-toplevel
    run_record_check.check_tree(str(tmp_path_factory.getbasetemp()))
