# DeepLabV3+, ConvNeXt-T at output stride 16 (ImageNet-1k pretraining), ADE20K, 512x512
# crops, 160k iterations. Derived recipe, no published result: _base_/deeplabv3plus_convnext.py.
# Drop path 0.4: the UperNet ConvNeXt-T recipe's.
_base_ = ['./_base_/deeplabv3plus_convnext.py', './_base_/backbones/convnext_t.py']

pretrained = 'checkpoints/convnext_tiny_1k_224.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, output_stride=16, drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=_base_.convnext_channels[3],  # ASPP on the last stage
                     c1_in_channels=_base_.convnext_channels[0]),  # skip from stage 0
    auxiliary_head=dict(in_channels=_base_.convnext_channels[2]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=6), optimizer=dict(lr=1e-4))
