"""What the restricted unpickler of :mod:`.safe_pickle` may build, and nothing else.

- Stub classes that stand in for the classes a weight pickle names: :class:`EasyDict`
  (``dnnlib.util.EasyDict``), :class:`PersistentObject` (a module pickled through NVIDIA's
  ``torch_utils.persistence``, its embedded source kept as text and never executed) and
  :class:`TFNetwork` (``dnnlib.tflib.network.Network``).
- One function written here for each allowed global: tensors rebuilt from their storages
  (storages are ``torch.save`` bytes read with ``torch.load(weights_only=True)``), numeric numpy
  arrays and scalars, and a few harmless containers; each checks its arguments and raises
  :class:`~dpinpaint.errors.UnsafeCheckpointError` on anything else.
- The allow-lists :data:`NVIDIA_PYTORCH_GLOBALS` and :data:`NVIDIA_TF_GLOBALS`: ``(module, name)``
  -> the object returned for it.
"""

from __future__ import annotations

import inspect
import re
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, UnsafeCheckpointError
from .file_faults import describe, weights_only_load

__all__ = ["EasyDict", "PersistentObject", "TFNetwork", "NVIDIA_PYTORCH_GLOBALS", "NVIDIA_TF_GLOBALS"]


# --------------------------------------------------------------------------------------------
# Stubs created by the restricted unpickler
# --------------------------------------------------------------------------------------------
class EasyDict(dict):  # type: ignore[type-arg]
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (no attribute magic)."""

    def __setstate__(self, state: Any) -> None:
        if state and not isinstance(state, dict):
            raise UnsafeCheckpointError("malformed dnnlib EasyDict state in the pickle")


class PersistentObject:
    """An object pickled through NVIDIA's ``torch_utils.persistence`` (never instantiated for real).

    Attributes:
        class_name: the original class name (e.g. ``"SynthesisLayer"``).
        module_src: the embedded module source, kept as text only.
        state: the object's ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``,
            ``_init_args``, ``_init_kwargs`` and plain attributes).
    """

    def __init__(self, class_name: str, module_src: str, version: int, state: dict[str, Any]) -> None:
        self.class_name = class_name
        self.module_src = module_src
        self.version = version
        self.state = state

    def __setstate__(self, state: Any) -> None:
        # NVIDIA's persistence pickles these by one call, never with a state to set afterwards.
        raise CheckpointError("malformed network pickle: it sets the state of a persistent object")

    def _dict(self, key: str) -> dict[str, Any]:
        value = self.state.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise CheckpointError(f"malformed persistent object {self.class_name}: {key} is not a dict of names")
        return value

    @property
    def parameters(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self._dict("_parameters").items() if v is not None}

    @property
    def buffers(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self._dict("_buffers").items() if v is not None}

    @property
    def modules(self) -> dict[str, PersistentObject]:
        out = {}
        for name, mod in self._dict("_modules").items():
            if mod is None:
                continue
            if not isinstance(mod, PersistentObject):
                raise CheckpointError(f"malformed network pickle: sub-module {name!r} is a {type(mod).__name__}")
            out[name] = mod
        return out

    @property
    def init_kwargs(self) -> dict[str, Any]:
        value = self.state.get("_init_kwargs")
        return dict(value) if isinstance(value, dict) else {}

    def child(self, name: str) -> PersistentObject | None:
        return self.modules.get(name)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Every parameter and buffer, recursively, with dotted names (as ``named_parameters``)."""
        out = {prefix + k: v for k, v in {**self.parameters, **self.buffers}.items()}
        for name, mod in self.modules.items():
            out.update(mod.tensors(f"{prefix}{name}."))
        return out

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"


