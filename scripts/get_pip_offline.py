"""Offline stand-in for ansible-test's downloaded get-pip bootstrap script.

ansible-test bootstraps pip into each fresh sanity/units virtualenv by running
a get-pip script it downloads from a host that this project's machines cannot
reach. This shim does the same job with what Python ships: ``ensurepip``
installs the bundled pip, which then installs the exact pip version (and any
other packages) ansible-test asked for from the configured package index.

scripts/ansible-test.sh copies it into ansible-test's cache under the name
ansible-test looks for, so the download is never attempted.
"""

import subprocess
import sys

# get-pip.py understands these; `pip install` does not.
GET_PIP_ONLY_OPTIONS = {'--no-setuptools', '--no-wheel'}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    # In a child process: ensurepip blanks pip's configuration in the process
    # that runs it, and the install below needs the machine's pip settings.
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    main()
