"""Reusable buffers: :class:`Workspace`, passed explicitly to :func:`snnref.forward` and
:func:`snnref.backward` by callers that run many steps of the same shapes (a training loop), so that
large arrays are not allocated, faulted in and freed on every call. Without a workspace every call
allocates (``_Fresh``)."""
import numpy as np

__all__ = ["Workspace"]


class Workspace:
    """Buffers reused by successive calls of ``snnref.forward(net, x, workspace=ws)`` (and of
    ``snnref.backward(..., workspace=ws)``, whose buffers are internal).

    The trace returned by a forward call with ``ws`` is made of views of these buffers: it stays valid
    until the next forward call with the same ``ws`` (which overwrites it). A backward call with ``ws``
    uses other buffers (it does not touch the trace) and returns no view of them. Buffers grow to the
    largest shape asked for and are never shrunk; ``nbytes`` is their total size. One workspace per
    concurrent trace (a training loop keeps one for the whole run; evaluation may use another).
    """

    def __init__(self):
        self._buf = {}

    def array(self, key, shape, dtype):
        """A C-contiguous array of ``shape`` and ``dtype`` backed by the buffer ``key`` (contents undefined)."""
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        buf = self._buf.get(key)
        if buf is None or buf.dtype != dtype or buf.size < n:
            buf = np.empty(max(n, 1), dtype=dtype)
            self._buf[key] = buf
        return buf[:n].reshape(shape)

    @property
    def nbytes(self):
        return sum(b.nbytes for b in self._buf.values())


class _Fresh:
    """Allocates every array anew (the behaviour without a workspace)."""

    @staticmethod
    def array(key, shape, dtype):
        return np.empty(shape, dtype=dtype)
