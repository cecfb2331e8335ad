"""The ConvNeXt sizes: the one table of depths and widths, and its resolution.

A leaf module (it imports nothing from the package), so that the model and the
checkpoint loader both depend on it and not on each other.
"""
from __future__ import annotations

from typing import Dict, List, Tuple, Union

#: name -> (depths, dims, is_v2). ConvNeXt V1 paper Table 11; ConvNeXt V2 paper Table 8.
ARCH_SETTINGS: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...], bool]] = {
    'tiny': ((3, 3, 9, 3), (96, 192, 384, 768), False),
    'small': ((3, 3, 27, 3), (96, 192, 384, 768), False),
    'base': ((3, 3, 27, 3), (128, 256, 512, 1024), False),
    'large': ((3, 3, 27, 3), (192, 384, 768, 1536), False),
    'xlarge': ((3, 3, 27, 3), (256, 512, 1024, 2048), False),
    # OpenCLIP's image tower (LAION-2B CLIP); not in the papers. timm's convnext_xxlarge.
    'xxlarge': ((3, 4, 30, 3), (384, 768, 1536, 3072), False),
    'v2-atto': ((2, 2, 6, 2), (40, 80, 160, 320), True),
    'v2-femto': ((2, 2, 6, 2), (48, 96, 192, 384), True),
    'v2-pico': ((2, 2, 6, 2), (64, 128, 256, 512), True),
    'v2-nano': ((2, 2, 8, 2), (80, 160, 320, 640), True),
    'v2-tiny': ((3, 3, 9, 3), (96, 192, 384, 768), True),
    'v2-base': ((3, 3, 27, 3), (128, 256, 512, 1024), True),
    'v2-large': ((3, 3, 27, 3), (192, 384, 768, 1536), True),
    'v2-huge': ((3, 3, 27, 3), (352, 704, 1408, 2816), True),
}

NUM_STAGES = 4
#: mmpretrain's names for the sizes only V2 was published at: the same depths and dims,
#: with V1 blocks unless ``use_grn=True`` and ``layer_scale_init_value=0`` are also given,
#: as in mmpretrain.
MMPRETRAIN_NAMES: Dict[str, str] = {'atto': 'v2-atto', 'femto': 'v2-femto', 'pico': 'v2-pico',
                                    'nano': 'v2-nano', 'huge': 'v2-huge'}
DEFAULT_EPS = 1e-6
#: LayerNorm eps of the archs trained with another one (timm's convnext_xxlarge: 1e-5).
ARCH_EPS: Dict[str, float] = {'xxlarge': 1e-5}


def arch_eps(arch: Union[str, dict]) -> float:
    """The LayerNorm eps of an arch name, or a custom dict's ``eps`` (default 1e-6)."""
    if isinstance(arch, dict):
        return float(arch.get('eps', DEFAULT_EPS))
    return ARCH_EPS.get(arch, DEFAULT_EPS)


def resolve_arch(arch: Union[str, dict]) -> Tuple[List[int], List[int], bool]:
    """Return ``(depths, dims, is_v2)`` for an arch name or a custom ``dict``.

    A custom arch is ``dict(depths=[...4 ints], dims=[...4 ints])`` (``channels``, as
    mmpretrain spells it, for ``dims``); it counts as V2 (GRN, no layer scale) only with
    ``v2=True``, and may set the LayerNorm ``eps``. mmpretrain's names ``atto`` ...
    ``huge`` (:data:`MMPRETRAIN_NAMES`) are V1 structures of those sizes, as there.
    """
    if isinstance(arch, str):
        if arch in MMPRETRAIN_NAMES:
            depths, dims, _ = ARCH_SETTINGS[MMPRETRAIN_NAMES[arch]]
            return list(depths), list(dims), False
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'Unknown ConvNeXt arch {arch!r}. Allowed names: '
                             f'{sorted(ARCH_SETTINGS)} (and mmpretrain\'s '
                             f'{sorted(MMPRETRAIN_NAMES)}), or a dict(depths=[4 ints], '
                             f'dims=[4 ints]).')
        depths, dims, is_v2 = ARCH_SETTINGS[arch]
        return list(depths), list(dims), is_v2
    if isinstance(arch, dict):
        unknown = set(arch) - {'depths', 'dims', 'channels', 'v2', 'eps'}
        if unknown or 'depths' not in arch or ('dims' in arch) == ('channels' in arch):
            raise ValueError(f'A custom ConvNeXt arch needs exactly the keys depths and '
                             f'dims (or mmpretrain\'s channels; optionally v2 and eps); got '
                             f'keys {sorted(arch)}.')
        depths, dims = list(arch['depths']), list(arch.get('dims', arch.get('channels')))
        for key, values in (('depths', depths), ('dims', dims)):
            if len(values) != NUM_STAGES or not all(
                    isinstance(v, int) and v > 0 for v in values):
                raise ValueError(f'arch[{key!r}] must be {NUM_STAGES} positive ints, '
                                 f'got {values}.')
        return depths, dims, bool(arch.get('v2', False))
    raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}.')


def describe_arch(depths: List[int], dims: List[int], is_v2: bool) -> str:
    """``'small' (depths [...], dims [...])`` or a custom description."""
    for name, (d, c, v2) in ARCH_SETTINGS.items():
        if list(d) == depths and list(c) == dims and v2 == is_v2:
            return f'{name!r} (depths {depths}, dims {dims})'
    kind = 'V2' if is_v2 else 'V1'
    return f'a custom {kind} arch dict(depths={depths}, dims={dims}, v2={is_v2})'
