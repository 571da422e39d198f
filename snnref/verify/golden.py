r"""Golden archive: language-neutral HDF5 files holding one complete reference case each.

The format (``schema = "snnref-golden"``, :data:`SCHEMA_VERSION`) is documented in docs/GOLDEN.md
and is readable with plain h5py (or any HDF5 library) without importing snnref. Addresses, with
``<l>`` the 0-based spiking-layer index (layer l receives the input for l = 0)::

    /                          attrs: schema, schema_version, name, description, dtype, T (= T_sim),
                               T_full, B, sizes, rules, loss, latency_early_stop, snnref_version
    model                      attrs: alpha_I, alpha_V, beta_I, beta_V, beta_bias, theta,
                               reset_current, strict_threshold, psp_output (+ tau_m, tau_s)
    input/x                    (T_full, B, N_0)    attrs axes = "T,B,N"
    input/a0                   (T, B, N_0)         TSSL-BP models: the PSP-filtered input
    params/W/<l>               (N_l_in, N_l_out)   attrs axes = "in,out"
    params/b/<l>               (N_l_out,)          attrs axes = "out"
    forward/<l>/<I|V|S|du|a>   (T, B, N_l)         attrs axes = "T,B,N"; group attr min_abs_margin
    loss/value                 scalar
    loss/<dL_dS|dL_dt|dL_da>   (T, B, N_L)
    gradients/<rule>/dW/<l>    like params/W/<l>   group gradients/<rule> attrs: options (JSON)
    gradients/<rule>/db/<l>    like params/b/<l>
    adjoints/<rule>/<l>/<name> (T, B, N_l)

Reading is validation: :func:`read_case` checks the SHA-256 manifest when the file's directory has
one, the schema and version, every required attribute, every shape against ``sizes``/``T``/``B``,
every dtype, finiteness and binary spikes, and raises :class:`GoldenError` (a
:class:`snnref.errors.SnnrefError`) with a message naming the file and the address, never a crash.
"""
import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import SnnrefError

__all__ = ["GoldenError", "GoldenCase", "SCHEMA", "SCHEMA_VERSION", "MANIFEST", "read_case", "write_case",
           "sha256_file", "write_manifest", "check_manifest", "MODEL_FIELDS", "FORWARD_NAMES"]

SCHEMA = "snnref-golden"
SCHEMA_VERSION = 1
MANIFEST = "MANIFEST.sha256"

#: model attributes (names of snnref.NeuronModel, spec 11)
MODEL_FIELDS = ("alpha_I", "alpha_V", "beta_I", "beta_V", "beta_bias", "theta", "reset_current",
                "strict_threshold", "psp_output")
#: forward quantities in dependency order within one (t, layer)
FORWARD_NAMES = ("I", "V", "S", "du", "a")
_ROOT_ATTRS = ("schema", "schema_version", "name", "dtype", "T", "T_full", "B", "sizes")


class GoldenError(SnnrefError):
    """A golden file or candidate file is damaged, incomplete, or not of this schema."""


@dataclass
class GoldenCase:
    """One case in memory: root attributes, model attributes and arrays by address.

    ``arrays`` maps addresses (``"forward/0/V"``, ``"gradients/act_rnn/dW/1"``, ...) to numpy arrays;
    ``attrs`` holds the root attributes, ``model`` the model attributes, ``rule_options`` the
    options per rule.
    """

    attrs: dict
    model: dict
    arrays: dict
    rule_options: dict = field(default_factory=dict)
    path: str = None

    # -- convenience accessors -------------------------------------------------------------
    @property
    def name(self):
        return self.attrs["name"]

    @property
    def dtype(self):
        return np.dtype(self.attrs["dtype"]).type

    @property
    def sizes(self):
        return tuple(int(s) for s in self.attrs["sizes"])

    @property
    def n_layers(self):
        return len(self.sizes) - 1

    @property
    def T(self):
        return int(self.attrs["T"])

    @property
    def B(self):
        return int(self.attrs["B"])

    @property
    def x(self):
        """The network input (T_full, B, N_0), time-major."""
        return self.arrays["input/x"]

    @property
    def weights(self):
        """[W^1, ..., W^L], each (N_in, N_out) (snnref layout)."""
        return [self.arrays[f"params/W/{l}"] for l in range(self.n_layers)]

    @property
    def biases(self):
        return [self.arrays[f"params/b/{l}"] for l in range(self.n_layers)]

    @property
    def rules(self):
        return sorted({a.split("/")[1] for a in self.arrays if a.startswith("gradients/")})

    def neuron_model(self):
        """The snnref.NeuronModel of this case."""
        from .. import NeuronModel

        kw = {k: self.model[k] for k in MODEL_FIELDS}
        for k in ("tau_m", "tau_s", "beta_auto_T"):
            if k in self.model:
                kw[k] = self.model[k]
        return NeuronModel(**kw)

    def network(self):
        """The snnref.Network of this case (weights and biases copied)."""
        from .. import Network

        return Network([w.copy() for w in self.weights], [b.copy() for b in self.biases], self.neuron_model(),
                       dtype=self.dtype)

    def loss_gradients(self):
        """dict with the stored dL_dS / dL_dt / dL_da (those present)."""
        return {k: self.arrays[f"loss/{k}"] for k in ("dL_dS", "dL_dt", "dL_da") if f"loss/{k}" in self.arrays}

    def forward(self, l):
        """dict name -> array of the stored forward quantities of spiking layer l."""
        return {n: self.arrays[f"forward/{l}/{n}"] for n in FORWARD_NAMES if f"forward/{l}/{n}" in self.arrays}

    def adjoints(self, rule, l):
        pre = f"adjoints/{rule}/{l}/"
        return {a[len(pre):]: v for a, v in self.arrays.items() if a.startswith(pre)}