class TFNetwork:
    """Stand-in for ``dnnlib.tflib.network.Network``: keeps the pickled state, builds nothing."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CheckpointError("malformed TensorFlow network pickle: the Network state is not a dict")
        self.state = state

    @property
    def name(self) -> str:
        name = self.state.get("name")
        return name if isinstance(name, str) else "?"

    @property
    def static_kwargs(self) -> dict[str, Any]:
        value = self.state.get("static_kwargs")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def components(self) -> dict[str, TFNetwork]:
        value = self.state.get("components")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise CheckpointError("malformed TensorFlow network pickle: the components are not a dict")
        return {k: v for k, v in value.items() if isinstance(v, TFNetwork)}

    @property
    def build_func_name(self) -> str:
        name = self.state.get("build_func_name")
        return name if isinstance(name, str) else ""

    def variables(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Every variable of this network and its components: ``{"mapping/Dense0/weight": array, ...}``."""
        out: dict[str, np.ndarray] = {}
        items = self.state.get("variables")
        if items is None:
            return out
        if not isinstance(items, (list, tuple)):
            raise CheckpointError("malformed TensorFlow network pickle: its variables are not a list")
        for item in items:
            if not (
                isinstance(item, tuple)
                and len(item) == 2
                and isinstance(item[0], str)
                and isinstance(item[1], (np.ndarray, np.generic, float, int))
            ):
                raise CheckpointError("malformed TensorFlow network pickle: a variable is not a (name, array) pair")
            out[prefix + item[0]] = np.asarray(item[1])
        for name, comp in self.components.items():
            out.update(comp.variables(f"{prefix}{name}/"))
        return out

    def __repr__(self) -> str:
        return f"TFNetwork({self.name})"


# --------------------------------------------------------------------------------------------
# Allowed globals: each maps to a function written here
# --------------------------------------------------------------------------------------------
class _TensorType:
    """Marker returned for ``torch.Tensor`` / ``torch.nn.parameter.Parameter`` class references."""


class _NdarrayType:
    """Marker returned for the ``numpy.ndarray`` class reference."""


_NUMERIC_DTYPE = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248]|c(8|16))$")


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict):
        raise UnsafeCheckpointError("malformed NVIDIA persistent object: its metadata is not a dict")
    kind = meta.get("type")
    if not isinstance(kind, str) or kind != "class":
        raise UnsafeCheckpointError(f"unsupported NVIDIA persistent object type {describe(kind)}")
    state = meta.get("state")
    state = {} if state is None else state
    class_name, src = meta.get("class_name"), meta.get("module_src", "")
    if not isinstance(class_name, str) or not isinstance(state, dict) or not isinstance(src, str):
        raise UnsafeCheckpointError("malformed NVIDIA persistent object metadata")
    version = meta.get("version", 0)
    if not isinstance(version, int):
        raise UnsafeCheckpointError("malformed NVIDIA persistent object metadata (version)")
    return PersistentObject(class_name, src, version, state)


def _load_storage_from_bytes(data: Any) -> Any:
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafeCheckpointError("malformed tensor storage in the pickle (not bytes)")
    storage = weights_only_load(bytes(data), "a tensor storage in the pickle", "a tensor storage inside the pickle")
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafeCheckpointError(f"a tensor storage in the pickle holds a {type(storage).__name__}")
    return storage


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list, torch.Size)) or not all(isinstance(v, int) for v in value):
        raise UnsafeCheckpointError(f"malformed tensor {what} in the pickle: {value!r}")
    return tuple(value)


def _rebuild_tensor(
    storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False, hooks: Any = None, *rest: Any
) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)) or not isinstance(offset, int):
        raise UnsafeCheckpointError("malformed tensor in the pickle")
    dtype = storage.dtype if isinstance(storage, torch.TypedStorage) else torch.uint8
    untyped = storage._untyped_storage if isinstance(storage, torch.TypedStorage) else storage
    size_t, stride_t = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    try:
        return torch.empty((0,), dtype=dtype).set_(untyped, offset, size_t, stride_t)
    except (RuntimeError, OverflowError, ValueError) as exc:
        raise CheckpointError(
            f"a tensor in the pickle does not fit its storage ({exc}); the file is corrupted"
        ) from exc


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, *rest: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafeCheckpointError("malformed parameter in the pickle")
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    if func not in (_rebuild_tensor, _rebuild_parameter) or new_type is not _TensorType or not isinstance(args, tuple):
        raise UnsafeCheckpointError("malformed tensor subclass reconstruction in the pickle")
    try:
        inspect.signature(func).bind(*args)
    except TypeError:
        raise CheckpointError(f"malformed tensor in the pickle: {len(args)} arguments to rebuild it") from None
    return func(*args)  # type: ignore[no-any-return]


