# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: json_query
short_description: Select data with a JMESPath expression
version_added: 0.1.0
description:
  - Applies a JMESPath expression (U(https://jmespath.org)) to structured data, like
    community.general.json_query, without needing that collection.
options:
  _input:
    description: The data to query.
    type: raw
    required: true
  _expr:
    description: The JMESPath expression.
    type: str
    required: true
requirements:
  - jmespath
author:
  - mptcp.lab developers (@multipath-tcp)
'''

EXAMPLES = r'''
- name: Median throughput of each test of a run record
  ansible.builtin.debug:
    msg: "{{ summary | mptcp.lab.json_query('tests[].[name, throughput_mbps.median]') }}"
'''

RETURN = r'''
_value:
  description: What the expression selects.
  type: raw
'''

import json

from ansible.errors import AnsibleFilterError

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False


def _plain(data):
    """Plain JSON types (templated values may be str/dict subclasses)."""
    return json.loads(json.dumps(data, default=str))


def json_query(data, expr):
    if not HAS_JMESPATH:
        raise AnsibleFilterError('json_query needs the jmespath Python library on the controller')
    try:
        return jmespath.search(expr, _plain(data))
    except jmespath.exceptions.JMESPathError as e:
        raise AnsibleFilterError('json_query: bad expression %r: %s' % (expr, e))


class FilterModule(object):
    """JMESPath queries."""

    def filters(self):
        return {'json_query': json_query}
