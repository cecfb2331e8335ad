# UperNet, ConvNeXt-B (ImageNet-1k pretraining), ADE20K, 512x512 crops, 160k iterations,
# single-scale sliding-window test; multi-scale + flip: upernet_convnext_b_ms.py.
# Recipe: _base_/upernet_convnext.py; published values: configs/metafile.yml.
_base_ = ['./_base_/upernet_convnext_512.py', './_base_/backbones/convnext_b.py']

# The file the official segmentation README (semantic_segmentation/README.md) starts from;
# its URL and source: configs/metafile.yml.
pretrained = 'checkpoints/convnext_base_1k_224.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=_base_.convnext_channels),
    auxiliary_head=dict(in_channels=_base_.convnext_channels[2]))  # stage 2 (stride 16)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12), optimizer=dict(lr=1e-4))
