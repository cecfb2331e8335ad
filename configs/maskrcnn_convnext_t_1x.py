# Mask R-CNN + FPN, ConvNeXt-T (ImageNet-1k), COCO 2017, 1x single-scale (12 epochs).
# Paper (Liu et al. 2022, Table 3): 44.2 box AP / 40.1 mask AP.
#
# Batch: 16 images per step = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8). On another
# total batch B, scale the lr linearly: lr = 1e-4 * B / 16 (or pass --auto-scale-lr,
# which uses auto_scale_lr.base_batch_size = 16).
#
# Pretrained weights: the official ImageNet-1k classification checkpoint
# (https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth), saved at the
# path below; timm, torchvision and mmpretrain checkpoints of ConvNeXt-T work as they are.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

pretrained = 'checkpoints/convnext_tiny_1k_224_ema.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))

train_dataloader = dict(batch_size=2)  # per GPU
auto_scale_lr = dict(enable=False, base_batch_size=16)

optim_wrapper = dict(
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=6),
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05))
