# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe state files for the lab's modules (pidfiles, state files, logs, records).

Every file the lab writes as root lives in a directory that only root (the
module's user) can change: the directory is checked before use (owner, mode,
not a symlink, and the same for its parents), and every operation is
relative to a descriptor of the checked directory, so a path that changes
under us is never followed. Files are written to a fresh temporary name
(O_CREAT | O_EXCL | O_NOFOLLOW) and renamed into place; files are read and
appended to with O_NOFOLLOW, so a symlink planted in the directory is
refused, never followed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import errno
import os
import stat

_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)
_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)


class UnsafePath(Exception):
    """A directory or file that the lab refuses to use; the message says why."""


def _trusted_uids():
    return set([0, os.geteuid()])


def check_directory(path, info=None):
    """Raise UnsafePath unless ``path`` is a directory only a trusted user can change.

    Trusted: root or the module's user owns it; no group or other write
    permission (a sticky world-writable directory such as /tmp is accepted
    as a parent only); not a symlink.
    """
    info = info if info is not None else os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath('%s: is a symlink; the lab only uses real directories for its files' % path)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath('%s: is not a directory' % path)
    if info.st_uid not in _trusted_uids():
        raise UnsafePath('%s: is owned by uid %d, not root: the lab refuses to keep its files in a directory '
                         'another user controls (chown root it, or choose another directory)'
                         % (path, info.st_uid))
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePath('%s: is writable by its group or by everyone (mode %04o): the lab refuses to keep its '
                         'files there (chmod go-w it, or choose another directory)'
                         % (path, stat.S_IMODE(info.st_mode)))


def check_parents(path):
    """Raise UnsafePath when a parent of ``path`` could be replaced by another user.

    Parents that do not exist yet (``path`` is to be created) are skipped.
    """
    _check_parents(path, missing_ok=True)


def _check_parents(path, missing_ok=False):
    parent = os.path.dirname(path)
    while True:
        try:
            info = os.lstat(parent)
        except OSError:
            if not missing_ok:
                raise
            parent = os.path.dirname(parent)
            continue
        if stat.S_ISLNK(info.st_mode):
            # A symlinked parent (e.g. /var/run -> /run) is fine when root owns the link and
            # its target passes the same checks.
            if info.st_uid not in _trusted_uids():
                raise UnsafePath('%s: is a symlink owned by uid %d, not root' % (parent, info.st_uid))
            _check_parents(os.path.join(os.path.realpath(parent), 'x'))
        elif info.st_uid not in _trusted_uids() or \
                (info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX):
            raise UnsafePath('%s: a parent of %s is owned by uid %d with mode %04o: another user could replace '
                             'the directory; the lab refuses to keep its files there'
                             % (parent, path, info.st_uid, stat.S_IMODE(info.st_mode)))
        if parent == os.path.dirname(parent):
            return
        parent = os.path.dirname(parent)


class SafeDir(object):
    """A checked directory, held open; file names are relative to it.

    ``SafeDir(path, create=True)`` creates the missing directories (mode
    0755, owned by the module's user) first. Use as a context manager, or
    call close().
    """

    def __init__(self, path, create=False, mode=0o755):
        self.path = os.path.abspath(path)
        if create:
            self._create(mode)
        try:
            _check_parents(self.path)
            fd = os.open(self.path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(self.path):
                raise UnsafePath('%s: is a symlink; the lab only uses real directories for its files' % self.path)
            raise UnsafePath('%s: cannot open the directory (%s)' % (self.path, exc.strerror or exc))
        try:
            check_directory(self.path, os.fstat(fd))
        except UnsafePath:
            os.close(fd)
            raise
        self.fd = fd

    def _create(self, mode):
        missing = []
        path = self.path
        while not os.path.lexists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for path in reversed(missing):
            try:
                os.mkdir(path, mode)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise UnsafePath('%s: cannot create the directory (%s)' % (path, exc.strerror or exc))
            else:
                os.chmod(path, mode)       # whatever the umask

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _name(name):
        if not name or '/' in name or name in ('.', '..'):
            raise UnsafePath('%r: not a plain file name' % (name,))
        return name

    def _regular(self, fd, name):
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise UnsafePath('%s: is not a regular file' % os.path.join(self.path, name))
        return fd

    def read(self, name):
        """Content of ``name`` as bytes, or None when it does not exist; a symlink is refused."""
        try:
            fd = os.open(self._name(name), os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            if exc.errno == errno.ELOOP:
                raise UnsafePath('%s: is a symlink; the lab refuses to follow it'
                                 % os.path.join(self.path, name))
            raise
        self._regular(fd, name)
        chunks = []
        with os.fdopen(fd, 'rb') as handle:
            while True:
                chunk = handle.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b''.join(chunks)

    def write(self, name, data, mode=0o644):
        """Replace ``name`` with ``data`` (bytes or text): a fresh temporary file, then rename."""
        if not isinstance(data, bytes):
            data = data.encode('utf-8')
        name = self._name(name)
        for _attempt in range(100):
            tmp = '.%s.%s.tmp' % (name, binascii.hexlify(os.urandom(6)).decode())
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600,
                             dir_fd=self.fd)
                break
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        else:
            raise UnsafePath('%s: cannot create a temporary file' % self.path)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), mode)
            os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=self.fd)
            except OSError:
                pass
            raise

    def open_append(self, name, mode=0o644):
        """A write descriptor appending to ``name`` (created when missing); a symlink is refused."""
        try:
            fd = os.open(self._name(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, mode,
                         dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePath('%s: is a symlink; the lab refuses to follow it'
                                 % os.path.join(self.path, name))
            raise
        return self._regular(fd, name)

    def unlink(self, name):
        """Remove ``name`` (a symlink itself, never its target); True when it existed."""
        try:
            os.unlink(self._name(name), dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        return True


def split(path):
    """(directory, file name) of ``path``, made absolute."""
    path = os.path.abspath(path)
    return os.path.dirname(path), os.path.basename(path)
