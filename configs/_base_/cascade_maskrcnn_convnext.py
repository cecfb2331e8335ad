# Cascade Mask R-CNN + FPN with a ConvNeXt backbone on COCO 2017, 3x multi-scale with the
# DETR-style crop: the official recipe without the size. Box heads: 4conv1fc with SyncBN
# and GIoU loss, as officially. Leaves add a size fragment (_base_/backbones/) and say the
# arch, drop path, pretrained file, lr and lr decay (published values: configs/metafile.yml).
#
# Batch: 16 images per step = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8); on another total
# batch B use lr = base lr * B / 16 (or --auto-scale-lr). SyncBN needs a distributed run;
# on one device pass --cfg-options with norm_cfg type BN for the box heads.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './convnext_det_3x_recipe.py',
]
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

# Per-stage box-regression target stds of the three cascade stages.
cascade_target_stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                       [0.033, 0.033, 0.067, 0.067]]
model = dict(
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        out_indices=(0, 1, 2, 3),
        layer_scale_init_value=1.0),
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
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_type='layer_wise'),
    optimizer=dict(_delete_=True, type='AdamW', betas=(0.9, 0.999), weight_decay=0.05))
