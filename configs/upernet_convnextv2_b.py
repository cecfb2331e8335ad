# UperNet, ConvNeXt V2-B (FCMAE ImageNet-1k pre-training), ADE20K, 512x512 crops, 160k
# iterations, single-scale sliding-window test. Recipe and its sources:
# _base_/upernet_convnextv2.py (stage-wise lr decay 0.9 from this size's real depths);
# published values: configs/metafile.yml.
_base_ = ['./_base_/upernet_convnextv2.py', './_base_/backbones/convnextv2_b.py']

# The official FCMAE pre-trained file (pt_only/); its URL: configs/metafile.yml.
pretrained = 'checkpoints/convnextv2_base_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch=_base_.convnext_arch,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=_base_.convnext_channels),
    auxiliary_head=dict(in_channels=_base_.convnext_channels[2]))  # stage 2 (stride 16)
