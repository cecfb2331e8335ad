# Cascade Mask R-CNN + ConvNeXt-XXL (846 M parameters in the backbone), COCO, with FSDP.
# No published detection recipe or result exists for XXL: this is the XL recipe
# (configs/cascade_maskrcnn_convnext_xl.py: its drop path, layer decay and lr below) with
# the XXL backbone; tests/test_fsdp.py checks that nothing else differs.
_base_ = ['../_base_/cascade_maskrcnn_convnext.py', '../_base_/backbones/convnext_xxl.py',
          '../_base_/fsdp.py']

# timm's convnext_xxlarge.clip_laion2b_soup_ft_in1k (OpenCLIP's tower, fine-tuned on
# ImageNet-1k); OpenCLIP's own file (visual.trunk.*) loads too (docs/checkpoints.md).
pretrained = 'checkpoints/convnext_xxlarge.clip_laion2b_soup_ft_in1k.safetensors'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.8,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=_base_.convnext_channels))
# num_layers 3 + 30 / 3: stage 2's 30 blocks in groups of three, as XL's 12 for 27.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7, num_layers=13),
                     optimizer=dict(lr=1e-4))
