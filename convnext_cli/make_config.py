"""Write a fine-tuning config for your own data that inherits one of ours, after checking the data.

    # detection / instance segmentation (Mask R-CNN, Cascade Mask R-CNN): COCO-format files
    python tools/make_config.py configs/maskrcnn_convnext_t.py --out configs/mine/mine.py \\
        --train-ann TRAIN.json --train-images TRAIN_DIR [--val-ann VAL.json --val-images DIR] \\
        [--checkpoint BACKBONE.pth] [--gpus 1] [--batch-size 2] [--epochs N]
    # semantic segmentation (UperNet): ROOT/{images,annotations}/{training,validation}
    python tools/make_config.py configs/upernet_convnext_t.py --out configs/mine/seg.py \\
        --data-root ROOT --classes sky road car [--reduce-zero-label] [--iters N]

Every ``num_classes`` of the model, ``metainfo``, the dataloader and evaluator paths, the
batch size with the lr scaling (``auto_scale_lr``) and the schedule (sized to the dataset;
the reasoning is written beside it) are set; the rest is the base recipe. The data are
checked first (missing or unreadable images, sizes, boxes outside images, degenerate
polygons, unused categories, label values outside the classes, validation images that are
also training images): errors stop the command, warnings are printed.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import shlex
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from .arguments import inner_model, read_config
from .config_templates import (
    BATCH,
    NO_VALIDATION,
    PRETRAINED,
    SEGMENTATION_MODEL,
    TEMPLATES,
)
from .data_checks import Report, check_coco, check_overlap, check_segmentation

# Base recipes' datasets, for stating how a schedule compares with the published one.
COCO_TRAIN_IMAGES = 117_266  # train2017 images with annotations (mmdet's filter_empty_gt)
ADE_TRAIN_IMAGES = 20_210
MIN_UPDATES = 10_000  # detection: at least this many optimizer steps on a small set
MAX_EPOCHS = 100
MIN_ITERS = 4_000  # segmentation


def num_classes_paths(node, path=()) -> List[Tuple[str, ...]]:
    """Paths (keys and list indices) of every head that counts classes in a model config:
    ``num_classes``, or ``num_things_classes`` (Mask2Former's heads: things + stuff)."""
    found = []
    if isinstance(node, dict):
        if 'num_classes' in node or 'num_things_classes' in node:
            found.append(path)
        for key, value in node.items():
            found += num_classes_paths(value, path + (key,))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += num_classes_paths(value, path + (i,))
    return found


def class_weight_of(head: dict) -> Optional[list]:
    """A head's per-class loss weights with the no-object weight last (Mask2Former's
    ``loss_cls.class_weight``: ``num_classes + 1`` entries), or None."""
    weights = (head.get('loss_cls') or {}).get('class_weight')
    count = head.get('num_classes', head.get('num_things_classes', -2) + head.get(
        'num_stuff_classes', 0))
    if isinstance(weights, (list, tuple)) and len(weights) == count + 1:
        return list(weights)
    return None


def render_heads(paths: List[Tuple], base_prefix: str, indent: int = 4,
                 base_model: Optional[dict] = None) -> str:
    """``model = dict(...)`` text that sets ``num_classes`` at ``paths``.

    A list of heads (Cascade's three box heads) is rewritten from the base's own list,
    so its other settings stay inherited. A head with per-class loss weights (Mask2Former)
    gets them resized: 1.0 per class and the base's no-object weight.
    """
    tree: Dict = {}
    for path in paths:
        list_at = next((i for i, key in enumerate(path) if isinstance(key, int)), None)
        if list_at is None:
            node = tree
            base_node = base_model or {}
            for key in path:
                node = node.setdefault(key, {})
                base_node = base_node.get(key, {})
            node['num_things_classes' if 'num_things_classes' in base_node
                 else 'num_classes'] = None
            weights = class_weight_of(base_node)
            if weights is not None:
                node['loss_cls'] = {'class_weight': weights[-1]}
        else:
            node = tree
            for key in path[:list_at - 1]:
                node = node.setdefault(key, {})
            node[path[list_at - 1]] = ('list', '.'.join(map(str, path[:list_at])))

    def text(node, depth):
        pad = ' ' * (indent * depth)
        items = []
        for key, value in node.items():
            if value is None and key == 'num_things_classes':  # every class a thing
                items.append(f'{pad}num_things_classes=num_classes,\n{pad}num_stuff_classes=0')
            elif value is None:
                items.append(f'{pad}{key}=num_classes')
            elif key == 'loss_cls':
                items.append(f'{pad}loss_cls=dict(class_weight=[1.0] * num_classes + '
                             f'[{value["class_weight"]}])')
            elif isinstance(value, tuple):
                items.append(f'{pad}{key}=[dict(head, num_classes=num_classes)\n{pad}'
                             f'{" " * (len(key) + 2)}for head in {base_prefix}.{value[1]}]')
            elif list(value.items()) == [('num_classes', None)]:
                items.append(f'{pad}{key}=dict(num_classes=num_classes)')
            else:
                items.append(f'{pad}{key}=dict(\n{text(value, depth + 1)})')
        return ',\n'.join(items)

    return text(tree, 1)


def _epochs_for(num_images: int, total_batch: int, base_epochs: int, epochs: Optional[int],
                recipe: str) -> Tuple[int, int, str]:
    """Epochs for ``num_images`` at ``total_batch`` (``--epochs``, or at least the recipe's
    ``base_epochs`` and ``MIN_UPDATES`` updates, capped at ``MAX_EPOCHS``), iterations per
    epoch, and the reasoning as a comment; ``recipe`` says what the recipe trains."""
    per_epoch = math.ceil(num_images / total_batch)
    if epochs:
        return epochs, per_epoch, (f'# {epochs} epochs (--epochs) = {epochs * per_epoch} '
                                   f'iterations.')
    chosen = min(MAX_EPOCHS, max(base_epochs, math.ceil(MIN_UPDATES / per_epoch)))
    why = (f'# Schedule: {num_images} training images / batch {total_batch} = {per_epoch} '
           f'iterations per epoch.\n# The recipe trains {recipe}; a smaller set gets at least '
           f'the recipe\'s epochs and at least {MIN_UPDATES} updates, capped at {MAX_EPOCHS} '
           f'epochs: {chosen} epochs = {chosen * per_epoch} iterations. The lr steps keep '
           f'the recipe\'s proportions.')
    return chosen, per_epoch, why


def detection_schedule(base: Config, num_images: int, total_batch: int,
                       epochs: Optional[int]) -> Tuple[int, str]:
    """Epochs for ``num_images`` at ``total_batch``, and the reasoning as a comment."""
    base_epochs = base.train_cfg.max_epochs
    chosen, _, why = _epochs_for(
        num_images, total_batch, base_epochs, epochs,
        f'{base_epochs} epochs on COCO ({COCO_TRAIN_IMAGES} images, '
        f'{math.ceil(COCO_TRAIN_IMAGES / 16) * base_epochs} iterations at batch 16)')
    return chosen, why


def detection_iteration_schedule(base: Config, num_images: int, total_batch: int,
                                 epochs: Optional[int]) -> Tuple[int, str]:
    """For recipes that count iterations (Mask2Former COCO): iterations for
    ``num_images`` at ``total_batch``, chosen in epochs as :func:`detection_schedule` does,
    and the reasoning as a comment."""
    base_iters = base.train_cfg.max_iters
    base_epochs = round(base_iters * 16 / COCO_TRAIN_IMAGES)
    chosen, per_epoch, why = _epochs_for(
        num_images, total_batch, base_epochs, epochs,
        f'{base_iters} iterations at batch 16 on COCO ({COCO_TRAIN_IMAGES} images): '
        f'{base_epochs} epochs')
    return chosen * per_epoch, why


def segmentation_schedule(base: Config, num_images: int, total_batch: int,
                          iters: Optional[int]) -> Tuple[int, str]:
    base_iters = base.train_cfg.max_iters
    if iters:
        return iters, f'# {iters} iterations (--iters).'
    recipe_epochs = base_iters * 16 / ADE_TRAIN_IMAGES
    chosen = int(min(base_iters, max(MIN_ITERS, round(recipe_epochs * num_images
                                                       / total_batch))))
    why = (f'# Schedule: the recipe makes {base_iters} iterations at batch 16 on ADE20K '
           f'({ADE_TRAIN_IMAGES} images), {recipe_epochs:.0f} passes over the data. The same '
           f'passes over {num_images} images at batch {total_batch}, within [{MIN_ITERS}, '
           f'{base_iters}]: {chosen} iterations.')
    return chosen, why


def rescale_schedulers(base: Config, length: int, by_epoch_length: bool,
                       iters_per_epoch: int) -> List[dict]:
    """The base's lr schedulers stretched to ``length`` (epochs, or iterations)."""
    base_length = base.train_cfg.max_epochs if by_epoch_length else base.train_cfg.max_iters
    total_iters = length * iters_per_epoch if by_epoch_length else length
    out = []
    schedulers = base.param_scheduler
    for scheduler in [schedulers] if isinstance(schedulers, dict) else schedulers:
        s = dict(scheduler)
        if not s.get('by_epoch', True) and by_epoch_length:  # warm-up, in iterations
            s['end'] = min(s['end'], max(1, total_iters // 10))
        elif s['type'] == 'LinearLR' and not by_epoch_length:
            s['end'] = min(s['end'], max(1, length // 10))
        else:
            scale = length / base_length
            if 'milestones' in s:
                s['milestones'] = [max(1, round(m * scale)) for m in s['milestones']]
            s['begin'] = round(s.get('begin', 0) * scale) if s.get('begin', 0) and \
                s['type'] != 'PolyLR' else s.get('begin', 0)
            s['end'] = length
        out.append(s)
    if not by_epoch_length:  # poly decay starts where the warm-up ends
        warm = [s for s in out if s['type'] == 'LinearLR']
        for s in out:
            if s['type'] == 'PolyLR' and warm:
                s['begin'] = warm[0]['end']
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('base', help='one of our configs (configs/*.py) to inherit from')
    parser.add_argument('--out', required=True, help='the config to write (.py)')
    det = parser.add_argument_group('detection / instance segmentation (COCO format)')
    det.add_argument('--train-ann', help='COCO instance annotation file of the training set')
    det.add_argument('--train-images', help='folder the training file_names are in')
    det.add_argument('--val-ann', help='annotation file of the validation set (optional)')
    det.add_argument('--val-images', help='folder of the validation images')
    seg = parser.add_argument_group('semantic segmentation (ADE20K layout)')
    seg.add_argument('--data-root', help='folder with images/ and annotations/, each with '
                                         'training/ (and validation/)')
    seg.add_argument('--classes', nargs='+', help='class names, in label-value order')
    seg.add_argument('--reduce-zero-label', action='store_true',
                     help='label value 0 means "unlabelled" (ignored) and 1..K are the '
                          'classes, as in ADE20K')
    seg.add_argument('--img-suffix', default='.jpg')
    seg.add_argument('--seg-map-suffix', default='.png')
    parser.add_argument('--checkpoint',
                        help='pretrained backbone weights, any layout the loader reads '
                             '(default: the base config\'s file)')
    parser.add_argument('--gpus', type=int, default=1, help='GPUs the run will use')
    parser.add_argument('--batch-size', type=int, default=2, help='images per GPU')
    parser.add_argument('--epochs', type=int, help='detection: override the schedule')
    parser.add_argument('--iters', type=int, help='segmentation: override the schedule')
    parser.add_argument('--allow-overlap', action='store_true',
                        help='accept validation images that are also training images')
    parser.add_argument('--headers-only', action='store_true',
                        help='check image headers only (faster; misses truncated files)')
    args = parser.parse_args(argv)
    for name in ('gpus', 'batch_size', 'epochs', 'iters'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    return args


class ReadBackError(RuntimeError):
    """The written config, read back by mmengine, does not say what was planned."""


@dataclass
class Plan:
    """Everything the written config sets, decided from the arguments, the base recipe and
    the checked data; the template of its task turns it into the file."""
    task: str  # 'detection', 'detection_iters' (counts iterations) or 'segmentation'
    classes: Tuple[str, ...]
    pretrained: str
    batch_size: int
    length: int  # epochs (detection) or iterations (segmentation)
    has_val: bool
    text_fields: Dict[str, object] = field(default_factory=dict)

    def render(self) -> str:
        template, validation = TEMPLATES[self.task]
        values = dict(self.text_fields, classes=self.classes, pretrained=self.pretrained,
                      batch_size=self.batch_size, length=self.length,
                      num_classes=len(self.classes))
        values['pretrained_block'] = PRETRAINED[values.pop('from_checkpoint')].format(**values)
        values['batch_block'] = BATCH.format(**values)
        values['validation_block'] = (validation.format(**values) if self.has_val
                                      else NO_VALIDATION.format(**values))
        if self.task == 'segmentation':
            values['model_block'] = SEGMENTATION_MODEL[values['tta']].format(**values)
        return wrap_comments(template.format(**values))

    def check(self, cfg: Config) -> List[str]:
        """What the read-back config says differently from the plan (empty: all agree)."""
        problems = []
        model = inner_model(cfg)
        plain = model.to_dict() if hasattr(model, 'to_dict') else model
        for keys in num_classes_paths(plain):
            node = model
            for key in keys:
                node = node[key]
            name = ('num_things_classes + num_stuff_classes' if 'num_things_classes' in node
                    else 'num_classes')
            counted = (node['num_things_classes'] + node.get('num_stuff_classes', 0)
                       if 'num_things_classes' in node else node['num_classes'])
            if counted != len(self.classes):
                problems.append(f'model.{".".join(map(str, keys))}.{name} is {counted}, not '
                                f'{len(self.classes)}')
            weights = (node.get('loss_cls') or {}).get('class_weight')
            if isinstance(weights, (list, tuple)) and len(weights) != len(self.classes) + 1:
                problems.append(f'model.{".".join(map(str, keys))}.loss_cls.class_weight has '
                                f'{len(weights)} entries, not {len(self.classes) + 1}')
        if not num_classes_paths(plain):
            problems.append('no head of the model has num_classes')
        loop = cfg.train_cfg.get('max_epochs' if self.task == 'detection' else 'max_iters')
        if self.task == 'detection_iters' and cfg.train_cfg.get('dynamic_intervals'):
            problems.append('train_cfg.dynamic_intervals is still the recipe\'s')
        checks = [('metainfo.classes', tuple(cfg.metainfo['classes']), self.classes),
                  ('pretrained', cfg.get('pretrained'), self.pretrained),
                  ('model.backbone.init_cfg.checkpoint',
                   model.backbone.init_cfg.checkpoint, self.pretrained),
                  ('train_dataloader.batch_size', cfg.train_dataloader.batch_size,
                   self.batch_size),
                  ('train_cfg length', loop, self.length),
                  ('val_dataloader', cfg.get('val_dataloader') is not None, self.has_val)]
        problems += [f'{name} is {got!r}, planned {want!r}'
                     for name, got, want in checks if got != want]
        return problems


def main(argv=None) -> int:
    args = parse_args(argv)
    base = read_config(args.base, 'make_config.py')
    scope = base.get('default_scope')
    command = 'python tools/make_config.py ' + ' '.join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if 'Panoptic' in str(base.get('train_dataloader', {}).get('dataset', {}).get('type')):
        print(f'{args.base} trains on COCO panoptic annotations: make_config writes configs '
              'for COCO instance annotations only. Use the Mask2Former instance base '
              '(configs/mask2former_*_coco.py) or start from the config and set the classes '
              'by hand (tests/test_mask2former.py shows the keys).', file=sys.stderr)
        return 2
    if scope == 'mmdet':
        if not (args.train_ann and args.train_images):
            print(f'{args.base} is a detection config: give --train-ann and --train-images '
                  '(and --val-ann/--val-images).', file=sys.stderr)
            return 2
        if bool(args.val_ann) != bool(args.val_images):
            print('Give both --val-ann and --val-images, or neither.', file=sys.stderr)
            return 2
        plan, report = plan_detection(args, base, command)
    elif scope == 'mmseg':
        if not (args.data_root and args.classes):
            print(f'{args.base} is a segmentation config: give --data-root (ADE20K layout) '
                  'and --classes.', file=sys.stderr)
            return 2
        plan, report = plan_segmentation(args, base, command)
    else:
        print(f'{args.base}: default_scope {scope!r} is neither mmdet nor mmseg; pass one of '
              'the configs in configs/.', file=sys.stderr)
        return 2
    if report.problems:
        print(report.render())
    if report.fatal or plan is None:
        print(f'Not written: {len(report.fatal)} kind(s) of error in the data (above).',
              file=sys.stderr)
        return 1
    out = Path(args.out)
    write_checked(plan, out)
    pretrained = plan.pretrained
    if pretrained and '://' not in pretrained and not Path(pretrained).is_file():
        print(f'Note: the pretrained backbone {pretrained} is not there yet; download it '
              f'before training (docs/checkpoints.md) or pass --checkpoint.')
    print(f'Wrote {out}. Next:\n  python tools/train.py {out}\n  python tools/test.py {out} '
          f'work_dirs/{out.stem}/<checkpoint>.pth')
    return 0


def write_checked(plan: Plan, out: Path) -> Config:
    """Write the plan's config beside ``out``, read it back with mmengine, and move it into
    place only if it says what was planned (else :class:`ReadBackError`; the file is kept as
    ``<out>.rejected`` for a look)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    draft = out.with_name(out.stem + '.draft.py')  # mmengine reads .py files only
    draft.write_text(plan.render())
    try:
        cfg = Config.fromfile(str(draft))
        problems = plan.check(cfg)
    except Exception as err:  # noqa: BLE001 - any failure to read it back is reported
        problems, cfg = [f'mmengine cannot read it: {type(err).__name__}: {err}'], None
    if problems:
        rejected = out.with_name(out.name + '.rejected')
        os.replace(draft, rejected)
        raise ReadBackError(f'make_config: the config written for {out} does not read back '
                            f'as planned ({"; ".join(problems)}); kept as {rejected}. '
                            f'This is a bug of tools/make_config.py: please report it.')
    os.replace(draft, out)
    return cfg


def _common_fields(args, base: Config, command: str, length: int, why: str,
                   schedulers: List[dict], interval: int, has_val: bool) -> Dict[str, object]:
    model = inner_model(base)
    total = args.gpus * args.batch_size
    lr = base.optim_wrapper.optimizer.lr
    base_batch = base.get('auto_scale_lr', {}).get('base_batch_size', 16)
    return dict(
        date=datetime.date.today().isoformat(), command=command, base=args.base,
        base_relative=os.path.relpath(os.path.abspath(args.base),
                                      os.path.dirname(os.path.abspath(args.out))),
        from_checkpoint=bool(args.checkpoint), gpus=args.gpus, total_batch=total, lr=lr,
        base_batch=base_batch, scaled_lr=lr * total / base_batch, schedule_note=why,
        schedulers=_list(schedulers), interval=interval,
        val_interval=f', val_interval={interval}' if has_val else '',
        recipe_checkpoint=(model.backbone.get('init_cfg') or {}).get('checkpoint'))


def plan_detection(args, base: Config, command: str) -> Tuple[Optional[Plan], Report]:
    report = Report()
    decode = not args.headers_only
    train = check_coco(args.train_ann, args.train_images, report, 'train', decode)
    val = check_coco(args.val_ann, args.val_images, report, 'val', decode) \
        if args.val_ann else None
    if train and val:
        check_overlap(train.digests, val.digests, report, fatal=not args.allow_overlap)
        if [c['name'] for c in val.categories] != [c['name'] for c in train.categories]:
            report.add('val-cats', f'train {[c["name"] for c in train.categories]}, val '
                       f'{[c["name"] for c in val.categories]}', 'validation files whose '
                       'categories differ from the training file\'s', 'use the same '
                       '"categories" list (same names, same order) in both files', True)
    if report.fatal or train is None:
        return None, report
    total = args.gpus * args.batch_size
    by_iters = 'max_epochs' not in base.train_cfg  # Mask2Former's COCO recipes
    if by_iters:
        epochs, why = detection_iteration_schedule(base, train.num_images, total, args.epochs)
        schedulers = rescale_schedulers(base, epochs, False, 1)
        interval = max(1, epochs // 10)
    else:
        epochs, why = detection_schedule(base, train.num_images, total, args.epochs)
        schedulers = rescale_schedulers(base, epochs, True, math.ceil(train.num_images / total))
        interval = max(1, math.ceil(epochs / 10))
    fields_ = _common_fields(args, base, command, epochs, why, schedulers, interval,
                             bool(val))
    fields_.update(
        train_ann=args.train_ann, train_images=_dir(args.train_images),
        val_ann=args.val_ann, val_images=args.val_images and _dir(args.val_images),
        no_val_reason='--val-ann',
        id_list=', '.join(f'{c["id"]} -> {i} {c["name"]!r}'
                          for i, c in enumerate(train.categories)),
        heads=render_heads(num_classes_paths(base.model.to_dict()), '_base_.model',
                           base_model=base.model.to_dict()))
    plan = Plan('detection_iters' if by_iters else 'detection',
                tuple(c['name'] for c in train.categories),
                args.checkpoint or fields_['recipe_checkpoint'], args.batch_size, epochs,
                bool(val), fields_)
    return plan, report


def plan_segmentation(args, base: Config, command: str) -> Tuple[Optional[Plan], Report]:
    report = Report()
    root = Path(args.data_root)
    classes = tuple(args.classes)
    kw = dict(num_classes=len(classes), reduce_zero_label=args.reduce_zero_label,
              report=report, img_suffix=args.img_suffix, seg_map_suffix=args.seg_map_suffix,
              decode=not args.headers_only)
    train = check_segmentation(root / 'images/training', root / 'annotations/training',
                               split='training', **kw)
    has_val = (root / 'images/validation').is_dir()
    val = check_segmentation(root / 'images/validation', root / 'annotations/validation',
                             split='validation', **kw) if has_val else None
    if train and val:
        check_overlap(train.digests, val.digests, report, fatal=not args.allow_overlap)
    if train:
        for i, name in enumerate(classes):
            if i not in train.present:
                report.add('unused-training', f'{name!r} (value '
                           f'{i + 1 if args.reduce_zero_label else i})', 'classes that no '
                           'training label map contains', 'check --classes (its order is the '
                           'label values\' order) and --reduce-zero-label', False)
    if report.fatal or train is None:
        return None, report
    tta = base.model.get('type') in ('DetTTAModel', 'SegTTAModel')
    iters, why = segmentation_schedule(base, train.num_images, args.gpus * args.batch_size,
                                       args.iters)
    schedulers = rescale_schedulers(base, iters, False, 1)
    fields_ = _common_fields(args, base, command, iters, why, schedulers,
                             max(1, iters // 10), bool(val))
    fields_.update(
        data_root=args.data_root, img_suffix=args.img_suffix,
        seg_map_suffix=args.seg_map_suffix, reduce_zero_label=args.reduce_zero_label,
        no_val_reason='no images/validation', tta=tta,
        label_mapping=('v - 1 (0 is ignored: --reduce-zero-label)'
                       if args.reduce_zero_label else 'v'),
        heads=render_heads(num_classes_paths(inner_model(base).to_dict()),
                           '_base_.model.module' if tta else '_base_.model',
                           indent=8 if tta else 4, base_model=inner_model(base).to_dict()))
    plan = Plan('segmentation', classes, args.checkpoint or fields_['recipe_checkpoint'],
                args.batch_size, iters, bool(val), fields_)
    return plan, report


def wrap_comments(text: str, width: int = 88) -> str:
    """Wrap the long comment lines of the written config (the code is left as it is)."""
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped.startswith('#') or len(line) <= width:
            out.append(line)
            continue
        indent = line[:len(line) - len(stripped)]
        body = stripped[1:]
        lead = '#' + body[:len(body) - len(body.lstrip())]
        out += textwrap.wrap(body.strip(), width, initial_indent=indent + lead,
                             subsequent_indent=indent + lead + ('    ' if len(lead) > 2
                                                                else ''),
                             break_long_words=False, break_on_hyphens=False)
    return '\n'.join(out) + '\n'


def _dir(path: str) -> str:
    return path if path.endswith('/') else path + '/'


def _list(items: List[dict]) -> str:
    body = ',\n'.join(f'    dict({", ".join(f"{k}={v!r}" for k, v in item.items())})'
                      for item in items)
    return f'[\n{body},\n]'


if __name__ == '__main__':
    sys.exit(main())
