"""Stand-ins for the two generations of PyTorch's TF32 settings, for the start-up file and the
benchmark (only PyTorch 2.13 installs here, as a CPU build).

`legacy()`: PyTorch before 2.9: `torch.backends.cuda.matmul.allow_tf32` and
`set/get_float32_matmul_precision` are two names for one setting; `cudnn.allow_tf32` is a flag.

`per_backend()`: PyTorch 2.9's ATen Context (aten/src/ATen/Context.cpp), ported line by line:
a tree of per-backend `fp32_precision` values beside the older matmul precision and cuDNN
flag. The older setters write both; the new ones write only the tree; the older getters
raise when the two disagree ("you have used mix of the legacy and new APIs") and warn once
that they are deprecated. PyTorch 2.13 (installed here) behaves the same without the warning.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

DEPRECATED = "Please use the new API settings to control TF32 behavior"
MIXED = "you have used mix of the legacy and new APIs"
PRECISIONS: dict[str, tuple[str, ...]] = {
    "generic": ("ieee", "tf32", "bf16", "none"),
    "mkldnn": ("ieee", "tf32", "bf16", "none"),
    "cuda": ("ieee", "tf32", "none"),
}


class Context:
    """at::Context's TF32 state, as PyTorch 2.9 keeps it."""

    def __init__(self) -> None:
        self.matmul_precision = "highest"  # the older view: float32_matmul_precision
        self.cudnn_flag = True  # allow_tf32_cudnn
        self.tree = {
            "generic": {"all": "none"},
            "cuda": {"all": "none", "conv": "tf32", "rnn": "tf32", "matmul": "none"},
            "mkldnn": {"all": "none", "conv": "none", "rnn": "none", "matmul": "none"},
        }
        self.warned = False

    def _warn(self) -> None:  # TORCH_WARN_ONCE
        if not self.warned:
            self.warned = True
            warnings.warn(
                DEPRECATED + " ... will be deprecated after Pytorch 2.9.", UserWarning, stacklevel=3
            )

    def precision(self, backend: str, op: str) -> str:
        value = self.tree[backend][op]
        if value == "none":
            value = self.tree[backend]["all"]
        if value == "none":
            value = self.tree["generic"]["all"]
        return value if value in PRECISIONS[backend] else "none"

    def set_precision(self, backend: str, op: str, value: str) -> None:
        if value in PRECISIONS[backend]:
            self.tree[backend][op] = value
        else:
            warnings.warn(f"you have set wrong precision for backend:{backend}", UserWarning, stacklevel=3)

    def allow_tf32_cudnn(self) -> bool:
        rnn = self.precision("cuda", "rnn") == "tf32"
        conv = self.precision("cuda", "conv") == "tf32"
        if not rnn == conv == self.cudnn_flag:
            raise RuntimeError("PyTorch is checking whether allow_tf32 is enabled for cuDNN ... " + MIXED)
        self._warn()
        return self.cudnn_flag

    def set_allow_tf32_cudnn(self, on: bool) -> None:
        self.set_precision("cuda", "rnn", "tf32" if on else "none")
        self.set_precision("cuda", "conv", "tf32" if on else "none")
        self.cudnn_flag = on
        self._warn()

    def allow_tf32_cublas(self) -> bool:
        legacy = self.matmul_precision != "highest"
        new = self.precision("cuda", "matmul") == "tf32"
        if legacy != new:
            raise RuntimeError(
                "PyTorch is checking whether allow_tf32_new is enabled for cuBlas matmul," + MIXED
            )
        self._warn()
        return new

    def set_allow_tf32_cublas(self, on: bool) -> None:
        self.matmul_precision = "high" if on else "highest"
        self.set_precision("cuda", "matmul", "tf32" if on else "ieee")

    def float32_matmul_precision(self) -> str:
        invalid = self.precision("cuda", "matmul") == "tf32" and self.matmul_precision == "highest"
        invalid |= self.precision("mkldnn", "matmul") == "bf16" and self.matmul_precision != "medium"
        invalid |= self.precision("mkldnn", "matmul") == "tf32" and self.matmul_precision != "high"
        if invalid:
            raise RuntimeError(
                "PyTorch is checking the matmul precision without a specific backend name," + MIXED
            )
        self._warn()
        return self.matmul_precision

    def set_float32_matmul_precision(self, value: str) -> None:
        self._warn()
        cuda, mkldnn = {"highest": ("ieee", "ieee"), "high": ("tf32", "tf32"), "medium": ("tf32", "bf16")}[
            value
        ]
        self.matmul_precision = value
        self.set_precision("cuda", "matmul", cuda)
        self.set_precision("mkldnn", "matmul", mkldnn)


