"""Keep freed memory in the process for the next capture instead of handing it back to the OS.

A capture returns every attention map (vit_base: 144 maps of 197 × 197, 22 MB a run). With glibc's
default, dynamic thresholds, blocks of that size are given back to the OS when freed, so the next run
gets fresh pages and pays a page fault (and the kernel zeroing the page) for every 4 KB it touches: about
10,000 faults a vit_base capture on a CPU, measured with getrusage, a tenth of the forward's time on two
cores. Fixing the thresholds keeps blocks up to `mmap_threshold` in the heap and lets up to
`trim_threshold` of free memory stay there, so the next run reuses pages that are already mapped.

This is a process-wide allocator setting, not state on any model: it changes where memory comes from,
never what is computed. It applies on Linux with glibc; elsewhere (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import sys
import threading

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this parameter on 64-bit systems
TRIM_THRESHOLD = 256 << 20

_lock = threading.Lock()
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; True if they are in force (Linux with glibc)."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = _mallopt()
        return _applied


def release_freed_memory() -> bool:
    """Collect garbage and hand the allocator's free memory back to the OS (glibc's malloc_trim, every arena).

    For after a model is dropped from the model cache: its hundreds of MB of parameters would otherwise
    stay in the process (up to TRIM_THRESHOLD per arena, and Streamlit runs each session in its own
    thread, so in several arenas), and resident memory would creep up with every model a class looks at.
    Rare (a model load), so the captures' kept pages are not at stake. True if memory was released."""
    import gc

    gc.collect()
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return bool(trim(0))


def _mallopt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
