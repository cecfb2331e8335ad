# Mask2Former, ConvNeXt V2-L, COCO panoptic segmentation. Derived, no published result
# (docs/model_zoo.md): _base_/mask2former_convnext_coco_panoptic.py with the drop path, lr decay
# and pretrained file of configs/maskrcnn_convnextv2_l.py (tests/test_mask2former.py checks them).
_base_ = ['./_base_/mask2former_convnext_coco_panoptic.py', './_base_/backbones/convnextv2_l.py']

pretrained = 'checkpoints/convnextv2_large_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.4, layer_scale_init_value=0.0,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(in_channels=_base_.convnext_channels))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise'))
