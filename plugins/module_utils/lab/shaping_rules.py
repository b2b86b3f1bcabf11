# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lab's shaping rule, one place: its qdisc handles, and a rate's bytes, burst and queue.

mptcp.lab.path_shaping (the shaper's paths) and lab.l2_paths (the bridges of
an upstream-format test) shape by the same rule, so that a path of a given
rate behaves the same in both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

FRAME = 1514             # a full-size Ethernet frame as qdiscs count it (no FCS)
DEFAULT_QUEUE_MS = 100.0
ROOT = 0x1AB0000         # 1ab: ("lab"), the lab's own root handle (below the kernel's automatic 8000:-fffe:)
CLASS = 0x1AB0001        # 1ab:1
LEAF = 0x100000          # 10:


def rate_bytes(rate_mbit):
    return int(round(rate_mbit * 1e6 / 8))


def default_burst(rate_mbit):
    """Two full-size frames, or one millisecond at the rate when that is more."""
    return max(2 * FRAME, int(math.ceil(rate_bytes(rate_mbit) / 1000.0)))


def queue_bytes(rate_mbit, queue_ms=DEFAULT_QUEUE_MS):
    """The bytes ``queue_ms`` milliseconds at the rate hold."""
    return int(rate_bytes(rate_mbit) * queue_ms / 1000.0)
