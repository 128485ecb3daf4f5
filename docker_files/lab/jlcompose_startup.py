"""Tuned defaults applied at every kernel start (switch them off in .env)."""

# IPython runs this file inside the notebook's own namespace (exec_files), so everything
# lives in one function that is deleted at the end: no name leaks into the user's session.
# No `from __future__` import on purpose: it could leak into the session's compiler flags.
# Silent when all goes well; a problem prints one line on stderr and the kernel carries on.
# JLC_TF32=1: TF32 in fp32 matmuls, cuDNN convolutions and RNNs; 0: full fp32 in all three.
# JLC_CUDNN_BENCHMARK=0 leaves PyTorch's default (autotuner off). See docs/tuning.md.


def _jlcompose_startup():
    import importlib.util
    import os
    import sys

    def say(text):
        sys.stderr.write("jlcompose: " + text + "\n")

    def flag(name, default):
        value = os.environ.get(name, "").strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        if value:
            say(f"{name}={value!r} is neither 1 nor 0; using {int(default)}.")
        return default

    def installed(module):
        # find_spec, not import: importing TensorFlow costs seconds and grabs GPU memory
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # ValueError: a module in sys.modules without spec
            return sys.modules.get(module) is not None

    def fp32_precision(torch, on):
        # TF32 (tensor cores, Ampere and newer) or full fp32 for matmuls, cuDNN convolutions
        # and RNNs. PyTorch >= 2.9 has per-backend `fp32_precision` settings, but it keeps its
        # older view (get_float32_matmul_precision(), allow_tf32) in step only through the
        # older setters, and raises when the two views disagree: so both are written, to the
        # same values. PyTorch 2.9 warns once about the older setters; not in this kernel.
        import warnings

        backends = torch.backends
        fresh = "__warningregistry__" not in globals()  # the notebook's namespace
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.set_float32_matmul_precision("high" if on else "highest")
            backends.cudnn.allow_tf32 = on
        if fresh:  # a warning, even one ignored, leaves its registry in the caller's globals
            globals().pop("__warningregistry__", None)
        if getattr(backends.cuda.matmul, "fp32_precision", None) is not None:
            mode = "tf32" if on else "ieee"
            backends.cuda.matmul.fp32_precision = mode
            backends.cudnn.conv.fp32_precision = mode
            backends.cudnn.rnn.fp32_precision = mode

    benchmark = flag("JLC_CUDNN_BENCHMARK", True)
    tf32 = flag("JLC_TF32", True)
    if installed("torch"):
        try:
            import torch

            if benchmark:  # fastest cuDNN algorithm per input shape, found on first use
                torch.backends.cudnn.benchmark = True
            fp32_precision(torch, tf32)
        except Exception as exc:
            say(f"PyTorch defaults not applied ({type(exc).__name__}: {exc}).")

    if flag("JLC_TF_MIXED_PRECISION", False) and installed("tensorflow"):
        try:
            import tensorflow as tf

            # tf.keras is Keras 3, or Keras 2 (tf_keras) when TF_USE_LEGACY_KERAS=1: both
            # spell the policy call the same
            tf.keras.mixed_precision.set_global_policy("mixed_float16")
        except Exception as exc:
            say(f"TensorFlow mixed precision not applied ({type(exc).__name__}: {exc}).")


try:
    _jlcompose_startup()
except Exception as _jlc_exc:  # never let a start-up default stop the kernel
    import sys as _jlc_sys

    _jlc_sys.stderr.write(f"jlcompose: start-up defaults failed ({_jlc_exc}).\n")
    del _jlc_sys
del _jlcompose_startup