# ------------------------------------------------------------------------------------------- write
def _axes(address):
    parts = address.split("/")
    if parts[0] in ("forward", "adjoints") or address in ("input/x", "input/a0") or \
            (parts[0] == "loss" and parts[1] != "value"):
        return "T,B,N"
    if parts[0] == "params":
        return "in,out" if parts[1] == "W" else "out"
    if parts[0] == "gradients":
        return "in,out" if parts[2] == "dW" else "out"
    return None


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_case(case, path):
    """Write ``case`` (a :class:`GoldenCase`) to the HDF5 file ``path``, atomically.

    Byte-deterministic: no time stamps, fixed creation order. File format of HDF5 1.10
    (``libver="v110"``, readable by HDF5 >= 1.10 and h5py >= 2.9); arrays of more than 16 elements
    use the shuffle and deflate (gzip level 9) filters that every HDF5 build has.
    """
    import h5py

    from ..checkpoint import _atomic_write

    def write(tmp):
        with h5py.File(tmp, "w", track_order=True, libver="v110") as f:
            for k in _ROOT_ATTRS:
                f.attrs[k] = case.attrs[k]
            for k, v in case.attrs.items():
                if k not in _ROOT_ATTRS and k != "content_sha256":
                    f.attrs[k] = v
            f.attrs["content_sha256"] = content_digest(case.arrays, {k: v for k, v in case.model.items() if v is not None},
                                                       case.attrs, case.rule_options)
            f.attrs["axes"] = "T = time step, B = sample, N = neuron; W is (in, out)"
            g = f.create_group("model", track_order=True)
            for k, v in case.model.items():
                if v is not None:
                    g.attrs[k] = v
            for address in sorted(case.arrays, key=_address_sort_key):
                arr = np.asarray(case.arrays[address])
                kw = dict(compression="gzip", compression_opts=9, shuffle=True) if arr.size > 16 else {}
                ds = f.create_dataset(address, data=arr, track_times=False, **kw)
                ax = _axes(address)
                if ax:
                    ds.attrs["axes"] = ax
            for rule, opts in case.rule_options.items():
                grp = f.require_group(f"gradients/{rule}")
                grp.attrs["options"] = json.dumps(opts, sort_keys=True, default=_json_default)
            for l in range(len(case.attrs["sizes"]) - 1):
                key = f"forward/{l}"
                if key in f and f"{key}/V" in f:
                    V = np.asarray(f[f"{key}/V"])
                    f[key].attrs["min_abs_margin"] = float(np.min(np.abs(V - case.model["theta"]))) if V.size else np.inf

    _atomic_write(path, write)


def content_digest(arrays, model, attrs=None, rule_options=None):
    """SHA-256 (hex) over the root and model attributes, the rule options and every dataset
    (address, dtype, shape, bytes) in sorted address order: stored as the root attribute
    ``content_sha256`` and checked on reading, so damage is detected even without a manifest."""
    h = hashlib.sha256()
    meta = {"model": model, "rule_options": rule_options or {},
            "attrs": {k: v for k, v in (attrs or {}).items() if k not in ("content_sha256", "axes")}}
    h.update(json.dumps(meta, sort_keys=True, default=_json_default).encode())
    for address in sorted(arrays):
        a = np.ascontiguousarray(arrays[address])
        h.update(f"|{address}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _address_sort_key(address):
    order = {"input": 0, "params": 1, "forward": 2, "loss": 3, "gradients": 4, "adjoints": 5}
    parts = address.split("/")
    return (order.get(parts[0], 9),) + tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts[1:])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(directory, files):
    """Write ``MANIFEST.sha256`` (``sha256sum`` format: ``<hex>  <file name>``) for ``files`` in ``directory``."""
    from ..checkpoint import atomic_write_text

    lines = [f"{sha256_file(os.path.join(directory, name))}  {name}" for name in sorted(files)]
    atomic_write_text(os.path.join(directory, MANIFEST), "\n".join(lines) + "\n")


