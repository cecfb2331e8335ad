# DeepLabV3+ with a dilated ConvNeXt on ADE20K, 512x512 crops, 160k iterations. No
# DeepLabV3+ ConvNeXt result is published; this recipe is derived (docs/model_zoo.md):
# - from mmseg's ResNet recipe (deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py): the
#   depthwise-separable ASPP head on the last stage, 48-channel skip from stage 0, FCN
#   auxiliary head on stage 2 (weight 0.4), SyncBN, 16 images per step, whole-image test;
# - with the UperNet ConvNeXt recipe's optimizer (_base_/upernet_convnext.py): AdamW
#   lr 1e-4, weight decay 0.05, stage-wise lr decay 0.9, 1500-iteration warm-up then poly,
#   mixed precision. SGD lr 0.01 is ResNet's; ConvNeXt was fine-tuned with AdamW throughout.
# Output stride 16 (leaves may set 8): ASPP rates 6/12/18, the DeepLabV3+ paper's for
# stride 16 (the ResNet d8 recipe's 12/24/36 are for stride 8).
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py']
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        out_indices=(0, 1, 2, 3),
        output_stride=16,
        layer_scale_init_value=1.0),
    decode_head=dict(dilations=(1, 6, 12, 18)))

auto_scale_lr = dict(enable=False, base_batch_size=16)
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    loss_scale='dynamic',
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise'),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]
