r"""Optimisers and the learning-rate schedule of the official training codes (spec 3.6, 7.5, 7.6).

The official codes use ``torch.optim``: ANTLR ``Adam`` (or ``SGD``, momentum 0) with L2
``weight_decay`` and ``StepLR(step_size=10, gamma=0.1)`` stepped once per epoch (spec 7.5);
TSSL-BP ``AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)`` (spec 7.6, A30). This module
re-implements exactly those update rules on a list of numpy arrays (e.g. ``net.weights + net.biases``),
updated **in place**, float64 (reference) or float32.

Floating-point operation order follows PyTorch's single-tensor CPU path of the 2020 releases used by
the official codes (``m.mul_(beta1).add_(g, alpha=1 - beta1)``, ``v.mul_(beta2).addcmul_(g, g,
value=1 - beta2)``, ``p.addcdiv_(m, denom, value=-step_size)`` = ``p + (-step_size * m) / denom``);
PyTorch >= 2.0 computes the first moment with ``lerp_``, which differs by at most an ulp or so.
Python-float hyper-parameters are applied as "weak" scalars, so float32 parameters stay float32
(as torch does with float32 tensors).

Typical use::

    params = net.weights + net.biases
    opt = make_optimizer("adam", params, lr=1e-3)
    sched = StepLR(opt, step_size=10, gamma=0.1)
    for epoch in range(n_epochs):
        for batch in ...:
            grads = backward(...)                       # Gradients(dW, db, ...)
            opt.step(grads.dW + grads.db)               # same order as params
        sched.step()
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
"""
import math

import numpy as np

from .._jit import kernel

from .. import _validate as V

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "StepLR", "make_optimizer", "OPTIMIZERS"]


def _check_params(params):
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)):
        raise TypeError(
            f"params must be a list of numpy arrays (e.g. net.weights + net.biases); got {type(params).__name__}."
        )
    if len(params) == 0:
        raise ValueError("params is empty: expected at least one array to optimise.")
    seen = {}
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray):
            raise TypeError(
                f"params[{i}] must be a numpy array (updated in place); got {type(p).__name__}. "
                "Pass the network's own arrays, e.g. net.weights + net.biases."
            )
        if p.dtype not in (np.float64, np.float32):
            raise TypeError(f"params[{i}] must be float64 or float32; got dtype {p.dtype}. Use .astype(np.float64).")
        if not p.flags.writeable:
            raise ValueError(
                f"params[{i}] is read-only; the optimiser updates parameters in place. Pass a writeable copy."
            )
        if not p.flags.c_contiguous:
            raise ValueError(
                f"params[{i}] is not C-contiguous (a transposed or strided view); the optimiser updates the "
                "array's memory in place. Pass the network's own arrays (net.weights + net.biases).")
        if id(p) in seen:
            raise ValueError(f"params[{i}] is the same array as params[{seen[id(p)]}]; pass each parameter once.")
        seen[id(p)] = i
    return list(params)


def _check_lr(lr):
    return V.check_scalar(lr, "lr", lo=0.0, lo_open=True, hint="The learning rate must be positive (e.g. 1e-3).")


