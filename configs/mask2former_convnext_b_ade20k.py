# Mask2Former, ConvNeXt-B, ADE20K semantic segmentation. Derived, no published result
# (docs/model_zoo.md): _base_/mask2former_convnext_ade20k.py with the drop path, lr decay
# and pretrained file of configs/upernet_convnext_b.py (tests/test_mask2former.py checks them).
_base_ = ['./_base_/mask2former_convnext_ade20k.py', './_base_/backbones/convnext_b.py']

pretrained = 'checkpoints/convnext_base_1k_224.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=_base_.convnext_channels))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise'))