def _read_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        return None
    entries = {}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenError(f"cannot read the manifest {path}: {exc}. Restore it (e.g. `snnref golden write`).") from exc
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdef" for c in parts[0]):
            raise GoldenError(f"{path} line {n} is not '<sha256 hex>  <file name>': {line!r}.")
        entries[parts[1].strip().lstrip("*")] = parts[0]
    return entries


def check_manifest(directory):
    """Check every file listed in ``directory/MANIFEST.sha256``; return the list of checked names.

    Raises GoldenError naming the first missing or changed file.
    """
    entries = _read_manifest(directory)
    if entries is None:
        raise GoldenError(f"{directory} has no {MANIFEST}; it is not a golden directory written by `snnref golden write`.")
    for name, digest in entries.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            raise GoldenError(f"{path} is listed in {MANIFEST} but missing.")
        if sha256_file(path) != digest:
            raise GoldenError(f"{path} does not match its SHA-256 in {MANIFEST}: the file is damaged or was "
                              "changed. Restore it or rewrite the set with `snnref golden write`.")
    return sorted(entries)


# -------------------------------------------------------------------------------------------- read
def _attr(obj, key, path, where):
    if key not in obj.attrs:
        raise GoldenError(f"{path}: {where} lacks the attribute {key!r}; the file is not a complete golden case.")
    v = obj.attrs[key]
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        v = v.tolist()
    elif isinstance(v, np.generic):
        v = v.item()
    return v


def _collect(group, prefix, out):
    import h5py

    for key in group:
        obj = group[key]
        address = f"{prefix}{key}"
        if isinstance(obj, h5py.Dataset):
            out[address] = obj
        else:
            _collect(obj, address + "/", out)


def read_case(path, *, check_manifest_file=True, partial=False):
    """Read and validate a golden case (or, with ``partial=True``, a candidate file of the same schema).

    ``partial`` files may hold any subset of the addresses (e.g. forward only, or only dW) and need
    only the root attributes ``schema`` and ``schema_version``.
    """
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise GoldenError(f"{path} does not exist.")
    if check_manifest_file:
        entries = _read_manifest(os.path.dirname(os.path.abspath(path)))
        name = os.path.basename(path)
        if entries is not None and name in entries and sha256_file(path) != entries[name]:
            raise GoldenError(f"{path} does not match its SHA-256 in {MANIFEST}: the file is damaged or was changed. "
                              "Restore it or rewrite the set with `snnref golden write`.")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError and others for non-HDF5 / truncated files
        raise GoldenError(f"{path} is not a readable HDF5 file ({exc}). Is it damaged or truncated?") from exc
    try:
        with f:
            return _read_open(f, path, partial)
    except GoldenError:
        raise
    except Exception as exc:  # damaged internals (bad chunks, bad dtypes) surface while reading
        raise GoldenError(f"{path} is damaged: reading it failed with {type(exc).__name__}: {exc}") from exc


def _read_open(f, path, partial):
    schema = _attr(f, "schema", path, "the root group")
    if schema != SCHEMA:
        raise GoldenError(f"{path}: schema is {schema!r}, expected {SCHEMA!r}.")
    version = _attr(f, "schema_version", path, "the root group")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise GoldenError(f"{path}: schema_version {version!r} is not supported (this snnref reads 1..{SCHEMA_VERSION}); "
                          "upgrade snnref or rewrite the file.")
    attrs = {}
    for k in f.attrs:
        if k == "axes":
            continue
        attrs[k] = _attr(f, k, path, "the root group")
    if not partial:
        for k in _ROOT_ATTRS:
            _attr(f, k, path, "the root group")
    model = {}
    if "model" in f:
        for k in f["model"].attrs:
            model[k] = _attr(f["model"], k, path, "model")
    elif not partial:
        raise GoldenError(f"{path}: the group 'model' is missing.")
    datasets = {}
    _collect(f, "", datasets)
    arrays = {}
    for address, ds in datasets.items():
        if ds.dtype.kind not in "fiub":
            raise GoldenError(f"{path}: {address} has dtype {ds.dtype}; expected float32 or float64.")
        arrays[address] = np.asarray(ds[()])
    rule_options = {}
    if "gradients" in f:
        for rule in f["gradients"]:
            if "options" in f[f"gradients/{rule}"].attrs:
                raw = _attr(f[f"gradients/{rule}"], "options", path, f"gradients/{rule}")
                try:
                    rule_options[rule] = json.loads(raw)
                except (TypeError, ValueError) as exc:
                    raise GoldenError(f"{path}: gradients/{rule} attribute 'options' is not valid JSON.") from exc
    case = GoldenCase(attrs=attrs, model=model, arrays=arrays, rule_options=rule_options, path=path)
    digest = attrs.pop("content_sha256", None)
    if digest is not None and digest != content_digest(arrays, model, attrs, rule_options):
        raise GoldenError(f"{path}: the data do not match the file's content_sha256 attribute: the file is damaged "
                          "or was edited. Restore it or rewrite it (`snnref golden write`).")
    if not partial and digest is None:
        raise GoldenError(f"{path}: the root attribute 'content_sha256' is missing; golden files written by snnref "
                          "carry it (candidate files need not).")
    if not partial:
        validate_case(case, path)
    return case