class Optimizer:
    """Base class: holds the parameter list, validates gradients and hyper-parameters.

    Subclasses implement ``_update(i, p, g)`` for one parameter with a validated gradient ``g``
    of the parameter's dtype and shape, and the state (de)serialisation.
    """

    #: name stored in ``state_dict()["type"]``
    type_name = "Optimizer"

    def __init__(self, params, lr):
        self.params = _check_params(params)
        self.lr = lr

    @property
    def lr(self):
        """Current learning rate (settable; validated > 0). Schedulers write it once per epoch."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _check_lr(value)

    def _check_grads(self, grads):
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            raise TypeError(
                f"grads must be a list aligned with params (None to skip a parameter); got {type(grads).__name__}."
            )
        if len(grads) != len(self.params):
            raise ValueError(
                f"grads has {len(grads)} entries but the optimiser holds {len(self.params)} parameters; "
                "pass one gradient (or None) per parameter, in the same order (e.g. grads.dW + grads.db)."
            )
        out = []
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                out.append(None)
                continue
            g = np.asarray(g)
            if g.dtype.kind != "f":
                raise TypeError(f"grads[{i}] must be a floating array; got dtype {g.dtype}.")
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{i}] has shape {g.shape} but params[{i}] has shape {p.shape}; they must match."
                )
            V.check_finite(g, f"grads[{i}]")
            out.append(g.astype(p.dtype, copy=False))
        return out

    def step(self, grads):
        """Apply one update to every parameter whose gradient is not None (in place).

        Parameters
        ----------
        grads : list of (ndarray or None)
            One entry per parameter, same shape; cast to the parameter's dtype. Non-finite
            gradients are rejected: apply ``snnref.postprocess.nan_to_zero`` / clipping first
            (spec 3.6).
        """
        for i, g in enumerate(self._check_grads(grads)):
            if g is not None:
                self._update(i, self.params[i], g)

    # -- state ------------------------------------------------------------------------------------
    def _hyper(self):
        return {"lr": self.lr}

    def _set_hyper(self, d):
        self.lr = d["lr"]

    def _buffers(self):
        """name -> list (one per parameter) of arrays or None."""
        return {}

    def state_dict(self):
        """Return a copy of the full state as a plain dict (numbers, tuples, lists of arrays/None).

        Keys: ``type``, the hyper-parameters (``lr`` ...), per-parameter buffers (lists aligned
        with params; None before the first update of that parameter) and, for Adam/AdamW,
        ``step`` (int64 array: per-parameter update counts, as torch keeps them).
        """
        d = {"type": self.type_name}
        d.update(self._hyper())
        for name, bufs in self._buffers().items():
            d[name] = [None if b is None else b.copy() for b in bufs]
        return d

    def _load_buffer_list(self, d, name):
        bufs = d[name]
        if not isinstance(bufs, (list, tuple)) or len(bufs) != len(self.params):
            n = len(bufs) if isinstance(bufs, (list, tuple)) else type(bufs).__name__
            raise ValueError(
                f"state_dict['{name}'] must be a list of {len(self.params)} arrays (one per parameter); got {n}. "
                "The state was saved for a different set of parameters (network architecture)."
            )
        out = []
        for i, (b, p) in enumerate(zip(bufs, self.params)):
            if b is None:
                out.append(None)
                continue
            b = np.asarray(b)
            if b.dtype.kind != "f" or b.shape != p.shape:
                raise ValueError(
                    f"state_dict['{name}'][{i}] has shape {b.shape} and dtype {b.dtype}; expected a floating array "
                    f"of shape {p.shape} like params[{i}]. The state was saved for a different network architecture."
                )
            V.check_finite(b, f"state_dict['{name}'][{i}]")
            out.append(np.array(b, dtype=p.dtype, copy=True))
        return out

    def load_state_dict(self, d):
        """Restore a state produced by :meth:`state_dict` (validated; arrays are copied).

        As in torch, the saved hyper-parameters (lr, betas, ...) replace the current ones.
        Buffers are cast to the parameters' dtype.
        """
        if not isinstance(d, dict):
            raise TypeError(f"state_dict must be a dict from Optimizer.state_dict(); got {type(d).__name__}.")
        if d.get("type") != self.type_name:
            raise ValueError(
                f"state_dict is for optimiser type {d.get('type')!r} but this optimiser is {self.type_name!r}; "
                "create the same optimiser as the saved run (see the saved config)."
            )
        required = set(self._hyper()) | set(self._buffers())
        missing = sorted(required - set(d))
        if missing:
            raise ValueError(f"state_dict lacks key(s) {missing} required by {self.type_name}; it is incomplete.")
        loaded = {name: self._load_buffer_list(d, name) for name in self._buffers()}
        backup = dict(self.__dict__)
        try:
            self._set_hyper(d)
            self._set_buffers(loaded, d)
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(backup)     # a rejected state leaves the optimiser unchanged
            raise

    def _set_buffers(self, loaded, d):
        pass

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{self.type_name}({len(self.params)} params, {hyper})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum and L2 weight decay (torch.optim.SGD, dampening 0).

    For each parameter p with gradient g (spec 7.5: official ANTLR ``sgd`` option, momentum 0)::

        g   <- g + weight_decay * p
        buf <- g                          (first update)
        buf <- momentum * buf + g         (later updates; only when momentum > 0)
        d   <- g + momentum * buf  if nesterov  else  buf   (d = g when momentum == 0)
        p   <- p - lr * d

    Parameters
    ----------
    params : list of ndarray
        float64 or float32 arrays, updated in place.
    lr : float > 0
    momentum : float >= 0
    weight_decay : float >= 0
    nesterov : bool
        Nesterov momentum (requires momentum > 0).
    """

    type_name = "SGD"

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        self.momentum = V.check_scalar(momentum, "momentum", lo=0.0)
        self.weight_decay = V.check_scalar(weight_decay, "weight_decay", lo=0.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False; got {nesterov!r}.")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True requires momentum > 0; got momentum=0.0. Set momentum (e.g. 0.9).")
        self.momentum_buffer = [None] * len(self.params)

    def _update(self, i, p, g):
        if self.weight_decay != 0.0:
            g = g + self.weight_decay * p
        d = g
        if self.momentum != 0.0:
            buf = self.momentum_buffer[i]
            if buf is None:
                buf = g.copy()
                self.momentum_buffer[i] = buf
            else:
                buf *= self.momentum
                buf += g
            d = g + self.momentum * buf if self.nesterov else buf
        p += (-self.lr) * d

    def _hyper(self):
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov}

    def _set_hyper(self, d):
        SGD.__init__(self, self.params, d["lr"], d["momentum"], d["weight_decay"], d["nesterov"])

    def _buffers(self):
        return {"momentum_buffer": self.momentum_buffer}

    def _set_buffers(self, loaded, d):
        self.momentum_buffer = loaded["momentum_buffer"]


