"""Checks and adjustments train/test make before building anything from a config.

A missing dataset or checkpoint should stop a run at once with the path that was expected
and how to fix it, not after minutes of building (or deep inside a dataset class).
"""
from __future__ import annotations

import math
import os
import os.path as osp
from typing import Iterable, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from .arguments import inner_model

DATASET_HINTS = {
    'CocoDataset': 'COCO 2017 from https://cocodataset.org/#download (train2017, val2017 '
                   'and annotations_trainval2017), unpacked as data/coco/{train2017,val2017,'
                   'annotations}',
    'ADE20KDataset': 'ADEChallengeData2016.zip from http://sceneparsing.csail.mit.edu/, '
                     'unpacked as data/ade/ADEChallengeData2016/{images,annotations}',
}


def _leaf_datasets(dataset_cfg, key: str = 'dataset') -> Iterable[Tuple[str, dict]]:
    """``(config key, dataset)`` of the real datasets inside wrappers (RepeatDataset, ...)."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:
        for i, inner in enumerate(dataset_cfg['datasets']):
            yield from _leaf_datasets(inner, f'{key}.datasets.{i}')
    elif 'dataset' in dataset_cfg:
        yield from _leaf_datasets(dataset_cfg['dataset'], f'{key}.dataset')
    else:
        yield key, dataset_cfg


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or path.startswith(root) else osp.join(root, path)


def missing_dataset_paths(cfg: Config, phases: Tuple[str, ...]) -> List[Tuple[str, str, str]]:
    """``[(config key, dataset type, missing path), ...]`` for the given phases."""
    missing = []
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader:
            continue
        for where, dataset in _leaf_datasets(loader.get('dataset')):
            root = dataset.get('data_root', '') or ''
            paths = [('data_root', root)] if root else []
            if dataset.get('ann_file'):
                paths.append(('ann_file', _join(root, dataset['ann_file'])))
            for key, prefix in (dataset.get('data_prefix') or {}).items():
                if prefix:
                    paths.append((f'data_prefix.{key}', _join(root, prefix)))
            for key, path in paths:
                if not osp.exists(path):
                    missing.append((f'{phase}_dataloader.{where}.{key}',
                                    dataset.get('type', '?'), path))
        evaluator = cfg.get(f'{phase}_evaluator')
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if isinstance(metric, dict) and metric.get('ann_file'):
                if not osp.exists(metric['ann_file']):
                    missing.append((f'{phase}_evaluator.ann_file', metric.get('type', '?'),
                                    metric['ann_file']))
    return missing


PLACEHOLDER_ROOT = '/path/to/data/'


def relocation_options(cfg: Config, phases: Tuple[str, ...]) -> List[str]:
    """``--cfg-options`` that move every dataset of ``phases`` (and the evaluators' files
    under the same root) to ``PLACEHOLDER_ROOT``, keeping the layout below the root."""
    options, roots = [], {}
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader:
            continue
        for where, dataset in _leaf_datasets(loader.get('dataset')):
            root = dataset.get('data_root') or ''
            option = f'{phase}_dataloader.{where}.data_root={PLACEHOLDER_ROOT}'
            if option not in options:
                options.append(option)
            roots.setdefault(phase, root)
        evaluator = cfg.get(f'{phase}_evaluator')
        root = roots.get(phase, '')
        if isinstance(evaluator, dict) and evaluator.get('ann_file') and root and \
                evaluator['ann_file'].startswith(root):
            rest = evaluator['ann_file'][len(root):].lstrip('/')
            options.append(f'{phase}_evaluator.ann_file={PLACEHOLDER_ROOT}{rest}')
    return options


def check_datasets(cfg: Config, phases: Tuple[str, ...], command: str = '') -> None:
    """Stop with an actionable message if a dataset the run needs is not on disk.

    ``command`` (the tool and config that were run) makes the suggested fix a whole
    command line; every option it names is a key of this config.
    """
    missing = missing_dataset_paths(cfg, phases)
    if not missing:
        return
    lines = [f'Dataset not found: {len(missing)} path(s) the config expects do not exist '
             f'(relative to {os.getcwd()}):']
    lines += [f'  {key} ({kind}): {path}' for key, kind, path in missing]
    kinds = sorted({kind for _, kind, _ in missing if kind in DATASET_HINTS})
    for kind in kinds:
        lines.append(f'Get {kind} data: {DATASET_HINTS[kind]}.')
    lines.append(f'Or point the config at your copy (replace {PLACEHOLDER_ROOT} with the '
                 f'folder that holds the layout above):')
    lines.append(f'  {command or "..."} --cfg-options '
                 + ' '.join(relocation_options(cfg, phases)))
    lines.append('For a run on generated data, see configs/demo/ and tools/make_demo_data.py.')
    raise SystemExit('\n'.join(lines))


def _pretrained_checkpoints(node) -> Iterable[str]:
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and node.get('checkpoint'):
            yield node['checkpoint']
        for value in node.values():
            yield from _pretrained_checkpoints(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _pretrained_checkpoints(value)


def _model_and_backbone(cfg: Config) -> Tuple[dict, dict]:
    """The model config (inside a TTA wrapper if there is one) and its backbone config."""
    model = inner_model(cfg)
    return model, model.get('backbone') or {}


def check_pretrained(cfg: Config) -> None:
    """Stop if an ``init_cfg`` names a local checkpoint that does not exist."""
    for path in _pretrained_checkpoints(cfg.get('model', {})):
        if not str(path).startswith(('http://', 'https://')) and not osp.isfile(path):
            raise SystemExit(
                f'Pretrained checkpoint not found: {path} (model init_cfg). Download it '
                f'(docs/model_zoo.md names the file each config expects) and put it '
                f'there, or pass its location: --cfg-options '
                f'model.backbone.init_cfg.checkpoint=/path/to/file.pth; to train from '
                f'scratch: --cfg-options model.backbone.init_cfg=None, and for a V1 '
                f'backbone model.backbone.layer_scale_init_value=1e-6 (its from-scratch '
                f'start; the configs\' 1.0 is for fine-tuning).')


def from_scratch_layer_scale_problem(cfg: Config) -> Optional[str]:
    """A V1 ConvNeXt trained from scratch with the fine-tuning layer scale, or None.

    The published det/seg configs write ``layer_scale_init_value=1.0`` because the
    pretrained ``gamma`` replaces it. With nothing to load, every block starts at full
    residual strength instead of V1's from-scratch 1e-6; the segmentation demo trained that
    way never learned one of its classes on 2 of 3 training seeds (issue 13).
    """
    from convnext_backbone import resolve_arch
    model, backbone = _model_and_backbone(cfg)
    if 'ConvNeXtBackbone' not in str(backbone.get('type', '')) or cfg.get('load_from'):
        return None
    if next(_pretrained_checkpoints(model), None) or model.get('pretrained'):
        return None
    value = backbone.get('layer_scale_init_value')
    if resolve_arch(backbone.get('arch', 'tiny'))[2] or value is None or value < 1e-2:
        return None
    return (f'layer_scale_init_value={value} with no pretrained weights to load: the '
            f'published configs use it because a pretrained gamma replaces it, but trained '
            f'from scratch the blocks start at full strength (V1 starts them at 1e-6), which '
            f'made some training seeds never learn a class. Fix: --cfg-options '
            f'model.backbone.layer_scale_init_value=1e-6, or give the backbone an init_cfg '
            f'with a pretrained checkpoint.')


def adapt_amp_to_device(cfg: Config) -> None:
    """Mixed precision needs a GPU in mmengine; on a CPU-only machine run in fp32, loudly."""
    wrapper = cfg.get('optim_wrapper')
    if wrapper and wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        wrapper['type'] = 'OptimWrapper'
        wrapper.pop('loss_scale', None)
        wrapper.pop('dtype', None)
        print_log('No CUDA device: AmpOptimWrapper (mixed precision) replaced by OptimWrapper '
                  '(fp32). Published numbers were trained with AMP on GPUs.',
                  logger='current', level=30)


def slurm_environment() -> None:
    """Set torch's rendezvous variables from slurm's, as mmengine's slurm launcher does."""
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')
               if k not in os.environ]
    if missing:
        raise SystemExit(f'--launcher slurm: {", ".join(missing)} not set; start the tool '
                         'with srun (tools/slurm_train.sh shows how) or use torchrun')
    if 'MASTER_ADDR' not in os.environ:
        import subprocess
        nodes = os.environ['SLURM_NODELIST']
        try:
            first = subprocess.run(['scontrol', 'show', 'hostnames', nodes],
                                   capture_output=True, text=True)
        except FileNotFoundError:
            first = None
        if first is None or first.returncode != 0 or not first.stdout.strip():
            raise SystemExit(f'--launcher slurm: scontrol could not name the first node of '
                             f'{nodes!r}; set MASTER_ADDR to it')
        os.environ['MASTER_ADDR'] = first.stdout.split()[0]
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))


