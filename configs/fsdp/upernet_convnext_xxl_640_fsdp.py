# UperNet + ConvNeXt-XXL (846 M parameters in the backbone), ADE20K 640x640, with FSDP.
# No published segmentation recipe or result exists for XXL: this is the XL recipe
# (configs/upernet_convnext_xl_640.py: its drop path and lr below) with the XXL backbone;
# tests/test_fsdp.py checks that nothing else differs.
_base_ = ['../_base_/upernet_convnext_640.py', '../_base_/backbones/convnext_xxl.py',
          '../_base_/fsdp.py']

# timm's convnext_xxlarge.clip_laion2b_soup_ft_in1k; OpenCLIP's own file loads too.
pretrained = 'checkpoints/convnext_xxlarge.clip_laion2b_soup_ft_in1k.safetensors'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=_base_.convnext_channels),
    auxiliary_head=dict(in_channels=_base_.convnext_channels[2]))  # stage 2 (stride 16)
# num_layers 3 + 30 / 3, as XL's 12 for 27 blocks.
optim_wrapper = dict(paramwise_cfg=dict(num_layers=13), optimizer=dict(lr=8e-5))