@kernel
def _adam_kernel(p, g, m, v, shrink, decoupled, wd, decay, beta1, c1, beta2, c2, sqrt_bc2, eps, neg_step):
    """One Adam update of the flat arrays p, m, v (in place) with gradient g, element by element in one
    pass, in the operation order of torch's single-tensor path (module docstring)::

        p <- p shrink   (if decoupled: AdamW)
        g <- g + wd p   (if decay);   m <- m beta1 + c1 g;   v <- v beta2 + (c2 g) g
        p <- p + (neg_step m) / (sqrt(v) / sqrt_bc2 + eps)

    The scalars come in the arrays' dtype, so float32 parameters are updated in float32 arithmetic,
    exactly as the array expressions with Python-float ("weak") scalars compute them."""
    for i in range(p.shape[0]):  # memory-bound: one thread is as fast as two here
        if decoupled:
            p[i] = p[i] * shrink
        gi = g[i]
        if decay:
            gi = gi + wd * p[i]
        mi = m[i] * beta1
        mi = mi + c1 * gi
        vi = v[i] * beta2
        vi = vi + (c2 * gi) * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] + (neg_step * mi) / (np.sqrt(vi) / sqrt_bc2 + eps)


class Adam(Optimizer):
    r"""Adam with L2 weight decay added to the gradient (torch.optim.Adam, amsgrad off).

    Official ANTLR optimiser (spec 7.3-7.5: lr 1e-3, betas (0.9, 0.999), eps 1e-8). For each
    parameter p with gradient g, at its k-th update (k = 1, 2, ...)::

        g     <- g + weight_decay * p
        m     <- beta1 * m + (1 - beta1) * g          (m = v = 0 before the first update)
        v     <- beta2 * v + (1 - beta2) * g * g
        denom =  sqrt(v) / sqrt(1 - beta2**k) + eps
        p     <- p - lr / (1 - beta1**k) * m / denom

    Parameters
    ----------
    params : list of ndarray
        float64 or float32 arrays, updated in place.
    lr : float > 0
    betas : (float, float), each in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
        L2 penalty coefficient (coupled: it passes through the moments).
    """

    type_name = "Adam"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self._set_hyper({"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        n = len(self.params)
        self.step_count = np.zeros(n, dtype=np.int64)
        self.exp_avg = [None] * n
        self.exp_avg_sq = [None] * n

    def _set_hyper(self, d):
        betas = d["betas"]
        if isinstance(betas, np.ndarray):
            betas = betas.tolist()
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}.")
        b1 = V.check_scalar(betas[0], "betas[0]", lo=0.0, hi=1.0, hi_open=True, hint="Typical value: 0.9.")
        b2 = V.check_scalar(betas[1], "betas[1]", lo=0.0, hi=1.0, hi_open=True, hint="Typical value: 0.999.")
        lr = _check_lr(d["lr"])
        eps = V.check_scalar(d["eps"], "eps", lo=0.0, lo_open=True, hint="Typical value: 1e-8.")
        weight_decay = V.check_scalar(d["weight_decay"], "weight_decay", lo=0.0)
        self.lr, self.betas, self.eps, self.weight_decay = lr, (b1, b2), eps, weight_decay

    def _hyper(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def _buffers(self):
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def state_dict(self):
        d = super().state_dict()
        d["step"] = self.step_count.copy()
        return d

    def _set_buffers(self, loaded, d):
        if "step" not in d:
            raise ValueError(f"state_dict lacks key(s) ['step'] required by {self.type_name}; it is incomplete.")
        step = np.asarray(d["step"])
        if step.shape != (len(self.params),) or step.dtype.kind not in "iu" or (step < 0).any():
            raise ValueError(
                f"state_dict['step'] must hold {len(self.params)} non-negative integers (one per parameter); "
                f"got {step!r}. The state was saved for a different set of parameters."
            )
        for i, k in enumerate(step):
            if (k == 0) != (loaded["exp_avg"][i] is None) or (k == 0) != (loaded["exp_avg_sq"][i] is None):
                raise ValueError(
                    f"state_dict is inconsistent for parameter {i}: step {int(k)} but moments "
                    f"{'missing' if loaded['exp_avg'][i] is None else 'present'}; the state is damaged."
                )
        self.step_count = step.astype(np.int64, copy=True)
        self.exp_avg = loaded["exp_avg"]
        self.exp_avg_sq = loaded["exp_avg_sq"]

    def _decay(self):
        """``(wd, shrink)``: the coupled L2 coefficient added to the gradient (Adam) and the factor the
        parameter is first multiplied by (1: none; AdamW's decoupled decay overrides)."""
        return self.weight_decay, 1.0

    def _update(self, i, p, g):
        beta1, beta2 = self.betas
        wd, shrink = self._decay()
        if self.exp_avg[i] is None:
            self.exp_avg[i] = np.zeros_like(p)
            self.exp_avg_sq[i] = np.zeros_like(p)
        m, v = self.exp_avg[i], self.exp_avg_sq[i]
        self.step_count[i] += 1
        k = int(self.step_count[i])
        bias_correction1 = 1.0 - beta1 ** k
        bias_correction2 = 1.0 - beta2 ** k
        step_size = self.lr / bias_correction1
        # the Python-float factors as "weak" scalars: rounded to the parameter dtype, then applied
        d = p.dtype.type
        flat = (a.reshape(-1) for a in (p, np.ascontiguousarray(g), m, v))
        _adam_kernel(*flat, d(shrink), shrink != 1.0, d(wd), wd != 0.0, d(beta1), d(1.0 - beta1), d(beta2),
                     d(1.0 - beta2), d(math.sqrt(bias_correction2)), d(self.eps), d(-step_size))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (torch.optim.AdamW, amsgrad off).

    Official TSSL-BP optimiser (spec 7.6, A30: lr 5e-4 or 2e-4, betas (0.9, 0.999), eps 1e-8,
    weight_decay = 0.01, torch's default). For each parameter with a gradient::

        p <- p * (1 - lr * weight_decay)
        then the Adam update of :class:`Adam` with weight_decay = 0 (the decay never enters m, v).

    Parameters are as for :class:`Adam`; ``weight_decay`` defaults to 0.01.
    """

    type_name = "AdamW"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self):
        return 0.0, 1.0 - self.lr * self.weight_decay  # p <- p (1 - lr wd), then Adam without decay


OPTIMIZERS = {"adam": Adam, "sgd": SGD, "adamw": AdamW}


def make_optimizer(name, params, lr, weight_decay=0.0, momentum=0.0, betas=(0.9, 0.999), eps=1e-8):
    """Build an optimiser by name (config option ``optimizer``, spec 11).

    Parameters
    ----------
    name : {"adam", "sgd", "adamw"}
        Case-insensitive. "adam": :class:`Adam` (official ANTLR); "sgd": :class:`SGD`;
        "adamw": :class:`AdamW` (official TSSL-BP; pass weight_decay=0.01 for torch's default).
    params : list of ndarray
        Updated in place.
    lr, weight_decay : float
        Learning rate (> 0) and weight decay (>= 0; L2 for adam/sgd, decoupled for adamw).
    momentum : float
        SGD only; must be 0 for adam/adamw.
    betas, eps :
        Adam/AdamW only (ignored by sgd).
    """
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}.")
    key = name.lower()
    if key == "sgd":
        return SGD(params, lr, momentum=momentum, weight_decay=weight_decay)
    if V.check_scalar(momentum, "momentum", lo=0.0) != 0.0:
        raise ValueError(
            f"momentum applies only to the 'sgd' optimiser; got momentum={momentum!r} with {name!r}. "
            "Use betas for Adam/AdamW or set momentum=0."
        )
    return OPTIMIZERS[key](params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class StepLR:
    r"""Step decay of the learning rate, stepped once per epoch (torch.optim.lr_scheduler.StepLR).

    After the e-th call of :meth:`step` (e = ``last_epoch``)::

        lr = base_lr * gamma ** (e // step_size)

    Official ANTLR code: StepLR(step_size=10, gamma=0.1), stepped after each epoch (spec 7.5).
    torch computes the same value by repeated multiplication (lr * gamma at each boundary); the
    closed form used here can differ from it by a few ulp after several decays.

    Parameters
    ----------
    optimizer : Optimizer
        Its ``lr`` at construction is ``base_lr``.
    step_size : int >= 1
    gamma : float > 0
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an snnref.optim optimiser; got {type(optimizer).__name__}.")
        if isinstance(step_size, (bool, np.bool_)) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
            raise ValueError(f"step_size must be an integer >= 1 (epochs between decays); got {step_size!r}.")
        self.optimizer = optimizer
        self.step_size = int(step_size)
        self.gamma = V.check_scalar(gamma, "gamma", lo=0.0, lo_open=True, hint="Typical value: 0.1.")
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self):
        """Learning rate for the current ``last_epoch``."""
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)

    def step(self):
        """Advance one epoch and write the new learning rate into the optimiser."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()

    def state_dict(self):
        return {"type": "StepLR", "step_size": self.step_size, "gamma": self.gamma, "base_lr": self.base_lr,
                "last_epoch": self.last_epoch}

    def load_state_dict(self, d):
        """Restore a state from :meth:`state_dict` and set the optimiser's lr accordingly."""
        if not isinstance(d, dict) or d.get("type") != "StepLR":
            got = d.get("type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"state_dict is not a StepLR state (type {got!r}); pass StepLR.state_dict() output.")
        missing = sorted({"step_size", "gamma", "base_lr", "last_epoch"} - set(d))
        if missing:
            raise ValueError(f"StepLR state_dict lacks key(s) {missing}; it is incomplete.")
        last = d["last_epoch"]
        if isinstance(last, (bool, np.bool_)) or not isinstance(last, (int, np.integer)) or last < 0:
            raise ValueError(f"StepLR state_dict['last_epoch'] must be an integer >= 0; got {last!r}.")
        StepLR.__init__(self, self.optimizer, d["step_size"], d["gamma"])
        self.base_lr = _check_lr(d["base_lr"])
        self.last_epoch = int(last)
        self.optimizer.lr = self.get_lr()
