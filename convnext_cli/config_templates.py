"""The configs ``tools/make_config.py`` writes: one template per task, filled from a plan.

Each template is the whole written file; ``{name}`` fields come from
:class:`convnext_cli.make_config.Plan` (``{name!r}`` where the value is written as a Python
literal). The optional validation block has its own small template.
"""

HEADER = '''\
# Fine-tuning config written by tools/make_config.py on {date}:
#   {command}
# Everything not set here is the recipe of {base}. Paths are as given to the
# tool (relative ones: to the folder tools/train.py is run from).
_base_ = {base_relative!r}
'''

PRETRAINED = {
    True: '''\
# Pretrained backbone (--checkpoint; any layout the loader reads).
pretrained = {pretrained!r}''',
    False: '''\
# Pretrained backbone: the recipe's file (pass --checkpoint for another).
pretrained = {pretrained!r}''',
}

BATCH = '''\
# Batch: {gpus} GPU(s) x {batch_size} images = {total_batch}. The recipe's lr {lr:g} is for batch {base_batch};
# mmengine scales it by the real total batch at start (here x{total_batch}/{base_batch} = {scaled_lr:.3g}).
auto_scale_lr = dict(enable=True, base_batch_size={base_batch})'''

NO_VALIDATION = '''\
# No validation set ({no_val_reason}): no evaluation during training.
val_dataloader = val_cfg = val_evaluator = None
test_dataloader = test_cfg = test_evaluator = None'''

DETECTION = HEADER + '''
# Classes: the {num_classes} categories of {train_ann}, in the order of its
# "categories" list, which is how mmdet's CocoDataset numbers them (category id -> label):
# {id_list}.
classes = {classes!r}
metainfo = dict(classes=classes)
num_classes = len(classes)

{pretrained_block}
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
{heads})

# Data: the training set (checked by tools/make_config.py before writing).
train_dataloader = dict(
    batch_size={batch_size},  # per GPU (--batch-size)
    dataset=dict(
        data_root='',
        metainfo=metainfo,
        ann_file={train_ann!r},
        data_prefix=dict(img={train_images!r})))
{validation_block}

{batch_block}

{schedule_note}
train_cfg = dict(max_epochs={length}{val_interval})
param_scheduler = {schedulers}
default_hooks = dict(checkpoint=dict(interval={interval}, max_keep_ckpts=3))
'''

DETECTION_VALIDATION = '''\
val_dataloader = dict(
    dataset=dict(
        data_root='',
        metainfo=metainfo,
        ann_file={val_ann!r},
        data_prefix=dict(img={val_images!r})))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={val_ann!r})
test_evaluator = val_evaluator'''

SEGMENTATION = HEADER + '''
# Classes: --classes; label value {label_mapping} -> class index, 255 is ignored.
classes = {classes!r}
metainfo = dict(classes=classes)
num_classes = len(classes)

{pretrained_block}
{model_block}

# Data: {data_root} in the ADE20K layout (checked by tools/make_config.py).
dataset = dict(type='BaseSegDataset', data_root={data_root!r}, metainfo=metainfo,
               img_suffix={img_suffix!r}, seg_map_suffix={seg_map_suffix!r}, reduce_zero_label={reduce_zero_label})
train_dataloader = dict(
    batch_size={batch_size},  # per GPU (--batch-size)
    dataset=dict(**dataset, data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=[dict(t, reduce_zero_label={reduce_zero_label}) if t['type'] == 'LoadAnnotations' else t
                           for t in _base_.train_dataloader.dataset.pipeline]))
{validation_block}

{batch_block}

{schedule_note}
train_cfg = dict(type='IterBasedTrainLoop', max_iters={length}{val_interval})
param_scheduler = {schedulers}
default_hooks = dict(checkpoint=dict(by_epoch=False, interval={interval}, max_keep_ckpts=3))
'''

SEGMENTATION_VALIDATION = '''\
val_dataloader = dict(
    dataset=dict(**dataset, data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=[dict(t, reduce_zero_label={reduce_zero_label}) if t['type'] == 'LoadAnnotations' else t
                           for t in _base_.val_dataloader.dataset.pipeline]))
test_dataloader = val_dataloader'''

SEGMENTATION_MODEL = {
    False: '''\
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
{heads})''',
    True: '''\
model = dict(module=dict(
        backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
{heads}))''',
}

# Recipes that count iterations (Mask2Former's COCO ones): the same file, with the length,
# validation and checkpoint intervals in iterations and the recipe's end-of-training
# validation intervals (its last 3750 of 368750 iterations) dropped.
DETECTION_ITERS = DETECTION.replace(
    'train_cfg = dict(max_epochs={length}{val_interval})',
    'train_cfg = dict(max_iters={length}{val_interval}, dynamic_intervals=None)').replace(
    'checkpoint=dict(interval={interval}, max_keep_ckpts=3)',
    'checkpoint=dict(by_epoch=False, interval={interval}, max_keep_ckpts=3)')
assert DETECTION_ITERS.count('max_iters') == 1 and 'by_epoch=False' in DETECTION_ITERS

TEMPLATES = {'detection': (DETECTION, DETECTION_VALIDATION),
             'detection_iters': (DETECTION_ITERS, DETECTION_VALIDATION),
             'segmentation': (SEGMENTATION, SEGMENTATION_VALIDATION)}