def prepare_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` and ``slurm`` run on CPU-only machines (gloo), for tests
    and debugging.

    mmengine 0.10.7's launchers call ``torch.cuda.set_device`` and wraps the model
    in DDP with ``device_ids``, both of which fail without CUDA. Initialising the gloo
    process group here (mmengine then skips its own init) and clearing ``device_ids``
    keeps the run on torch.distributed and mmengine's DDP wrapper. FSDP configs
    (``FSDPStrategy``, ours ``ResumableFSDPStrategy``) get the CPU as FSDP's device and
    full state dicts not offloaded to the CPU they are already on (torch 2.13 crashes
    copying them there: a segmentation fault in the state-dict hook).
    """
    if cfg.get('launcher', 'none') not in ('pytorch', 'slurm') or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if not dist.is_initialized():
        if cfg.launcher == 'slurm':
            slurm_environment()
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if uses_fsdp(cfg):
        strategy = cfg.strategy
        strategy.setdefault('model_wrapper', {})['device_id'] = torch.device('cpu')
        if strategy.get('state_dict_cfg') == 'full':
            strategy['state_dict_cfg'] = dict(
                state_dict_type='FULL_STATE_DICT',
                state_dict_config=dict(type='FullStateDictConfig', rank0_only=True,
                                       offload_to_cpu=False),
                optim_state_dict_config=dict(type='FullOptimStateDictConfig',
                                             rank0_only=True, offload_to_cpu=False))
        return
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper


def uses_fsdp(cfg: Config) -> bool:
    """Whether the config's runner strategy is FSDP (mmengine's or ours)."""
    return 'FSDPStrategy' in str((cfg.get('strategy') or {}).get('type', ''))


def fsdp_launch_problem(cfg: Config, command: str) -> Optional[str]:
    """An FSDP config started without a distributed launcher, or None: FSDP shards over
    processes, so one process has nothing to shard over."""
    if not uses_fsdp(cfg) or cfg.get('launcher', 'none') != 'none':
        return None
    return (f'{command}: this config trains with FSDP (strategy {cfg.strategy.type}), which '
            f'needs a distributed launch. Run it with tools/dist_train.sh CONFIG NUM_GPUS '
            f'(or tools/slurm_train.sh), or --launcher pytorch under torchrun.')


def layer_decay_problem(cfg: Config) -> Optional[str]:
    """mmdet's / mmseg's own layer-decay constructor with a ``num_layers`` too small for the
    backbone's depths, or None.

    Theirs puts block j of stage 2 at layer ``3 + j // 3`` whatever ``num_layers`` says and
    scales the lr by ``decay_rate ** (num_layers + 1 - id)``: on S/B/L (27 blocks) with
    ``num_layers=6`` the ids reach 11, an lr x decay^-4, silently.
    """
    from convnext_backbone import resolve_arch
    optim = cfg.get('optim_wrapper') or {}
    constructor = str(optim.get('constructor', ''))
    backbone = _model_and_backbone(cfg)[1]
    if not constructor.endswith('.LearningRateDecayOptimizerConstructor') and \
            constructor != 'LearningRateDecayOptimizerConstructor':
        return None
    if 'ConvNeXtBackbone' not in str(backbone.get('type', '')):
        return None
    paramwise = optim.get('paramwise_cfg') or {}
    if paramwise.get('decay_type', 'layer_wise') != 'layer_wise':
        return None
    depths = resolve_arch(backbone.get('arch', 'tiny'))[0]
    num_layers = paramwise.get('num_layers')
    highest = 3 + (depths[2] - 1) // 3
    if num_layers is None or highest <= num_layers:
        return None
    rate = paramwise.get('decay_rate', 1.0)
    return (f'{constructor} with num_layers={num_layers} puts the stage-2 blocks of this '
            f'backbone (depths {depths}) at layer ids up to {highest}: their lr is multiplied '
            f'by up to decay_rate^{num_layers - highest} = {rate ** (num_layers - highest):.3g}'
            f' instead of decaying. Fix: paramwise_cfg num_layers={3 + math.ceil(depths[2] / 3)}'
            f', or constructor=\'ConvNeXtLayerDecayOptimizerConstructor\' (infers it from the '
            f'depths).')