def _np_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype[Any]:
    if not isinstance(spec, str) or not _NUMERIC_DTYPE.match(spec):
        raise UnsafeCheckpointError(f"refused numpy dtype {spec!r} in the pickle (only numeric dtypes are read)")
    return np.dtype(spec)


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not _NdarrayType:
        raise UnsafeCheckpointError("refused numpy array subclass in the pickle")
    # BUILD then calls ndarray.__setstate__ with (version, shape, dtype, fortran, raw bytes);
    # the dtype comes from _np_dtype, so it is numeric and the data is raw bytes.
    return np.empty((0,), dtype=np.uint8)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise UnsafeCheckpointError("refused numpy scalar in the pickle")
    if len(data) != dtype.itemsize:
        raise CheckpointError(f"malformed numpy scalar in the pickle: {len(data)} bytes for a {dtype}")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any = "C") -> np.ndarray:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise UnsafeCheckpointError("refused numpy buffer in the pickle")
    if not isinstance(buf, (bytes, bytearray)):
        raise UnsafeCheckpointError("refused numpy buffer in the pickle (not bytes)")
    dims = _int_tuple(shape, "shape")
    count = 1
    for d in dims:
        count *= d
    if any(d < 0 for d in dims) or count * dtype.itemsize != len(buf):
        raise CheckpointError(
            f"malformed numpy array in the pickle: {len(buf)} bytes for a {dtype} array of shape {dims}"
        )
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(dims, order=order).copy()


def _codecs_encode(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError("refused _codecs.encode call in the pickle")
    if any(ord(c) > 255 for c in text):
        raise CheckpointError("malformed byte string in the pickle (a character beyond latin-1)")
    return text.encode("latin1")


def _bytearray(data: Any = b"", *rest: Any) -> bytearray:
    if not isinstance(data, (bytes, bytearray, list)) or (
        isinstance(data, list) and not all(isinstance(v, int) and 0 <= v < 256 for v in data)
    ):
        raise UnsafeCheckpointError("refused bytearray construction in the pickle")
    return bytearray(data)


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if cls not in (EasyDict, TFNetwork) or base not in (object, dict):
        raise UnsafeCheckpointError("refused copyreg._reconstructor call in the pickle")
    if state is not None and not (base is dict and isinstance(state, dict)):
        raise CheckpointError("malformed object reconstruction in the pickle")
    obj = dict.__new__(cls) if base is dict else object.__new__(cls)
    if base is dict and state:
        dict.update(obj, state)
    return obj


def _tensor_globals() -> dict[tuple[str, str], Any]:
    return {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TensorType,
        ("torch.nn.parameter", "Parameter"): _TensorType,
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    }


def _numpy_globals() -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): _NdarrayType, ("numpy", "dtype"): _np_dtype}
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = _np_reconstruct
        out[(f"{core}.multiarray", "scalar")] = _np_scalar
        out[(f"{core}.numeric", "_frombuffer")] = _np_frombuffer
    return out


def _python_globals() -> dict[tuple[str, str], Any]:
    return {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): _bytearray,
        ("_codecs", "encode"): _codecs_encode,
        ("copyreg", "_reconstructor"): _copyreg_reconstructor,
        ("builtins", "object"): object,
        ("builtins", "dict"): dict,
    }


#: NVIDIA PyTorch network pickles (stylegan2-ada-pytorch, stylegan3).
NVIDIA_PYTORCH_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    **_tensor_globals(),
    **_numpy_globals(),
    **_python_globals(),
}

#: NVIDIA TensorFlow network pickles (stylegan2, stylegan2-ada).
NVIDIA_TF_GLOBALS: dict[tuple[str, str], Any] = {
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    **_numpy_globals(),
    **_python_globals(),
}
