# Cascade Mask R-CNN + FPN, ConvNeXt-T (ImageNet-1k), COCO 2017, 3x multi-scale + crop.
# Heads: 4conv1fc box heads with SyncBN and GIoU loss, as officially.
# Paper (Liu et al. 2022, Table 3): 50.4 box AP / 43.7 mask AP.
#
# Batch: 16 images per step = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8); on another total
# batch B use lr = 2e-4 * B / 16 (or --auto-scale-lr). SyncBN needs a distributed run;
# on one device pass --cfg-options with norm_cfg type BN for the box heads.
# Pretrained weights: https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/convnext_det_3x_recipe.py',
]
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

pretrained = 'checkpoints/convnext_tiny_1k_224_ema.pth'
# Per-stage box-regression target stds of the three cascade stages.
cascade_target_stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                       [0.033, 0.033, 0.067, 0.067]]
model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]),
    roi_head=dict(bbox_head=[
        dict(type='ConvFCBBoxHead',
             num_shared_convs=4, num_shared_fcs=1, in_channels=256, conv_out_channels=256,
             fc_out_channels=1024, roi_feat_size=7, num_classes=80,
             bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                             target_stds=stds),
             reg_class_agnostic=False,
             reg_decoded_bbox=True,  # GIoU is computed on decoded boxes
             norm_cfg=dict(type='SyncBN', requires_grad=True),
             loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
             loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        for stds in cascade_target_stds
    ]))

train_dataloader = dict(batch_size=2, dataset=dict(pipeline={{_base_.ms_crop_train_pipeline}}))
auto_scale_lr = dict(enable=False, base_batch_size=16)
train_cfg = dict(max_epochs=36)
param_scheduler = {{_base_.schedule_3x}}

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=6),
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999),
                   weight_decay=0.05))
