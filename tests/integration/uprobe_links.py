"""The uprobes a process holds, as the kernel has them: (file, BPF program name, file offset,
is a uretprobe), one entry per offset, whatever the kind of link.

sonde attaches uprobe_multi links where the kernel has them (Linux 6.6+; one link carries the
offsets of one program on one file) and perf-event links elsewhere (one per offset). bpftool
lists the latter (`bpftool perf show`); this machine's bpftool (7.1) does not decode the former,
so their offsets are read from the kernel directly: each of the process's link fds is copied into
this one with pidfd_getfd(2), and BPF_OBJ_GET_INFO_BY_FD returns its path and offsets.
"""
from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess

_SYS = {"x86_64": {"bpf": 321, "pidfd_open": 434, "pidfd_getfd": 438},
        "aarch64": {"bpf": 280, "pidfd_open": 434, "pidfd_getfd": 438}}[platform.machine()]
_BPF_OBJ_GET_INFO_BY_FD = 15
_LINK_TYPE_UPROBE_MULTI = 12
_UPROBE_MULTI_RETURN = 1
_MAX_OFFSETS = 4096
_PATH_MAX = 4096

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _UprobeMulti(ctypes.Structure):
    _fields_ = [("path", ctypes.c_uint64), ("offsets", ctypes.c_uint64),
                ("ref_ctr_offsets", ctypes.c_uint64), ("cookies", ctypes.c_uint64),
                ("path_size", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("pid", ctypes.c_uint32)]


class _LinkInfo(ctypes.Structure):
    # struct bpf_link_info: type, id, prog_id, then the union (8-byte aligned), padded out to
    # more than the union's largest member: the kernel takes bytes past its size if zero
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("prog_id", ctypes.c_uint32),
                ("pad", ctypes.c_uint32), ("um", _UprobeMulti), ("rest", ctypes.c_uint8 * 256)]


class _InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64), ("pad", ctypes.c_uint8 * 104)]


def _sys(name: str, *args) -> int:
    r = _libc.syscall(_SYS[name], *args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{name}: {os.strerror(e)}")
    return r


def _link_info(fd: int, info: _LinkInfo) -> None:
    attr = _InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    _sys("bpf", _BPF_OBJ_GET_INFO_BY_FD, ctypes.byref(attr), ctypes.sizeof(attr))


def _multi_link(fd: int):
    """(path, [offsets], is_return, prog_id) of a uprobe_multi link fd, or None for another."""
    info = _LinkInfo()
    _link_info(fd, info)  # its type first: the union means something else for other links
    if info.type != _LINK_TYPE_UPROBE_MULTI:
        return None
    path = ctypes.create_string_buffer(_PATH_MAX)
    offsets = (ctypes.c_uint64 * _MAX_OFFSETS)()
    info = _LinkInfo()
    info.um.path = ctypes.addressof(path)
    info.um.path_size = _PATH_MAX
    info.um.offsets = ctypes.addressof(offsets)
    info.um.count = _MAX_OFFSETS
    _link_info(fd, info)
    return (path.value.decode(), list(offsets[:info.um.count]),
            bool(info.um.flags & _UPROBE_MULTI_RETURN), info.prog_id)


def _prog_names() -> dict:
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return {p["id"]: p.get("name", "") for p in json.loads(r.stdout or "[]")}


def _perf_uprobes(pid: int) -> list:
    r = subprocess.run(["bpftool", "-j", "perf", "show"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return [(e["filename"], e.get("prog_id"), e["offset"], e["fd_type"] == "uretprobe")
            for e in json.loads(r.stdout or "[]")
            if e.get("pid") == pid and e.get("fd_type") in ("uprobe", "uretprobe")]


def _multi_uprobes(pid: int) -> list:
    out = []
    fd_dir = f"/proc/{pid}/fd"
    pidfd = _sys("pidfd_open", pid, 0)
    try:
        for name in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{name}") != "anon_inode:bpf_link":
                    continue
                fd = _sys("pidfd_getfd", pidfd, int(name), 0)
            except OSError:
                continue  # closed meanwhile
            try:
                link = _multi_link(fd)
            finally:
                os.close(fd)
            if link:
                path, offsets, ret, prog_id = link
                out += [(path, prog_id, off, ret) for off in offsets]
    finally:
        os.close(pidfd)
    return out


def uprobes_of(pid: int) -> list:
    """[(file, program name, file offset, is a uretprobe)] of every uprobe pid holds."""
    probes = _perf_uprobes(pid) + _multi_uprobes(pid)
    if not probes:
        return []
    names = _prog_names()
    return [(path, names.get(prog, ""), off, ret) for path, prog, off, ret in probes]


def link_kinds(pid: int) -> dict:
    """How many uprobes pid holds through each kind of link: {"perf_event": n, "uprobe_multi": m}."""
    return {"perf_event": len(_perf_uprobes(pid)), "uprobe_multi": len(_multi_uprobes(pid))}
