#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: debug_bundle
short_description: Pack what debug_collect gathered on every host into one archive
version_added: 0.2.0
description:
  - Runs on the controller. Writes C(<results_dir>/debug/<id>.tar.gz) holding, under C(<id>/),
    one text file per item and host (C(<host>/<item>.txt); in the reproduce mode
    C(<host>/before/) and C(<host>/after/) and C(<host>/ip_mptcp_monitor.txt)), each host's
    MPTCP facts and NetworkManager state as JSON, C(manifest.json) (every item of every host
    with its command or file, rc, error and place in the archive) and C(summary.txt), one
    page to paste into an issue. The summary is also written beside the archive as
    C(<id>.txt).
  - The archive is written atomically; an existing one is never overwritten.
options:
  results_dir:
    description: The results directory (perf_results_dir); the archive goes to its C(debug/).
    type: path
    required: true
  id:
    description: The bundle's id (its file name); letters, digits, ".", "_", ":", "@", "-".
    type: str
    required: true
  mode:
    description: V(collect) (one collection per host) or V(reproduce) (before, monitor, after).
    type: str
    choices: [collect, reproduce]
    default: collect
  hosts:
    description:
      - Per inventory host - C(collect) (the results of M(mptcp.lab.debug_collect), one per phase),
        C(facts) (C(ansible_facts.mptcp)), C(networkmanager) (the result of
        M(mptcp.lab.networkmanager_mptcp) with V(detect)), C(monitor) (the result of
        M(mptcp.lab.debug_monitor) V(stopped)) and C(error) (why a host gave nothing).
    type: dict
    required: true
  command:
    description: The reproduce mode's command and outcome (C(argv), C(rc), C(stdout), C(stderr)).
    type: dict
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: mptcp.lab.debug_collect
'''

EXAMPLES = r'''
- name: Pack the bundle
  mptcp.lab.debug_bundle:
    results_dir: results
    id: "20261206T214500Z"
    hosts:
      mlab-gen1:
        collect: ["{{ hostvars['mlab-gen1'].debug_collected }}"]
'''

RETURN = r'''
path:
  description: The archive.
  returned: always
  type: str
summary_path:
  description: The one-page summary beside it.
  returned: always
  type: str
summary:
  description: The one-page summary.
  returned: always
  type: str
items:
  description: How many items the archive holds, over all hosts.
  returned: always
  type: int
bytes:
  description: The archive's size (0 in check mode).
  returned: always
  type: int
'''

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import debug_bundle as db


def run(params, check_mode):
    """Build and write the bundle; returns the result (raises db.BundleError on bad input)."""
    bundle_id = db.safe_name(params['id'], 'id')
    reproduce = params['mode'] == 'reproduce'
    hosts = params['hosts'] or {}
    if not hosts:
        raise db.BundleError('hosts: must name at least one host')
    for host, data in hosts.items():
        if data is not None and not isinstance(data, dict):
            raise db.BundleError('hosts.%s: must be a mapping, got %s' % (host, type(data).__name__))
    created = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    files, manifest = db.layout(bundle_id, hosts, reproduce)
    manifest['created'] = created
    command = params.get('command')
    if reproduce and command:
        manifest['command'] = dict((k, command.get(k)) for k in ('argv', 'rc'))
        files.append(('%s/command.txt' % bundle_id, '$ %s\nrc: %s\n--- stdout\n%s\n--- stderr\n%s\n' % (
            ' '.join(command.get('argv') or ['(waited for Enter)']), command.get('rc'),
            command.get('stdout') or '', command.get('stderr') or '')))
    text = db.summary(bundle_id, hosts, manifest, created, command if reproduce else None)
    files.append(('%s/summary.txt' % bundle_id, text))
    files.append(('%s/manifest.json' % bundle_id, json.dumps(manifest, indent=2, sort_keys=True) + '\n'))
    directory = os.path.join(params['results_dir'], 'debug')
    dest = os.path.join(directory, '%s.tar.gz' % bundle_id)
    summary_path = os.path.join(directory, '%s.txt' % bundle_id)
    if os.path.exists(dest):
        raise db.BundleError('id: %s exists already' % dest)
    size = 0
    if not check_mode:
        if not os.path.isdir(directory):
            os.makedirs(directory)
        size = db.write_archive(dest, files)
        with open(summary_path + '.tmp', 'w') as f:
            f.write(text)
        os.rename(summary_path + '.tmp', summary_path)
    items = sum(len(h['items']) for h in manifest['hosts'].values())
    return {'changed': True, 'path': dest, 'summary_path': summary_path, 'summary': text, 'items': items,
            'bytes': size}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results_dir=dict(type='path', required=True),
            id=dict(type='str', required=True),
            mode=dict(type='str', default='collect', choices=['collect', 'reproduce']),
            hosts=dict(type='dict', required=True),
            command=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except db.BundleError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