def validate_case(case, where="case"):
    """Check the shapes, dtypes and values of a complete case; raise GoldenError on the first problem."""
    a = case.attrs
    try:
        sizes = tuple(int(s) for s in a["sizes"])
        T, T_full, B = int(a["T"]), int(a["T_full"]), int(a["B"])
        dt = np.dtype(a["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GoldenError(f"{where}: root attributes sizes/T/T_full/B/dtype are invalid ({exc}).") from exc
    if dt not in (np.float32, np.float64) or len(sizes) < 2 or min(sizes) < 1 or T < 1 or B < 1 or T > T_full:
        raise GoldenError(f"{where}: inconsistent root attributes dtype={dt}, sizes={sizes}, T={T}, T_full={T_full}, B={B}.")
    for k in MODEL_FIELDS:
        if k not in case.model:
            raise GoldenError(f"{where}: model attribute {k!r} is missing.")
    try:
        case.neuron_model()
    except (TypeError, ValueError) as exc:
        raise GoldenError(f"{where}: the model attributes are not a valid NeuronModel: {exc}") from exc
    L = len(sizes) - 1
    expected = {"input/x": (T_full, B, sizes[0])}
    for l in range(L):
        expected[f"params/W/{l}"] = (sizes[l], sizes[l + 1])
        expected[f"params/b/{l}"] = (sizes[l + 1],)
    for address in expected:
        if address not in case.arrays:
            raise GoldenError(f"{where}: required dataset {address!r} is missing.")
    for address, arr in case.arrays.items():
        shape = expected_shape(address, sizes, T, B, T_full)
        if shape is None:
            raise GoldenError(f"{where}: unknown dataset address {address!r} (schema {SCHEMA} v{SCHEMA_VERSION}).")
        if arr.shape != shape:
            raise GoldenError(f"{where}: {address} has shape {arr.shape}; expected {shape} "
                              f"(sizes {sizes}, T {T}, B {B}).")
        if arr.dtype != dt:
            raise GoldenError(f"{where}: {address} has dtype {arr.dtype}; the case dtype is {dt}.")
        if not np.all(np.isfinite(arr)):
            raise GoldenError(f"{where}: {address} holds NaN or inf values.")
        if address.endswith("/S") and np.any((arr != 0) & (arr != 1)):
            raise GoldenError(f"{where}: {address} holds values other than 0 and 1.")


def expected_shape(address, sizes, T, B, T_full=None):
    """Shape an address must have in a case with these sizes (None: not an address of the schema)."""
    parts = address.split("/")
    L = len(sizes) - 1

    def layer(p):
        return int(p) if p.isdigit() and int(p) < L else None

    if address == "input/x":
        return (T_full if T_full is not None else T, B, sizes[0])
    if address == "input/a0":
        return (T, B, sizes[0])
    if parts[0] == "params" and len(parts) == 3 and parts[1] in ("W", "b"):
        l = layer(parts[2])
        if l is None:
            return None
        return (sizes[l], sizes[l + 1]) if parts[1] == "W" else (sizes[l + 1],)
    if parts[0] == "forward" and len(parts) == 3 and parts[2] in FORWARD_NAMES:
        l = layer(parts[1])
        return None if l is None else (T, B, sizes[l + 1])
    if parts[0] == "loss" and len(parts) == 2:
        if parts[1] == "value":
            return ()
        if parts[1] in ("dL_dS", "dL_dt", "dL_da"):
            return (T, B, sizes[-1])
        return None
    if parts[0] == "gradients" and len(parts) == 4 and parts[2] in ("dW", "db"):
        l = layer(parts[3])
        if l is None:
            return None
        return (sizes[l], sizes[l + 1]) if parts[2] == "dW" else (sizes[l + 1],)
    if parts[0] == "adjoints" and len(parts) == 4:
        l = layer(parts[2])
        return None if l is None else (T, B, sizes[l + 1])
    return None
