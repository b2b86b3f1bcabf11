# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""mptcp.lab.packet_capture: its tcpdumps end with the run (see the debug_monitor action)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mptcp.lab.plugins.action.debug_monitor import ActionModule as GuardedAction


class ActionModule(GuardedAction):

    MODULE = 'mptcp.lab.packet_capture'