class _Op:
    """torch.backends.cudnn.conv / .rnn: an `fp32_precision` property on one tree node."""

    def __init__(self, ctx: Context, backend: str, op: str) -> None:
        object.__setattr__(self, "_where", (ctx, backend, op))

    def __getattr__(self, name: str) -> Any:
        ctx, backend, op = object.__getattribute__(self, "_where")
        if name == "fp32_precision":
            return ctx.precision(backend, op)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        ctx, backend, op = object.__getattribute__(self, "_where")
        if name != "fp32_precision":
            raise AttributeError(name)
        ctx.set_precision(backend, op, value)


class _Matmul:
    """torch.backends.cuda.matmul (cuBLASModule): unknown names raise AttributeError."""

    def __init__(self, ctx: Context, new_api: bool) -> None:
        object.__setattr__(self, "_ctx", (ctx, new_api))

    def __getattr__(self, name: str) -> Any:
        ctx, new_api = object.__getattribute__(self, "_ctx")
        if name == "allow_tf32":
            return ctx.allow_tf32_cublas() if new_api else ctx.matmul_precision != "highest"
        if name == "fp32_precision" and new_api:
            return ctx.precision("cuda", "matmul")
        raise AttributeError(f"Unknown attribute {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        ctx, new_api = object.__getattribute__(self, "_ctx")
        if name == "allow_tf32":
            if new_api:
                ctx.set_allow_tf32_cublas(bool(value))
            else:
                ctx.matmul_precision = "high" if value else "highest"
        elif name == "fp32_precision" and new_api:
            ctx.set_precision("cuda", "matmul", value)
        else:
            raise AttributeError(f"Unknown attribute {name}")


class _Cudnn:
    def __init__(self, ctx: Context, new_api: bool) -> None:
        object.__setattr__(self, "_ctx", (ctx, new_api))
        object.__setattr__(self, "benchmark", False)
        if new_api:
            object.__setattr__(self, "conv", _Op(ctx, "cuda", "conv"))
            object.__setattr__(self, "rnn", _Op(ctx, "cuda", "rnn"))

    def __getattr__(self, name: str) -> Any:  # only for names not set on the instance
        ctx, new_api = object.__getattribute__(self, "_ctx")
        if name == "allow_tf32":
            return ctx.allow_tf32_cudnn() if new_api else ctx.cudnn_flag
        if name == "fp32_precision" and new_api:
            return ctx.precision("cuda", "all")
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        ctx, new_api = object.__getattribute__(self, "_ctx")
        if name == "allow_tf32":
            if new_api:
                ctx.set_allow_tf32_cudnn(bool(value))
            else:
                ctx.cudnn_flag = bool(value)
        elif name == "fp32_precision" and new_api:
            ctx.set_precision("cuda", "all", value)
        elif name == "benchmark":
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(name)


def _torch(new_api: bool) -> types.ModuleType:
    ctx = Context()
    torch = types.ModuleType("torch")
    torch.context = ctx  # type: ignore[attr-defined]  # for the tests' own look
    torch.backends = types.SimpleNamespace(  # type: ignore[attr-defined]
        cuda=types.SimpleNamespace(matmul=_Matmul(ctx, new_api)),
        cudnn=_Cudnn(ctx, new_api),
    )
    if new_api:
        torch.set_float32_matmul_precision = ctx.set_float32_matmul_precision  # type: ignore[attr-defined]
        torch.get_float32_matmul_precision = ctx.float32_matmul_precision  # type: ignore[attr-defined]
    else:

        def set_precision(value: str) -> None:
            if value not in ("highest", "high", "medium"):
                raise RuntimeError(f"no such precision: {value}")
            ctx.matmul_precision = value

        torch.set_float32_matmul_precision = set_precision  # type: ignore[attr-defined]
        torch.get_float32_matmul_precision = lambda: ctx.matmul_precision  # type: ignore[attr-defined]
    return torch


def legacy() -> types.ModuleType:
    """PyTorch 1.12 to 2.8."""
    return _torch(new_api=False)


def per_backend() -> types.ModuleType:
    """PyTorch 2.9 and later."""
    return _torch(new_api=True)


def every_reading(torch: Any) -> dict[str, Any]:
    """What each of PyTorch's readers says; a reader that raises gives 'raises'."""
    b = torch.backends
    readers = {
        "get_float32_matmul_precision": torch.get_float32_matmul_precision,
        "matmul.allow_tf32": lambda: b.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": lambda: b.cudnn.allow_tf32,
    }
    if getattr(b.cuda.matmul, "fp32_precision", None) is not None:
        readers["matmul.fp32_precision"] = lambda: b.cuda.matmul.fp32_precision
        readers["conv.fp32_precision"] = lambda: b.cudnn.conv.fp32_precision
        readers["rnn.fp32_precision"] = lambda: b.cudnn.rnn.fp32_precision
    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a probe: PyTorch 2.9's deprecation notes are not its business
        for name, read in readers.items():
            try:
                out[name] = read()
            except RuntimeError:
                out[name] = "raises"
    return out
