"""The json_query filter (JMESPath)."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter.json_query import FilterModule, json_query

SUMMARY = {'tests': [
    {'name': 'tcp', 'protocol': 'tcp', 'paths': 1, 'throughput_mbps': {'median': 47.8, 'cv': 0.001}},
    {'name': 'mptcp', 'protocol': 'mptcp', 'paths': 2, 'throughput_mbps': {'median': 94.0, 'cv': 0.002}},
]}


def test_rows_and_filters():
    assert json_query(SUMMARY, 'tests[].[name, throughput_mbps.median]') == [['tcp', 47.8], ['mptcp', 94.0]]
    assert json_query(SUMMARY, "tests[?protocol=='mptcp'].paths | [0]") == 2
    assert json_query(SUMMARY, 'nothing') is None
    assert FilterModule().filters()['json_query'] is json_query


def test_bad_expression_names_it():
    with pytest.raises(AnsibleFilterError, match="bad expression 'tests\\[\\]\\['"):
        json_query(SUMMARY, 'tests[][')
