"""Verification tools for other implementations (docs/VERIFYING.md, docs/GOLDEN.md).

* golden archive: :func:`read_case`, :func:`write_case`, :func:`make_case`, :func:`standard_case`
  (HDF5, readable without snnref; ``snnref golden write``);
* :func:`verify` (``snnref verify REFERENCE CANDIDATE``): per-quantity errors against measured
  tolerances, first divergence in forward order and in the backward order of spec 3.7, threshold
  margins, and a fingerprint of what a diverging candidate matches instead;
* :func:`check_user_trace`: validation of hand-built forward traces passed to ``snnref.backward``;
* conformance suite (``snnref conformance --adapter module:factory``) in :mod:`snnref.verify.conformance`,
  with the independent NumPy adapter :mod:`snnref.verify.numpy_adapter`.
"""
from .._user_trace import check_user_trace, trace_from_arrays
from .cases import STANDARD_CASES, make_case, standard_case
from .compare import TOLERANCES, VerifyReport, verify
from .golden import GoldenCase, GoldenError, check_manifest, read_case, write_case

__all__ = ["verify", "VerifyReport", "TOLERANCES", "GoldenCase", "GoldenError", "read_case", "write_case",
           "check_manifest", "make_case", "standard_case", "STANDARD_CASES", "check_user_trace", "trace_from_arrays"]
