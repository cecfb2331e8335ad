# UperNet, ConvNeXt V2-A (FCMAE ImageNet-1k pre-training), ADE20K, 512x512 crops, 160k
# iterations, single-scale sliding-window test. Recipe and its sources:
# _base_/upernet_convnextv2.py (stage-wise lr decay 0.9 from this size's real depths);
# no published result.
# Drop path 0.1: no detection or segmentation result is published for V2-A; 0.1 is what the
# official V2 ImageNet fine-tuning of the smallest size (V2-A) uses (ConvNeXt-V2 TRAINING.md).
_base_ = ['./_base_/upernet_convnextv2.py', './_base_/backbones/convnextv2_a.py']

# The official FCMAE pre-trained file (pt_only/); its URL: configs/metafile.yml.
pretrained = 'checkpoints/convnextv2_atto_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=_base_.convnext_channels),
    auxiliary_head=dict(in_channels=_base_.convnext_channels[2]))  # stage 2 (stride 16)
