#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_suite
short_description: Load and validate a perf suite, and plan its measurements
version_added: 0.1.0
description:
  - Reads a perf suite definition (YAML), a shipped suite by name or a file by path,
    validates it against the lab (how many paths it has) and returns it normalized,
    with the interleaved measurement plan (repetitions in rounds, A B A B ...).
  - Every error names the test and the field, for example
    C(tests[2] 'mptcp-up' - paths must be 1..2 (the lab has 2 paths\), got 3) (with a colon
    after the test).
  - The format is documented in the C(mptcp.lab.perf_suite) role's README.
  - Runs where the suite files are (the controller). Changes nothing.
options:
  suite:
    description:
      - A shipped suite name (a file C(<name>.yml) in O(suites_dir)) or the path of a suite
        file. A relative path is taken from the current directory, then from O(base_dir).
    type: str
    required: true
  suites_dir:
    description: Directory of the shipped suites.
    type: path
    required: true
  base_dir:
    description: Second place to look for a relative suite path (the project root).
    type: path
  path_count:
    description: How many paths the lab has (length of the generator's C(lab_path_links)).
    type: int
    required: true
  links:
    description:
      - The generator's C(lab_path_links). When given, each plan item also carries what its
        measurement needs - C(links) (the links of the paths it uses), C(bind) (the generator's
        address on its first path) and C(server) (the sink's address there) - so the
        measurement task only looks them up.
    type: list
    elements: dict
    default: []
  pairs:
    description:
      - The lab's generator/sink pairs, the measuring one (C(perf_generator)) first, each with the
        generator's C(lab_path_links). A test may run on several of them at once (suite key
        C(pairs) - V(all) or a count up to how many are listed here; one when this is empty). Each
        plan item of such a test carries C(flows) - per pair its generator, sink, protocol, links,
        bind and server.
    type: list
    elements: dict
    default: []
    suboptions:
      generator:
        description: The generator's inventory name.
        type: str
        required: true
      sink:
        description: Its sink's inventory name (the generator's C(lab_peer)).
        type: str
        required: true
      links:
        description: The generator's C(lab_path_links).
        type: list
        elements: dict
        required: true
  lab_paths:
    description:
      - The lab's paths (C(lab_paths)), for the ideal goodput of each test and to tell which tests run
        under the lab's own shaping (a test's C(shaping) equal to it is the lab's scenario).
    type: list
    elements: dict
    default: []
  lab_bottleneck:
    description:
      - The lab's shared bottleneck (C(lab_bottleneck)), C({rate_mbit}) or null for none, for the ideal goodput
        and the scenarios, as O(lab_paths) (a test's C(bottleneck) overrides it).
    type: raw
  shapers:
    description:
      - How many shapers the lab has (the C(shapers) group). With none, a test whose C(shaping) differs
        from the lab's is refused (nothing could apply it). Null when unknown (not checked).
    type: int
  duration_s:
    description:
      - Override of every test's duration in seconds (C(perf_duration_s)); an integer >= 1.
        Empty or null means no override.
    type: raw
  repetitions:
    description:
      - Override of every test's repetitions (C(perf_repetitions)); an integer >= 1.
        Empty or null means no override.
    type: raw
  results_dir:
    description:
      - The results directory as the user gave it (C(perf_results_dir)). With O(results_path),
        checked before anything runs - not empty, not C(.), not the project or collection root
        or above it, not inside the collection's own directories, no C(#), C(?), C(%), a directory
        (or a path that can become one) that can be written.
    type: raw
  results_path:
    description: Where O(results_dir) resolves (absolute). Required with O(results_dir).
    type: path
  collection_dir:
    description: The collection's root (results are never written into it, except in a directory of their own).
    type: path
  run_id:
    description:
      - The id of the run; with O(results_path), a run whose directory exists already is refused
        (a run record is written once).
    type: str
  format:
    description:
      - The suite's format. V(auto) recognises it; V(mptcp.lab) is this collection's (the role's README);
        V(upstream) is that of the MPTCP community's harness, multipath-tcp/mptcp-upstream-virtme-docker
        (its C(perf.yml)), whose tests come back in RV(upstream) (docs/upstream-suites.md).
    type: str
    choices: [auto, mptcp.lab, upstream]
    default: auto
  lab_kind:
    description: The kind of lab (C(lab_kind)); an upstream-format suite runs on the V(virtual) (netns) lab.
    type: str
    default: virtual
  regression_defaults:
    description:
      - The run's verdict knobs that stand in for an upstream-format test's C(regression.global) settings
        it leaves out, C({alpha, history_max_n}) (C(perf_alpha), C(perf_baseline_runs)).
    type: dict
    default: {}
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyYAML
'''

EXAMPLES = r'''
- name: Plan the shipped smoke suite
  mptcp.lab.perf_suite:
    suite: smoke
    suites_dir: "{{ role_path }}/files/suites"
    path_count: "{{ hostvars['mlab-gen1'].lab_path_links | length }}"
    lab_paths: "{{ lab_paths }}"
  register: plan
'''

RETURN = r'''
suite:
  description: The normalized suite, every test field filled in (path_ids lists the path numbers used).
  returned: success
  type: dict
  sample:
    name: smoke
    description: quick check
    tests:
      - {name: tcp-up, protocol: tcp, paths: 1, path_ids: [1], direction: upload, streams: 1,
         duration_s: 3, omit_s: 1, repetitions: 1}
suite_file:
  description: Absolute path of the suite file read.
  returned: success
  type: str
perf_plan:
  description:
    - The measurements in run order. Each item has k, n, label (C([k/N] test rep r/R)),
      test, rep, reps, protocol, path_ids, paths, direction, streams, duration_s, omit_s,
      planned_s, segment and seg_last (the last of its batch); a latency test's also kind, load and msg_size;
      one over several pairs at once also pairs (the count) and flows (one per pair).
  returned: success
  type: list
  elements: dict
segments:
  description:
    - Consecutive stretches of the plan with the same scenario (shaping, sysctls and offloads) and the same MPTCP
      path set and backup paths; between two segments the shaper reshapes the paths (C(reshape) true), the ends
      change their sysctls (C(retune) true) or offloads (C(reoffload) true), or the sink's announced endpoints
      change. One segment when every test runs under the lab's shaping without sysctls or offloads of its own and
      every MPTCP test uses all paths, none as backup.
    - Each has index, scenario, shaping (null for the lab's), reshape, label, sysctls, retune, sysctls_label,
      offloads, reoffload, offloads_label, mptcp_path_ids, backup_path_ids (announced as backup), items and
      batches - its items split where the kind changes, a measurement over several pairs at once a batch of its own
      (kind V(throughput) or V(latency), concurrent, items), one measurement task each.
  returned: success
  type: list
  elements: dict
scenarios:
  description:
    - The scenarios the suite's tests run under (their shaping, sysctls and offloads), in plan order; each has
      index, lab (true when the shaping is the lab's own C(lab_paths)), shaping (null for the lab's, else one
      entry per path), netem (needs C(sch_netem)), sysctls (a test's own, with its scheduler and path manager,
      {} for none), offloads (a test's own, {} for none), tests (names), label, sysctls_label and
      offloads_label (the suite fields of its first test).
  returned: success
  type: list
  elements: dict
reshapes:
  description: Whether the run changes the shaping of the lab's paths at all (then it restores it at the end).
  returned: success
  type: bool
retunes:
  description: Whether a test sets sysctls of its own on the ends (then the run puts the old values back at the end).
  returned: success
  type: bool
reoffloads:
  description: Whether a test sets offloads of its own on the ends (then the run puts the old ones back at the end).
  returned: success
  type: bool
expected_mbps:
  description:
    - Ideal goodput of each test by name, from its own shaping or the lab's (null when a path it uses has
      no rate, as in an unshaped test).
  returned: success
  type: dict
scripts:
  description:
    - The text of every script the tests' commands run (suite key C(commands), C(script)), by absolute path on the
      controller; the hosts get it from here.
  returned: success
  type: dict
pair_hosts:
  description:
    - The hosts that take part in the run - the measuring generator and its sink first, then the other
      pairs a test runs on at once (suite key C(pairs)), generator before sink.
  returned: success
  type: list
  elements: str
planned_s:
  description: Planned traffic seconds of the whole plan (omit + duration of every item).
  returned: success
  type: int
format:
  description: The suite's format, V(mptcp.lab) or V(upstream).
  returned: success
  type: str
upstream:
  description:
    - An upstream-format suite's tests, each with its merged settings (global's, the test's on top),
      its bridges, stats, steps, validations, regression steps (each with its metric name
      C(upstream.<slug>)) and what the lab cannot honour; run each with M(mptcp.lab.perf_upstream_test).
      Empty for a suite in mptcp.lab's format (then RV(perf_plan) holds the measurements).
  returned: success
  type: list
  elements: dict
'''

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps
from ansible_collections.mptcp.lab.plugins.module_utils.perf import upstream_suite as us
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_knobs import check_results_location

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False


def find_suite(name, suites_dir, base_dir):
    """(path, default name) of a suite given by shipped name or path."""
    if '/' not in name and not name.endswith(('.yml', '.yaml')):
        path = os.path.join(suites_dir, name + '.yml')
        if not os.path.isfile(path):
            shipped = sorted(f[:-4] for f in os.listdir(suites_dir) if f.endswith('.yml'))
            raise ps.SuiteError('perf_suite: no shipped suite %r; shipped: %s (or give a file path)'
                                % (name, ', '.join(shipped)))
        return path, name
    candidates = [os.path.abspath(name)]
    if base_dir and not os.path.isabs(name):
        candidates.append(os.path.join(base_dir, name))
    for path in candidates:
        if os.path.isfile(path):
            stem = os.path.basename(path).rsplit('.', 1)[0]
            return path, stem
    raise ps.SuiteError('perf_suite: suite file %s not found' % ' or '.join(candidates))


MAX_SCRIPT_BYTES = 65536


def load_scripts(suite, suite_path):
    """Read the scripts of the tests' commands (paths relative to the suite file's directory).

    Each script entry gets its absolute path and sha256 (recorded, and part
    of the test's identity); returns {absolute path: text} for the hosts.
    """
    scripts = {}
    for index, test in enumerate(suite['tests']):
        for phase, commands in sorted((test.get('commands') or {}).items()):
            for i, cmd in enumerate(commands):
                if 'script' not in cmd:
                    continue
                field = "tests[%d] '%s': commands.%s[%d].script" % (index, test['name'], phase, i)
                path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(suite_path)), cmd['script']))
                if not os.path.isfile(path):
                    raise ps.SuiteError('%s: %s is not a file' % (field, path))
                if os.path.getsize(path) > MAX_SCRIPT_BYTES:
                    raise ps.SuiteError('%s: %s is larger than %d bytes' % (field, path, MAX_SCRIPT_BYTES))
                try:
                    with open(path, 'rb') as f:
                        data = f.read()
                    text = data.decode('utf-8')
                except (IOError, OSError, UnicodeDecodeError) as e:
                    raise ps.SuiteError('%s: %s cannot be read as UTF-8 text: %s' % (field, path, e))
                if not text.startswith('#!'):
                    raise ps.SuiteError('%s: %s must start with a #! line naming its interpreter (it runs as '
                                        'a program of its own, never through a shell string)' % (field, path))
                cmd['script'] = path
                cmd['sha256'] = hashlib.sha256(data).hexdigest()
                scripts[path] = text
    return scripts


def _override(value):
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def load(p):
    if p['results_path']:
        errors = check_results_location(p['results_dir'], p['results_path'], p['run_id'], p['base_dir'],
                                        p['collection_dir'])
        if errors:
            raise ps.SuiteError('; '.join(errors))
    try:
        path, default_name = find_suite(p['suite'], p['suites_dir'], p['base_dir'])
    except ValueError as e:
        if isinstance(e, ps.SuiteError):
            raise
        raise ps.SuiteError('perf_suite: %r is not a usable suite name or path (%s)' % (p['suite'], e))
    try:
        with open(path, 'rb') as f:
            data = yaml.safe_load(f.read().decode('utf-8'))
    except yaml.YAMLError as e:
        raise ps.SuiteError('perf_suite: %s is not valid YAML: %s' % (path, e))
    except (IOError, OSError) as e:
        raise ps.SuiteError('perf_suite: %s cannot be read: %s' % (path, e))
    except UnicodeDecodeError as e:
        raise ps.SuiteError('perf_suite: %s is not UTF-8 text: %s' % (path, e))
    if p['format'] == 'upstream' or (p['format'] == 'auto' and us.is_upstream(data)):
        return load_upstream(p, path, default_name, data)
    suite = ps.validate_suite(data, p['path_count'], duration_s=_override(p['duration_s']),
                              repetitions=_override(p['repetitions']), default_name=default_name,
                              pair_count=max(1, len(p['pairs'])))
    scripts = load_scripts(suite, path)
    lab_bottleneck = ps.effective_bottleneck({'bottleneck': ps.check_bottleneck(p['lab_bottleneck'], 'lab_bottleneck')})
    for t in suite['tests']:
        # the shared bottleneck a test runs through, its own or the lab's (none: absent), for the record
        shared = ps.effective_bottleneck(t, lab_bottleneck)
        if shared:
            t['bottleneck'] = shared
        else:
            t.pop('bottleneck', None)
    groups = ps.scenarios(suite, p['lab_paths'], lab_bottleneck)
    if p['shapers'] == 0:
        for group in groups:
            if not group['lab']:
                raise ps.SuiteError('%s differs from the lab\'s, but the lab has no shaper (the shapers group '
                                    'is empty) to apply it; remove the shaping or add a shaper' % group['label'])
    items = ps.plan(suite, p['lab_paths'], lab_bottleneck)
    if p['links']:
        ps.attach_links(items, p['links'], p['pairs'])
    used = max([t.get('pairs', 1) for t in suite['tests']])
    pair_hosts = [h for pair in p['pairs'][:used] for h in (pair['generator'], pair['sink'])]
    segs = ps.segments(items, p['path_count'], groups)
    for seg in segs:
        seg['batches'] = ps.batches(seg['items'])
        for item in seg['items']:
            item['segment'] = seg['index']
            item['seg_last'] = False
        # the next measurement starts in another task: after a segment, or a batch of another kind
        for batch in seg['batches']:
            batch['items'][-1]['seg_last'] = True
    return {
        'changed': False,
        'suite': suite,
        'suite_file': path,
        'perf_plan': items,
        'segments': segs,
        'scenarios': groups,
        'reshapes': any(not g['lab'] for g in groups),
        'retunes': any(g['sysctls'] for g in groups),
        'reoffloads': any(g['offloads'] for g in groups),
        'expected_mbps': dict((t['name'], ps.expected_mbps(t, p['lab_paths'], lab_bottleneck)) for t in suite['tests']),
        'planned_s': sum(i['planned_s'] for i in items),
        'pair_hosts': pair_hosts,
        'scripts': scripts,
        'format': 'mptcp.lab',
        'upstream': [],
    }


def load_upstream(p, path, default_name, data):
    """The plan of a suite in upstream's format: its tests, for mptcp.lab.perf_upstream_test."""
    if p['lab_kind'] != 'virtual':
        raise ps.SuiteError('perf_suite: %s is in the %s format, whose tests run on the virtual (netns) lab; '
                            'lab_kind %s cannot run them yet (docs/upstream-suites.md)'
                            % (path, us.FORMAT, p['lab_kind']))
    try:
        tests = us.translate(data, defaults=p['regression_defaults'])
    except us.UpstreamSuiteError as e:
        raise ps.SuiteError('perf_suite: %s: %s' % (path, e))
    name = data.get('name') if isinstance(data.get('name'), str) and data.get('name') else default_name
    return {
        'changed': False,
        'format': 'upstream',
        'suite': {'name': name, 'description': '%s format, %d test(s)' % (us.FORMAT, len(tests)), 'tests': []},
        'suite_file': path,
        'upstream': tests,
        'perf_plan': [],
        'segments': [],
        'scenarios': [],
        'reshapes': False,
        'retunes': False,
        'reoffloads': False,
        'expected_mbps': {},
        'planned_s': 0,
        'pair_hosts': [],
        'scripts': {},
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            suite=dict(type='str', required=True),
            suites_dir=dict(type='path', required=True),
            base_dir=dict(type='path'),
            path_count=dict(type='int', required=True),
            links=dict(type='list', elements='dict', default=[]),
            pairs=dict(type='list', elements='dict', default=[], options=dict(
                generator=dict(type='str', required=True),
                sink=dict(type='str', required=True),
                links=dict(type='list', elements='dict', required=True),
            )),
            lab_paths=dict(type='list', elements='dict', default=[]),
            lab_bottleneck=dict(type='raw'),
            shapers=dict(type='int'),
            duration_s=dict(type='raw'),
            repetitions=dict(type='raw'),
            results_dir=dict(type='raw'),
            results_path=dict(type='path'),
            collection_dir=dict(type='path'),
            run_id=dict(type='str'),
            format=dict(type='str', default='auto', choices=['auto', 'mptcp.lab', 'upstream']),
            lab_kind=dict(type='str', default='virtual'),
            regression_defaults=dict(type='dict', default={}),
        ),
        required_by=dict(results_path=('results_dir', 'run_id')),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'))
    try:
        module.exit_json(**load(module.params))
    except ps.SuiteError as e:
        module.fail_json(msg=str(e))
    except Exception as e:  # pylint: disable=broad-except
        # never a traceback for a bad suite: say what broke instead
        module.fail_json(msg='perf_suite: the suite could not be checked (%s: %s)' % (type(e).__name__, e))


if __name__ == '__main__':
    main()
