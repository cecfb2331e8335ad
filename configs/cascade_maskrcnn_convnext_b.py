# Cascade Mask R-CNN + FPN, ConvNeXt-base, COCO 2017, 3x multi-scale + crop; the rest as in
# cascade_maskrcnn_convnext_t.py. Paper (Table 3): 52.7 box AP / 45.6 mask AP.
# Batch 16 = 8 GPUs x 2; on another total batch B use lr = 2e-4 * B / 16.
# Pretrained weights: https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224_ema.pth
_base_ = './cascade_maskrcnn_convnext_t.py'

pretrained = 'checkpoints/convnext_base_1k_224_ema.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.7,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12),
    optimizer=dict(lr=2e-4))
