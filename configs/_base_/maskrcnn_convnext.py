# Mask R-CNN + FPN with a ConvNeXt backbone on COCO 2017, 1x single-scale (12 epochs): the
# official recipe without the size. Leaves add a size fragment (_base_/backbones/) and say
# the arch, drop path, pretrained file and lr (published values: configs/metafile.yml).
#
# Batch: 16 images per step = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8). On another total
# batch B, scale the lr linearly: lr = base lr * B / 16 (or pass --auto-scale-lr, which uses
# auto_scale_lr.base_batch_size = 16).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)
# mmdet's 1x pieces under their own names, for leaves that override them (the 3x recipe)
# and for the 1x leaf that restores them.
single_scale_train_pipeline = {{_base_.train_pipeline}}
schedule_1x = {{_base_.param_scheduler}}

model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        out_indices=(0, 1, 2, 3),
        layer_scale_init_value=1.0))

train_dataloader = dict(batch_size=2)  # per GPU
auto_scale_lr = dict(enable=False, base_batch_size=16)

optim_wrapper = dict(
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_type='layer_wise'),
    optimizer=dict(_delete_=True, type='AdamW', betas=(0.9, 0.999), weight_decay=0.05))
