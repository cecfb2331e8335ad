# Data: python tools/make_demo_data.py coco data/timing_coco_800x1333 \
#           --num-train 8 --num-val 1 --size 800 1333
# Run:  python tools/train.py benchmarks/configs/maskrcnn_convnext_t_cpu_timing.py
# The real configs/maskrcnn_convnext_t.py, timed on this CPU: generated COCO-format images
# at 1333x800, batch 1, a fixed 1333x800 resize instead of the random multi-scale + crop,
# no pretrained file (random init), no validation.
_base_ = '../../configs/maskrcnn_convnext_t.py'
data_root = 'data/timing_coco_800x1333/'
model = dict(backbone=dict(init_cfg=None))
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'),
                 metainfo=dict(classes=('circle', 'box', 'triangle', 'cross')),
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                           dict(type='Resize', scale=(1333, 800), keep_ratio=True),
                           dict(type='PackDetInputs')]))
train_cfg = dict(max_epochs=1, val_interval=100)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=100))
